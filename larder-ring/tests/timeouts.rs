//! Timeouts and unix sockets without a server binary: a listener that never answers must
//! cost one read timeout per attempt and then be refused fast; a unix-socket node is
//! reached through its path.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::os::unix::net::UnixListener;
use std::thread;
use std::time::{Duration, Instant};

use larder_ring::{Cause, Client, ClientConfig, Error, NodeSpec, Timeouts};

fn config(ms: u64) -> ClientConfig {
    let t = Duration::from_millis(ms);
    ClientConfig {
        timeouts: Timeouts {
            connect: t,
            read: t,
            write: t,
        },
        server_failure_limit: 2,
        server_retry_timeout: Duration::from_secs(30),
        ..ClientConfig::default()
    }
}

#[test]
fn a_silent_node_times_out_then_rests() {
    // The kernel completes the handshake (backlog) but nobody ever reads or answers.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let spec = format!("127.0.0.1:{}", silent.local_addr().unwrap().port());
    let c = Client::from_specs(&[&spec], config(200)).unwrap();
    for _ in 0..2 {
        let t = Instant::now();
        let e = c.get("k").unwrap_err();
        assert_eq!(
            e,
            Error::Unavailable {
                node: spec.clone(),
                cause: Cause::TimedOut
            }
        );
        let took = t.elapsed();
        assert!(
            took >= Duration::from_millis(150) && took < Duration::from_secs(2),
            "{took:?}"
        );
    }
    let t = Instant::now();
    let e = c.set("k", "v", 0, 0).unwrap_err();
    assert_eq!(
        e,
        Error::Unavailable {
            node: spec.clone(),
            cause: Cause::RetryWindow
        }
    );
    assert!(t.elapsed() < Duration::from_millis(50));
    let status = &c.nodes()[0];
    assert!(
        status.resting && status.in_ring,
        "without auto-eject the node stays in the ring"
    );
    let m = c.get_multi(&["a", "b"]).unwrap();
    assert!(m.items.is_empty());
    assert_eq!(
        m.failed,
        vec![Error::Unavailable {
            node: spec,
            cause: Cause::RetryWindow
        }]
    );
}

#[test]
fn unix_socket_nodes_are_reached_by_path() {
    let path = std::env::temp_dir().join(format!("larder-ring-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path).unwrap();
    // A minimal node: answers `version` and misses every `get`, then hangs up.
    let server = thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut out = stream;
        let mut line = String::new();
        for _ in 0..2 {
            line.clear();
            reader.read_line(&mut line).unwrap();
            let reply: &[u8] = if line == "version\r\n" {
                b"VERSION fake-1.0\r\n"
            } else if line == "get some-key\r\n" {
                b"END\r\n"
            } else {
                b"ERROR\r\n"
            };
            out.write_all(reply).unwrap();
        }
    });
    let node = NodeSpec::unix(&path).with_name("local");
    let c = Client::new([node], config(1000)).unwrap();
    let v = c.version();
    assert_eq!(v[0].node, "local");
    assert_eq!(v[0].result, Ok("fake-1.0".to_string()));
    assert_eq!(c.get("some-key"), Ok(None));
    server.join().unwrap();
    let _ = std::fs::remove_file(&path);
}
