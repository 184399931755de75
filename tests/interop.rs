//! Interop with real third-party clients: pymemcache (every text command),
//! libmemcached's `memccapable -a` (its whole ascii suite) and meta-memcache (the meta
//! protocol: get/set/delete/incr, CAS, stale-while-revalidate, recache and lease cycles).
//! `scripts/test.sh` installs them; a missing client fails the test rather than skipping it.

mod common;
use common::Server;
use std::process::Command;

fn run(cmd: &mut Command) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?} (scripts/test.sh installs it): {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
}

#[test]
fn pymemcache_every_text_command() {
    let s = Server::start(&[]);
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/interop/pymemcache_check.py"
    );
    run(Command::new("python3")
        .arg(script)
        .arg("127.0.0.1")
        .arg(s.addr.port().to_string()));
}

#[test]
fn meta_memcache_meta_protocol_client() {
    let s = Server::start(&[]);
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/interop/meta_memcache_check.py"
    );
    run(Command::new("python3")
        .arg(script)
        .arg("127.0.0.1")
        .arg(s.addr.port().to_string()));
}

#[test]
fn memccapable_ascii_suite() {
    let s = Server::start(&[]);
    let out = Command::new("memccapable")
        .args(["-h", "127.0.0.1", "-p", &s.addr.port().to_string(), "-a"])
        .output()
        .expect("memccapable (libmemcached-tools) must be installed: scripts/test.sh does it");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "memccapable failed:\n{text}");
    assert!(text.contains("All tests passed"), "{text}");
    assert!(!text.contains("[FAIL]"), "{text}");
}
