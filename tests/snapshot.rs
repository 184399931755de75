//! Snapshots through the daemon: `-e` survives every kind of graceful stop, the `snapshot`
//! command and its `stats`, a kill -9 in the middle of writing leaves the previous file.
//! (The format's own checks, damaged files, smaller -m and concurrent writes are unit
//! tests in src/snapshot/tests.rs.)

mod common;

use common::{larder_only, Client, Server};
use std::path::Path;
use std::time::{Duration, Instant};

fn stat_str(c: &mut Client, name: &str) -> String {
    c.stats("")
        .into_iter()
        .find(|(k, _)| k == name)
        .unwrap_or_else(|| panic!("no stat {name}"))
        .1
}

fn start(path: &Path, extra: &[&str]) -> Server {
    let p = path.to_str().unwrap();
    let mut args = vec!["-e", p, "-A", "-t", "2"];
    args.extend_from_slice(extra);
    Server::start(&args)
}

fn stop(mut s: Server, how: &str) {
    match how {
        "shutdown" => {
            let mut c = s.connect();
            c.send(b"shutdown\r\n");
        }
        "SIGTERM" => s.signal(libc::SIGTERM),
        "SIGINT" => s.signal(libc::SIGINT),
        "SIGUSR1" => s.signal(libc::SIGUSR1),
        _ => unreachable!(),
    }
    let status = s.wait_exit(Duration::from_secs(30)).expect("server exits");
    assert!(status.success(), "{how}: {status:?}");
}

/// `gets key` → (flags, cas, value).
fn gets(c: &mut Client, key: &str) -> Option<(u32, u64, Vec<u8>)> {
    c.send(format!("gets {key}\r\n").as_bytes());
    let line = String::from_utf8(c.read_line()).unwrap();
    if line.starts_with("END") {
        return None;
    }
    let f: Vec<&str> = line.split_whitespace().collect();
    let len: usize = f[3].parse().unwrap();
    let mut value = c.read_exact(len + 2);
    value.truncate(len);
    c.expect(b"END\r\n");
    Some((f[2].parse().unwrap(), f[4].trim().parse().unwrap(), value))
}

#[test]
fn every_graceful_stop_keeps_the_cache() {
    if !larder_only() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cache.snap");
    let s = start(&path, &[]);
    let mut c = s.connect();
    let mut want = Vec::new();
    for i in 0..300u32 {
        let value: Vec<u8> = (0..(i * 37) % 3000).map(|j| (i + j) as u8).collect();
        let ttl = if i % 3 == 0 { 3600 } else { 0 };
        c.send(format!("set k{i} {i} {ttl} {}\r\n", value.len()).as_bytes());
        c.send(&value);
        c.roundtrip(b"\r\n", b"STORED\r\n");
        want.push(value);
    }
    c.roundtrip(b"set gone 0 1 1\r\nx\r\n", b"STORED\r\n");
    let before: Vec<_> = (0..300).map(|i| gets(&mut c, &format!("k{i}"))).collect();
    drop(c);
    stop(s, "SIGTERM");
    std::thread::sleep(Duration::from_millis(3100)); // "gone" expires while down
                                                     // New CAS values are above every loaded one (not above deleted items': those are gone).
    let max_cas = before.iter().map(|g| g.as_ref().unwrap().1).max().unwrap();
    for how in ["shutdown", "SIGINT", "SIGUSR1", "SIGTERM"] {
        let s = start(&path, &[]);
        let mut c = s.connect();
        assert_eq!(gets(&mut c, "gone"), None, "after {how}");
        for (i, b) in before.iter().enumerate() {
            let got = gets(&mut c, &format!("k{i}"));
            assert_eq!(&got, b, "k{i} after {how}");
            assert_eq!(got.unwrap().2, want[i]);
        }
        assert_eq!(stat_str(&mut c, "snapshot_loaded_items"), "300");
        c.roundtrip(b"set new 0 0 1\r\nx\r\n", b"STORED\r\n");
        let (_, cas, _) = gets(&mut c, "new").unwrap();
        assert!(cas > max_cas, "{cas} <= {max_cas}");
        c.roundtrip(b"delete new\r\n", b"DELETED\r\n");
        drop(c);
        stop(s, how);
    }
}

#[test]
fn snapshot_command_writes_while_serving_and_shows_in_stats() {
    if !larder_only() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("snap");
    let s = start(&path, &[]);
    let mut c = s.connect();
    assert_eq!(stat_str(&mut c, "snapshot_last_result"), "none");
    for i in 0..1000 {
        c.send(format!("set k{i} 0 0 5 noreply\r\nvalue\r\n").as_bytes());
    }
    c.roundtrip(b"snapshot\r\n", b"OK\r\n");
    let deadline = Instant::now() + Duration::from_secs(20);
    while stat_str(&mut c, "snapshots_completed") != "1" {
        assert!(Instant::now() < deadline, "snapshot did not complete");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(stat_str(&mut c, "snapshot_last_result"), "ok");
    assert_eq!(stat_str(&mut c, "snapshot_items_written"), "1000");
    assert_eq!(stat_str(&mut c, "snapshot_in_progress"), "0");
    let bytes: u64 = stat_str(&mut c, "snapshot_bytes_written").parse().unwrap();
    assert_eq!(bytes, std::fs::metadata(&path).unwrap().len());
    // Without -e the command is refused.
    let plain = Server::start(&[]);
    plain.connect().roundtrip(
        b"snapshot\r\n",
        b"ERROR: snapshot not enabled (no -e file)\r\n",
    );
    // The interval writes on its own.
    let path2 = dir.path().join("snap2");
    let s2 = start(&path2, &["-o", "snapshot_interval=1"]);
    let mut c2 = s2.connect();
    c2.roundtrip(b"set a 0 0 1\r\nx\r\n", b"STORED\r\n");
    let deadline = Instant::now() + Duration::from_secs(20);
    while stat_str(&mut c2, "snapshots_completed") == "0" {
        assert!(Instant::now() < deadline, "no interval snapshot");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(path2.exists());
}

#[test]
fn kill_9_while_writing_leaves_the_previous_snapshot() {
    if !larder_only() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("snap");
    let s = start(&path, &["-m", "256"]);
    let mut c = s.connect();
    c.roundtrip(b"set first 1 0 3\r\nabc\r\n", b"STORED\r\n");
    c.roundtrip(b"snapshot\r\n", b"OK\r\n");
    while stat_str(&mut c, "snapshots_completed") != "1" {
        std::thread::sleep(Duration::from_millis(10));
    }
    let previous = std::fs::read(&path).unwrap();
    // Enough items that writing takes a while, then kill -9 while it runs.
    let value = vec![b'v'; 4000];
    let mut batch = Vec::new();
    for i in 0..40_000 {
        batch.extend_from_slice(format!("set big{i} 0 0 {} noreply\r\n", value.len()).as_bytes());
        batch.extend_from_slice(&value);
        batch.extend_from_slice(b"\r\n");
        if batch.len() > 1 << 20 {
            c.send(&batch);
            batch.clear();
        }
    }
    c.send(&batch);
    c.roundtrip(b"version\r\n", b"VERSION 1.6.18\r\n");
    let mut killed_during = false;
    for _ in 0..20 {
        c.roundtrip(b"snapshot\r\n", b"OK\r\n");
        let t = Instant::now();
        while stat_str(&mut c, "snapshot_in_progress") != "1"
            && t.elapsed() < Duration::from_secs(2)
        {}
        let written: u64 = stat_str(&mut c, "snapshot_bytes_written").parse().unwrap();
        if stat_str(&mut c, "snapshot_in_progress") == "1" && written < 100 << 20 {
            s.signal(libc::SIGKILL);
            killed_during = true;
            break;
        }
        while stat_str(&mut c, "snapshot_in_progress") == "1" {}
        // The last one finished first: write the reference again and retry.
    }
    assert!(killed_during, "never caught a snapshot in progress");
    drop(c);
    let mut s = s;
    s.wait_exit(Duration::from_secs(10)).expect("killed");
    let now = std::fs::read(&path).unwrap();
    // Either the previous file, or (if the kill came after the rename) a complete new one:
    // never a partial one.
    let s2 = start(&path, &["-m", "256"]);
    let mut c2 = s2.connect();
    assert_eq!(gets(&mut c2, "first").unwrap().2, b"abc");
    if now != previous {
        assert_eq!(stat_str(&mut c2, "snapshot_loaded_items"), "40001");
    } else {
        assert_eq!(stat_str(&mut c2, "snapshot_loaded_items"), "1");
    }
}
