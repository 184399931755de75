//! A real proxy in front of larder: Debian's twemproxy (`nutcracker`, 0.5.0) with
//! `distribution: ketama`, `hash: md5` and `auto_eject_hosts` in front of three
//! `$LARDER_RING_SERVER` nodes (default `memcached`), driven through the proxy by
//! larder-ring's client. Every key must land on the node larder-ring predicts for that
//! twemproxy pool; after a node is killed, twemproxy must eject it and move only its keys,
//! to the nodes larder-ring predicts for the pool without it.
//!
//! Skipped, with a message, when `nutcracker` or the server binary is missing
//! (`scripts/test.sh` installs nutcracker). The pool is the README's `nutcracker.yml`,
//! read from the README itself.

mod common;

use std::io::Read;
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use common::{cluster, free_port, Server};
use larder_ring::{Client, ClientConfig, Compat, Distribution, Hash, NodeSpec, Ring, RingConfig};

const NAMES: [&str; 3] = ["larder-a", "larder-b", "larder-c"];
const KEYS: usize = 300;

fn nutcracker() -> Option<String> {
    let bin = std::env::var("LARDER_RING_NUTCRACKER").unwrap_or_else(|_| "nutcracker".into());
    let found = if bin.contains('/') {
        Path::new(&bin).is_file()
    } else {
        std::env::var_os("PATH")
            .is_some_and(|paths| std::env::split_paths(&paths).any(|p| p.join(&bin).is_file()))
            || Path::new("/usr/sbin").join(&bin).is_file()
    };
    if !found {
        return None;
    }
    if !bin.contains('/') && Path::new("/usr/sbin").join(&bin).is_file() {
        return Some(format!("/usr/sbin/{bin}"));
    }
    Some(bin)
}

/// The README's `nutcracker.yml` for larder, pointed at this test's ports: its listen
/// address becomes `127.0.0.1:<listen>` and its servers `10.0.0.N:11211` the backends.
fn config_yaml(listen: u16, ports: &[u16]) -> String {
    const README: &str = include_str!("../README.md");
    let start = README
        .find("```yaml\nlarder:")
        .expect("README has the pool")
        + 8;
    let len = README[start..].find("```").expect("end of the yaml block");
    let mut yml =
        README[start..start + len].replace("127.0.0.1:22121", &format!("127.0.0.1:{listen}"));
    for (i, port) in ports.iter().enumerate() {
        let from = format!("10.0.0.{}:11211:1 {}", i + 1, NAMES[i]);
        assert!(yml.contains(&from), "README pool lists {from}");
        yml = yml.replace(&from, &format!("127.0.0.1:{port}:1 {}", NAMES[i]));
    }
    yml
}

struct Proxy {
    child: Child,
    port: u16,
    stats_port: u16,
    _dir: TempDir,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn start_proxy(bin: &str, ports: &[u16]) -> Proxy {
    let dir = std::env::temp_dir().join(format!("larder-ring-nc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (port, stats_port) = (free_port(), free_port());
    let conf = dir.join("nutcracker.yml");
    std::fs::write(&conf, config_yaml(port, ports)).unwrap();
    let child = Command::new(bin)
        .arg("-c")
        .arg(&conf)
        .arg("-o")
        .arg(dir.join("nutcracker.log"))
        .args([
            "-s",
            &stats_port.to_string(),
            "-a",
            "127.0.0.1",
            "-i",
            "100",
        ])
        .arg("-p")
        .arg(dir.join("nutcracker.pid"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {bin}: {e}"));
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nutcracker did not listen");
        thread::sleep(Duration::from_millis(10));
    }
    Proxy {
        child,
        port,
        stats_port,
        _dir: TempDir(dir),
    }
}

/// twemproxy's stats JSON (one connection per read).
fn stats(proxy: &Proxy) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", proxy.stats_port)).expect("stats port");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("stats");
    out
}

/// The value of `"server_ejects"` in the pool's stats.
fn server_ejects(json: &str) -> Option<u64> {
    let at = json.find("\"server_ejects\":")? + "\"server_ejects\":".len();
    let digits: String = json[at..]
        .chars()
        .skip_while(|c| c.is_whitespace())
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

fn key(i: usize) -> String {
    format!("nc:{i}:user")
}

/// Which backend holds `key` (asked directly, not through the proxy).
fn holder(backends: &[Option<Client>], key: &str) -> Vec<usize> {
    backends
        .iter()
        .enumerate()
        .filter(|(_, c)| {
            c.as_ref()
                .is_some_and(|c| c.get(key).expect("direct get").is_some())
        })
        .map(|(i, _)| i)
        .collect()
}

fn direct(server: &Server) -> Client {
    Client::from_specs(&[server.spec()], ClientConfig::default()).expect("client")
}

#[test]
fn nutcracker_places_and_ejects_as_larder_ring_predicts() {
    let Some(bin) = nutcracker() else {
        eprintln!("skipping: nutcracker not found (apt-get install nutcracker)");
        return;
    };
    let Some(mut servers) = cluster(3) else {
        return;
    };
    let ports: Vec<u16> = servers.iter().map(|s| s.port).collect();
    let proxy = start_proxy(&bin, &ports);

    // larder-ring's model of the pool: the same servers, names and settings.
    let nodes: Vec<NodeSpec> = ports
        .iter()
        .zip(NAMES)
        .map(|(p, n)| NodeSpec::tcp("127.0.0.1", *p).with_name(n))
        .collect();
    let config = RingConfig {
        compat: Compat::Twemproxy,
        ..RingConfig::new(Distribution::Ketama, true, Hash::Md5)
    };
    let ring = Ring::new(&config, &nodes);

    // A client of the proxy: the proxy is its only node.
    let through = Client::from_specs(
        &[format!("127.0.0.1:{}", proxy.port)],
        ClientConfig::default(),
    )
    .expect("proxy client");
    for i in 0..KEYS {
        through
            .set(key(i), format!("v{i}"), 0, 0)
            .expect("set through proxy");
    }
    let mut backends: Vec<Option<Client>> = servers.iter().map(|s| Some(direct(s))).collect();
    let mut per_node = [0usize; 3];
    for i in 0..KEYS {
        let want = ring.route(key(i).as_bytes()).unwrap();
        assert_eq!(holder(&backends, &key(i)), [want], "key {i}");
        per_node[want] += 1;
        let item = through.get(key(i)).unwrap().expect("hit through proxy");
        assert_eq!(item.value, format!("v{i}").as_bytes());
    }
    assert!(per_node.iter().all(|n| *n > KEYS / 6), "{per_node:?}");

    // Kill one node. A request for one of its keys fails once (server_failure_limit: 1)
    // and twemproxy ejects it: its keys go where the ring without it says, nothing else
    // moves.
    let dead = 1;
    servers[dead].kill();
    backends[dead] = None;
    let victim = (0..KEYS)
        .find(|i| ring.route(key(*i).as_bytes()) == Some(dead))
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while through.set(key(victim), "again", 0, 0).is_err() {
        assert!(Instant::now() < deadline, "the dead node was never ejected");
        thread::sleep(Duration::from_millis(20));
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while server_ejects(&stats(&proxy)) != Some(1) {
        assert!(Instant::now() < deadline, "stats: {}", stats(&proxy));
        thread::sleep(Duration::from_millis(50));
    }
    let after = Ring::with_liveness(&config, &nodes, |i| i != dead);
    let mut moved = 0;
    for i in 0..KEYS {
        let (before, now) = (
            ring.route(key(i).as_bytes()).unwrap(),
            after.route(key(i).as_bytes()).unwrap(),
        );
        if before == dead {
            moved += 1;
            // The old copy died with the node: a miss through the proxy, then a new home.
            assert!(
                through.get(key(i)).unwrap().is_none() || i == victim,
                "key {i}"
            );
            through
                .set(key(i), format!("w{i}"), 0, 0)
                .expect("set after ejection");
        } else {
            assert_eq!(now, before, "key {i} moved but its node is alive");
            let item = through.get(key(i)).unwrap().expect("surviving key");
            assert_eq!(item.value, format!("v{i}").as_bytes());
        }
        assert_eq!(holder(&backends, &key(i)), [now], "key {i} after ejection");
    }
    assert_eq!(moved, per_node[dead]);
}
