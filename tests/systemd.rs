//! The systemd unit (scripts/larder.service): `systemd-analyze verify` accepts it, and
//! larder started the way the unit starts it (its ExecStart flags, a conf file with `-e`,
//! `$NOTIFY_SOCKET` bound by the test in place of systemd) reports READY=1, stops on
//! SIGTERM with STOPPING=1 after writing its snapshot, exits 0, and a restart brings the
//! cache back. No systemd runs here (PID 1 is not systemd), so this plays its part.

mod common;

use common::{larder_only, Client};
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const UNIT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/larder.service");

/// The unit's `ExecStart=` words: the binary, then its arguments.
fn exec_start() -> Vec<String> {
    let text = std::fs::read_to_string(UNIT).expect("read scripts/larder.service");
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("the unit has an ExecStart= line");
    line.split_whitespace().map(str::to_string).collect()
}

#[test]
fn unit_passes_systemd_analyze_verify() {
    // verify checks that ExecStart's binary exists: point it at the one under test.
    let installed = exec_start()[0].clone();
    let unit = std::fs::read_to_string(UNIT)
        .unwrap()
        .replace(&installed, common::server_bin().to_str().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("larder.service");
    std::fs::write(&path, unit).unwrap();
    let out = match Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .env("SYSTEMD_LOG_LEVEL", "warning")
        .output()
    {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!("SKIPPED: systemd-analyze is not installed (apt-get install systemd)");
            return;
        }
        Err(e) => panic!("run systemd-analyze: {e}"),
    };
    let text =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "systemd-analyze verify failed:\n{text}"
    );
    // Any complaint about the unit names it; the environment's own notes do not.
    assert!(
        !text.contains("larder.service"),
        "systemd-analyze verify warns:\n{text}"
    );
}

/// Starts larder as the unit does, with `conf` in place of /etc/larder.conf, and waits
/// for its READY=1.
fn start_as_unit(conf: &Path, notify: &UnixDatagram, notify_path: &Path) -> Child {
    let words = exec_start();
    assert_eq!(
        words[0], "/usr/local/bin/larder",
        "the unit's install path changed"
    );
    let args: Vec<String> = words[1..]
        .iter()
        .map(|a| match a.as_str() {
            "/etc/larder.conf" => conf.to_str().unwrap().to_string(),
            _ => a.clone(),
        })
        .collect();
    assert!(args.iter().any(|a| a == "--foreground"), "{args:?}");
    let child = Command::new(common::server_bin())
        .args(&args)
        .env("NOTIFY_SOCKET", notify_path)
        .stderr(Stdio::null())
        .spawn()
        .expect("start larder");
    assert_eq!(recv(notify), "READY=1");
    child
}

fn recv(sock: &UnixDatagram) -> String {
    let mut buf = [0u8; 256];
    let n = sock.recv(&mut buf).expect("a notify datagram in time");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

/// SIGTERM (what `systemctl stop` sends with KillMode=mixed), STOPPING=1, exit 0 within
/// the unit's TimeoutStopSec.
fn stop_as_systemd(mut child: Child, notify: &UnixDatagram) {
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    assert_eq!(recv(notify), "STOPPING=1");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "exit status {status:?}");
            return;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("larder did not stop within the unit's TimeoutStopSec (30 s)");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn stop_and_start_under_the_unit_keeps_the_cache() {
    if !larder_only() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let snap = dir.path().join("cache.snap");
    let conf = dir.path().join("larder.conf");
    let port = common::free_port();
    // A Debian-style conf with -d, as the unit's comment warns: --foreground must win.
    let mut text = format!(
        "-d\n-m 16\n-p {port}\n-l 127.0.0.1\n-t 2\n-e {}\n",
        snap.display()
    );
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        text.push_str("-u root\n");
    }
    std::fs::write(&conf, text).unwrap();
    let notify_path = dir.path().join("notify");
    let notify = UnixDatagram::bind(&notify_path).unwrap();
    notify
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();

    let child = start_as_unit(&conf, &notify, &notify_path);
    let mut c = Client::tcp(([127, 0, 0, 1], port).into());
    for i in 0..2000 {
        let v = format!("value-{i}-{}", "x".repeat(i % 97));
        c.roundtrip(
            format!("set k{i} {i} 0 {}\r\n{v}\r\n", v.len()).as_bytes(),
            b"STORED\r\n",
        );
    }
    drop(c);
    stop_as_systemd(child, &notify);
    assert!(snap.exists(), "no snapshot written at SIGTERM");

    // systemctl start: the snapshot is loaded before READY=1.
    let child = start_as_unit(&conf, &notify, &notify_path);
    let mut c = Client::tcp(([127, 0, 0, 1], port).into());
    assert_eq!(c.stat("curr_items"), 2000);
    for i in (0..2000).step_by(7) {
        let v = format!("value-{i}-{}", "x".repeat(i % 97));
        c.roundtrip(
            format!("get k{i}\r\n").as_bytes(),
            format!("VALUE k{i} {i} {}\r\n{v}\r\nEND\r\n", v.len()).as_bytes(),
        );
    }
    drop(c);
    stop_as_systemd(child, &notify);
}
