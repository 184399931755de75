//! Bad input and bad clients: random bytes never crash a worker or corrupt stored
//! data; a client that never reads its replies cannot grow the server's memory
//! without bound or stall other clients; endless lines are cut off.

mod common;
use common::{larder_only, rss_kib, Server};
use std::sync::Arc;
use std::time::{Duration, Instant};

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

// ---- How a connection ends: every ending leaves no connection and no memory behind. ----

/// Waits until `stats curr_connections` (as seen by `obs`) is `want`; its last value.
fn settle_conns(obs: &mut common::Client, want: u64) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let n = obs.stat("curr_connections");
        if n == want || Instant::now() >= deadline {
            return n;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A raw TCP connection (for shutdown and linger control).
fn raw(s: &Server) -> std::net::TcpStream {
    let t = std::net::TcpStream::connect(s.addr).unwrap();
    t.set_read_timeout(Some(common::REPLY_TIMEOUT)).unwrap();
    t
}

/// Reads until the server closes; everything received. Fails on a timeout (the server
/// kept the connection open).
fn read_to_close(t: &mut std::net::TcpStream) -> Vec<u8> {
    use std::io::Read;
    let mut got = Vec::new();
    match t.read_to_end(&mut got) {
        Ok(_) => got,
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => got,
        Err(e) => panic!(
            "the server did not close ({e}); received {:?}",
            String::from_utf8_lossy(&got[..got.len().min(200)])
        ),
    }
}

/// Closes with SO_LINGER 0: the kernel sends a reset instead of a FIN.
fn reset(t: std::net::TcpStream) {
    socket2::SockRef::from(&t)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(t);
}

fn set_prefix(key: &str, len: usize) -> Vec<u8> {
    format!("set {key} 0 0 {len}\r\n").into_bytes()
}

#[test]
fn half_close_after_a_complete_request_gets_the_reply_then_the_close() {
    use std::io::Write;
    let s = Server::start(&[]);
    let mut obs = s.connect();
    let base = obs.stat("curr_connections");
    for i in 0..20 {
        // Request and FIN sent at once, usually before the server has even taken the
        // connection: both are then reported in the connection's first edge.
        let mut t = raw(&s);
        t.write_all(format!("set k{i} 0 0 1\r\nx\r\nget k{i}\r\n").as_bytes())
            .unwrap();
        t.shutdown(std::net::Shutdown::Write).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&read_to_close(&mut t)),
            format!("STORED\r\nVALUE k{i} 0 1\r\nx\r\nEND\r\n")
        );
    }
    assert_eq!(settle_conns(&mut obs, base), base);
}

#[test]
fn half_close_after_a_partial_request_closes_without_a_reply() {
    use std::io::Write;
    let s = Server::start(&[]);
    let mut obs = s.connect();
    let base = obs.stat("curr_connections");
    let partials: [&[u8]; 4] = [
        b"get some",
        b"version\r\nget some",
        b"set k 0 0 10\r\nabc",
        b"\x80\x00\x00\x01",
    ];
    for p in partials {
        let mut t = raw(&s);
        t.write_all(p).unwrap();
        t.shutdown(std::net::Shutdown::Write).unwrap();
        let got = read_to_close(&mut t);
        let want: &[u8] = if p.starts_with(b"version") {
            b"VERSION 1.6.18\r\n"
        } else {
            b""
        };
        assert_eq!(got, want, "after {:?}", String::from_utf8_lossy(p));
    }
    assert_eq!(settle_conns(&mut obs, base), base);
    obs.roundtrip(b"get k\r\n", b"END\r\n");
}

/// Runs `rounds` rounds of `clients` connections that each send half of a 1 MB `set` and
/// then end with `end`; asserts every connection is gone after each round, and (for
/// larder) that the server's memory grew by less than one round's buffers over all the
/// rounds (leaked buffers would be `rounds` times that).
fn half_values(s: &Server, rounds: usize, clients: usize, end: fn(std::net::TcpStream)) {
    use std::io::Write;
    let len = 1_000_000;
    let before = rss_kib(s.pid());
    let mut first = 0;
    let mut obs = s.connect();
    let base = obs.stat("curr_connections");
    for round in 0..rounds {
        let mut conns = Vec::new();
        for i in 0..clients {
            let mut t = raw(s);
            t.write_all(&set_prefix(&format!("big{i}"), len)).unwrap();
            t.write_all(&vec![b'v'; len / 2]).unwrap();
            conns.push(t);
        }
        // Everyone is connected with half a value buffered, then all of them leave.
        assert_eq!(
            settle_conns(&mut obs, base + clients as u64),
            base + clients as u64
        );
        for t in conns {
            end(t);
        }
        assert_eq!(settle_conns(&mut obs, base), base, "round {round}");
        if round == 0 {
            first = rss_kib(s.pid()).saturating_sub(before);
        }
    }
    for i in 0..clients {
        obs.roundtrip(format!("get big{i}\r\n").as_bytes(), b"END\r\n");
    }
    let grown = rss_kib(s.pid()).saturating_sub(before) as usize;
    let one_round = clients * len / 2 / 1024;
    eprintln!("RSS growth: {first} KiB after round 1, {grown} KiB after round {rounds}");
    if larder_only() {
        assert!(
            grown < one_round,
            "RSS grew by {grown} KiB ({first} KiB after round 1); one round buffers {one_round} KiB"
        );
    }
}

#[test]
fn half_close_mid_value_closes_and_frees_the_buffer() {
    let s = Server::start(&["-t", "2"]);
    half_values(&s, 4, 50, |mut t| {
        t.shutdown(std::net::Shutdown::Write).unwrap();
        assert_eq!(read_to_close(&mut t), b"");
    });
}

#[test]
fn reset_mid_value_closes_and_frees_the_buffer() {
    let s = Server::start(&["-t", "2"]);
    half_values(&s, 4, 50, reset);
}

fn store_big_values(c: &mut common::Client, n: usize, len: usize) -> String {
    for i in 0..n {
        let mut req = set_prefix(&format!("mg{i}"), len);
        req.extend(std::iter::repeat(b'a' + (i % 26) as u8).take(len));
        req.extend_from_slice(b"\r\n");
        c.roundtrip(&req, b"STORED\r\n");
    }
    let keys: Vec<String> = (0..n).map(|i| format!("mg{i}")).collect();
    format!("get {}\r\n", keys.join(" "))
}

#[test]
fn a_client_that_leaves_during_a_large_multiget_is_closed() {
    use std::io::Write;
    let s = Server::start(&[]);
    let mut obs = s.connect();
    let get = store_big_values(&mut obs, 40, 300_000);
    let base = obs.stat("curr_connections");
    let before = rss_kib(s.pid());
    for round in 0..10 {
        // 12 MB of replies owed, none read: the server is blocked writing; then the
        // client goes away (with unread data, the close is a reset).
        let mut conns = Vec::new();
        for _ in 0..5 {
            let mut t = raw(&s);
            t.write_all(get.as_bytes()).unwrap();
            conns.push(t);
        }
        std::thread::sleep(Duration::from_millis(100));
        for (i, t) in conns.into_iter().enumerate() {
            if i % 2 == 0 {
                drop(t);
            } else {
                reset(t);
            }
        }
        assert_eq!(settle_conns(&mut obs, base), base, "round {round}");
    }
    let grown = rss_kib(s.pid()).saturating_sub(before);
    if larder_only() {
        assert!(grown < 64 * 1024, "RSS grew by {grown} KiB");
    }
    obs.roundtrip(b"version\r\n", b"VERSION 1.6.18\r\n");
}

#[test]
fn half_close_with_a_large_reply_owed_delivers_it_all_then_closes() {
    use std::io::Write;
    let s = Server::start(&[]);
    let mut obs = s.connect();
    let n = 40;
    let len = 300_000;
    let get = store_big_values(&mut obs, n, len);
    let base = obs.stat("curr_connections");
    let mut t = raw(&s);
    t.write_all(get.as_bytes()).unwrap();
    t.write_all(b"version\r\nget mg0 partial").unwrap();
    t.shutdown(std::net::Shutdown::Write).unwrap();
    // A slow reader: the server must wait for it, not drop what it owes.
    std::thread::sleep(Duration::from_millis(300));
    let got = read_to_close(&mut t);
    let mut want = Vec::new();
    for i in 0..n {
        want.extend_from_slice(format!("VALUE mg{i} 0 {len}\r\n").as_bytes());
        want.extend(std::iter::repeat(b'a' + (i % 26) as u8).take(len));
        want.extend_from_slice(b"\r\n");
    }
    want.extend_from_slice(b"END\r\nVERSION 1.6.18\r\n");
    assert!(
        got == want,
        "{} bytes received, {} owed",
        got.len(),
        want.len()
    );
    assert_eq!(settle_conns(&mut obs, base), base);
}

/// `printf 'version\r\n' | nc -N 127.0.0.1 PORT`, over and over, against `-c 32`: every
/// one is answered and closed, and later clients are still served.
#[test]
fn nc_n_clients_never_use_up_the_connection_limit() {
    use std::io::Write;
    let s = Server::start(&["-c", "32"]);
    for i in 0..100 {
        let mut t = raw(&s);
        t.write_all(b"version\r\n").unwrap();
        t.shutdown(std::net::Shutdown::Write).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&read_to_close(&mut t)),
            "VERSION 1.6.18\r\n",
            "client {i}"
        );
    }
    let mut obs = s.connect();
    let base = obs.stat("curr_connections");
    // A few at once (memcached's -c counts file descriptors, of which it uses about 25
    // itself with 4 threads, so 32 leaves it room for only a handful of clients).
    let mut others: Vec<_> = (0..3).map(|_| s.connect()).collect();
    for c in &mut others {
        c.roundtrip(b"version\r\n", b"VERSION 1.6.18\r\n");
    }
    drop(others);
    assert_eq!(settle_conns(&mut obs, base), base);
}
