//! Bad input and bad clients: random bytes never crash a worker or corrupt stored
//! data; a client that never reads its replies cannot grow the server's memory
//! without bound or stall other clients; endless lines are cut off.

mod common;
use common::{larder_only, Server};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap()
}

#[test]
fn random_garbage_never_crashes_or_corrupts() {
    let s = Arc::new(Server::start(&["-t", "4"]));
    let mut canary = s.connect();
    for i in 0..50 {
        canary.roundtrip(
            format!("set canary{i} {i} 0 6\r\nvalue{}\r\n", i % 10).as_bytes(),
            b"STORED\r\n",
        );
    }
    let handles: Vec<_> = (0..8u64)
        .map(|t| {
            let s = Arc::clone(&s);
            std::thread::spawn(move || {
                let mut x = 0x9E37_79B9_7F4A_7C15u64 ^ (t + 1);
                let mut next = move || {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x
                };
                for round in 0..40 {
                    let mut c = s.connect();
                    let len = (next() % 3000) as usize;
                    let mut junk: Vec<u8> = (0..len).map(|_| next() as u8).collect();
                    if round % 3 == 0 {
                        // Plausible-looking commands with broken arguments.
                        let verbs: [&[u8]; 8] = [
                            b"set", b"get", b"incr", b"cas", b"mg", b"ms", b"touch", b"gat",
                        ];
                        let mut line = verbs[(next() % 8) as usize].to_vec();
                        line.extend_from_slice(&junk[..junk.len().min(40)]);
                        line.extend_from_slice(b"\r\n");
                        junk = line;
                    }
                    // The connection may be closed by the server: ignore write errors.
                    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        c.send(&junk);
                    }));
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let mut after = s.connect();
    for i in 0..50 {
        after.roundtrip(
            format!("get canary{i}\r\n").as_bytes(),
            format!("VALUE canary{i} {i} 6\r\nvalue{}\r\nEND\r\n", i % 10).as_bytes(),
        );
    }
    canary.roundtrip(b"version\r\n", b"VERSION 1.6.18\r\n");
}

#[test]
fn a_reader_that_never_reads_is_bounded_and_stalls_no_one() {
    let s = Server::start(&["-t", "2"]);
    let mut setup = s.connect();
    let value = vec![b'v'; 512 * 1024];
    let mut req = format!("set big 0 0 {}\r\n", value.len()).into_bytes();
    req.extend_from_slice(&value);
    req.extend_from_slice(b"\r\n");
    setup.roundtrip(&req, b"STORED\r\n");
    let before = rss_kib(s.pid());
    // 2000 gets of 512 KiB = 1 GiB of replies, never read.
    let mut hog = std::net::TcpStream::connect(s.addr).unwrap();
    hog.set_write_timeout(Some(Duration::from_secs(2))).unwrap();
    let batch = b"get big\r\n".repeat(2000);
    use std::io::Write;
    let _ = hog.write_all(&batch);
    std::thread::sleep(Duration::from_millis(500));
    // Everyone else is still served promptly.
    let started = Instant::now();
    for _ in 0..20 {
        let mut other = s.connect();
        other.roundtrip(b"version\r\n", b"VERSION 1.6.18\r\n");
    }
    assert!(started.elapsed() < Duration::from_secs(5));
    let grown = rss_kib(s.pid()).saturating_sub(before);
    if larder_only() {
        assert!(
            grown < 64 * 1024,
            "RSS grew by {grown} KiB for one slow reader"
        );
    }
    drop(hog);
}

#[test]
fn endless_lines_are_cut_off() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    // A multiget line that never ends: accepted up to a bound, then the connection closes.
    c.send(b"get ");
    let chunk = b"k123456789 ".repeat(10_000);
    let started = Instant::now();
    let mut closed = false;
    for _ in 0..400 {
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| c.send(&chunk))) {
            Ok(()) => {}
            Err(_) => {
                closed = true;
                break;
            }
        }
    }
    if !closed {
        c.expect_closed();
    }
    assert!(started.elapsed() < Duration::from_secs(30));
    let mut d = s.connect();
    d.roundtrip(b"version\r\n", b"VERSION 1.6.18\r\n");
}

#[test]
fn a_multiget_larger_than_the_output_bound_arrives_whole_and_in_order() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    let n = 40;
    for i in 0..n {
        let mut req = format!("set big{i} {i} 0 300000\r\n").into_bytes();
        req.extend(std::iter::repeat(b'a' + (i % 26) as u8).take(300_000));
        req.extend_from_slice(b"\r\n");
        c.roundtrip(&req, b"STORED\r\n");
    }
    // 12 MB of replies to one request, read slowly, then a second request behind it.
    let keys: Vec<String> = (0..n).map(|i| format!("big{i}")).collect();
    c.send(format!("get {}\r\nversion\r\n", keys.join(" ")).as_bytes());
    std::thread::sleep(Duration::from_millis(300));
    for i in 0..n {
        c.expect(format!("VALUE big{i} {i} 300000\r\n").as_bytes());
        let v = c.read_exact(300_000);
        assert!(
            v.iter().all(|b| *b == b'a' + (i % 26) as u8),
            "value {i} corrupted"
        );
        c.expect(b"\r\n");
        if i % 8 == 0 {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    c.expect(b"END\r\nVERSION 1.6.18\r\n");
}
