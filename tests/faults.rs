//! Faults, with the real binary over real sockets: signals under load (SIGTERM, SIGSTOP
//! and SIGCONT), a client process killed in the middle of a 1 MB value, the connection
//! limit reached and released, thousands of idle connections, a slowloris, and slow
//! readers bounded in total. Each test checks that no connection, file descriptor or
//! megabyte is left behind.

mod common;
use common::{larder_only, open_fds, raise_nofile, rss_kib, settle_conns, wait_for, Server};
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn set_req(key: &str, value: &[u8]) -> Vec<u8> {
    let mut r = format!("set {key} 0 0 {}\r\n", value.len()).into_bytes();
    r.extend_from_slice(value);
    r.extend_from_slice(b"\r\n");
    r
}

fn get_reply(key: &str, value: &[u8]) -> Vec<u8> {
    let mut r = format!("VALUE {key} 0 {}\r\n", value.len()).into_bytes();
    r.extend_from_slice(value);
    r.extend_from_slice(b"\r\nEND\r\n");
    r
}

/// Reads up to `n` bytes, stopping early at end of stream (or a reset); what arrived.
fn read_upto(s: &mut impl Read, n: usize) -> Vec<u8> {
    let mut got = vec![0; n];
    let mut have = 0;
    while have < n {
        match s.read(&mut got[have..]) {
            Ok(0) => break,
            Ok(k) => have += k,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if e.kind() == ErrorKind::ConnectionReset => break,
            Err(e) => panic!("read failed after {have} of {n} bytes: {e}"),
        }
    }
    got.truncate(have);
    got
}

#[test]
fn sigterm_under_load_completes_replies_exits_0_and_removes_the_socket() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("larder.sock");
    let path_s = path.to_str().unwrap().to_string();
    let mut s = Server::start(&["-s", &path_s, "-t", "2"]);
    let big = vec![b'b'; 512 * 1024];
    let mut setup = common::Client::unix(&path);
    setup.roundtrip(&set_req("big", &big), b"STORED\r\n");

    // Clients in a loop of set + get, each on its own connection.
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let load: Vec<_> = (0..4)
        .map(|t| {
            let (path, stop, done) = (path.clone(), Arc::clone(&stop), Arc::clone(&done));
            std::thread::spawn(move || {
                let mut c = UnixStream::connect(&path).unwrap();
                c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let key = format!("t{t}k{i}");
                    let value = format!("value-{t}-{i}").into_bytes();
                    let mut req = set_req(&key, &value);
                    req.extend_from_slice(format!("get {key}\r\n").as_bytes());
                    if c.write_all(&req).is_err() {
                        return; // the server closed before reading it
                    }
                    let mut want = b"STORED\r\n".to_vec();
                    want.extend_from_slice(&get_reply(&key, &value));
                    let got = read_upto(&mut c, want.len());
                    // Either the whole reply, or nothing at all (the requests arrived after
                    // the stop began and were never read): never a torn reply.
                    if got.is_empty() {
                        return;
                    }
                    assert_eq!(got, want, "torn reply on client {t}");
                    done.fetch_add(1, Ordering::Relaxed);
                    i += 1;
                }
            })
        })
        .collect();
    // A slow reader owed half a megabyte when the signal comes.
    let mut slow = UnixStream::connect(&path).unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    slow.write_all(b"get big\r\n").unwrap();
    assert!(wait_for(Duration::from_secs(10), || done
        .load(Ordering::Relaxed)
        >= 200));
    s.signal(libc::SIGTERM);
    std::thread::sleep(Duration::from_millis(300));
    let mut got = Vec::new();
    slow.read_to_end(&mut got).expect("read to the close");
    assert!(
        got == get_reply("big", &big),
        "the slow reader got {} bytes of {}",
        got.len(),
        get_reply("big", &big).len()
    );
    let status = s.wait_exit(Duration::from_secs(10)).expect("exits");
    assert!(status.success(), "exit status {status:?}");
    stop.store(true, Ordering::Relaxed);
    for h in load {
        h.join().unwrap();
    }
    assert!(!path.exists(), "the socket file was left behind");
}

#[test]
fn sigstop_then_sigcont_under_load_loses_nothing() {
    let s = Server::start(&["-t", "2"]);
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let addr = s.addr;
    let load: Vec<_> = (0..4)
        .map(|t| {
            let (stop, done) = (Arc::clone(&stop), Arc::clone(&done));
            std::thread::spawn(move || {
                let mut c = common::Client::tcp(addr);
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let key = format!("t{t}k{i}");
                    let value = format!("v{t}.{i}").into_bytes();
                    c.roundtrip(&set_req(&key, &value), b"STORED\r\n");
                    c.roundtrip(
                        format!("get {key}\r\n").as_bytes(),
                        &get_reply(&key, &value),
                    );
                    done.fetch_add(1, Ordering::Relaxed);
                    i += 1;
                }
                i
            })
        })
        .collect();
    assert!(wait_for(Duration::from_secs(10), || done
        .load(Ordering::Relaxed)
        >= 100));
    s.signal(libc::SIGSTOP);
    std::thread::sleep(Duration::from_millis(200));
    let frozen = done.load(Ordering::Relaxed);
    // A client that arrives while the server is stopped is queued by the kernel.
    let late = std::thread::spawn(move || {
        let mut c = common::Client::tcp(addr);
        c.roundtrip(b"version\r\n", b"VERSION 1.6.18\r\n");
    });
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        done.load(Ordering::Relaxed) <= frozen + 4,
        "the server answered while stopped"
    );
    s.signal(libc::SIGCONT);
    let resumed = Instant::now();
    assert!(
        wait_for(Duration::from_secs(5), || done.load(Ordering::Relaxed)
            >= frozen + 200),
        "clients did not resume"
    );
    eprintln!("200 round trips within {:?} of SIGCONT", resumed.elapsed());
    late.join().unwrap();
    stop.store(true, Ordering::Relaxed);
    let counts: Vec<u64> = load.into_iter().map(|h| h.join().unwrap()).collect();
    // Nothing lost: every value written before, during and after the stop is there.
    let mut c = s.connect();
    for (t, &n) in counts.iter().enumerate() {
        for i in 0..n {
            let key = format!("t{t}k{i}");
            let value = format!("v{t}.{i}").into_bytes();
            c.send(format!("get {key}\r\n").as_bytes());
            c.expect(&get_reply(&key, &value));
        }
    }
}

/// A real client process, killed (SIGKILL) with half of a 1 MB value sent: its
/// connection is closed and every byte buffered for it is given back.
#[test]
fn clients_killed_mid_value_give_their_memory_back() {
    let s = Server::start(&["-t", "2"]);
    let mut obs = s.connect();
    let base = obs.stat("curr_connections");
    let bytes = obs.stat("bytes");
    let before = rss_kib(s.pid());
    let fds = open_fds(s.pid());
    let n = 24;
    let script = format!(
        "exec 3<>/dev/tcp/127.0.0.1/{port}; printf \"set killed$K 0 0 1000000\\r\\n\" >&3; \
         head -c 500000 /dev/zero | tr '\\0' v >&3; echo sent; exec sleep 60",
        port = s.addr.port()
    );
    let mut kids: Vec<std::process::Child> = (0..n)
        .map(|k| {
            std::process::Command::new("bash")
                .args(["-c", &script])
                .env("K", k.to_string())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .expect("bash")
        })
        .collect();
    for kid in &mut kids {
        let mut line = [0u8; 5];
        kid.stdout.as_mut().unwrap().read_exact(&mut line).unwrap();
        assert_eq!(&line, b"sent\n");
    }
    assert_eq!(settle_conns(&mut obs, base + n), base + n);
    // Wait for the server to have read it all (its buffers are then at their largest).
    assert!(wait_for(Duration::from_secs(10), || rss_kib(s.pid())
        .saturating_sub(before)
        >= n * 400));
    let during = rss_kib(s.pid()).saturating_sub(before);
    for mut kid in kids {
        kid.kill().unwrap();
        kid.wait().unwrap();
    }
    assert_eq!(settle_conns(&mut obs, base), base);
    assert!(wait_for(Duration::from_secs(5), || open_fds(s.pid()) <= fds));
    let after = rss_kib(s.pid()).saturating_sub(before);
    eprintln!("RSS: +{during} KiB with {n} half values buffered, +{after} KiB after the kill");
    assert_eq!(obs.stat("bytes"), bytes, "a partial value was stored");
    obs.roundtrip(b"get killed0\r\n", b"END\r\n");
    if larder_only() {
        assert!(
            after < during / 4,
            "RSS +{after} KiB after the kill, +{during} KiB before"
        );
    }
}

/// Opens connections until the server refuses one (or `most` are open); the open ones.
fn fill_to_limit(s: &Server, most: usize) -> Vec<TcpStream> {
    let mut open = Vec::new();
    for _ in 0..most {
        let mut t = TcpStream::connect(s.addr).unwrap();
        t.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        // A refused connection may be closed before (or while) this is sent.
        let _ = t.write_all(b"version\r\n");
        let got = read_upto(&mut t, 16);
        if got == b"VERSION 1.6.18\r\n" {
            open.push(t);
            continue;
        }
        assert!(
            got.is_empty() || got.starts_with(b"ERROR Too many"),
            "neither served nor refused: {:?}",
            String::from_utf8_lossy(&got)
        );
        return open;
    }
    open
}

#[test]
fn the_connection_limit_reached_and_released_serves_new_clients_at_once() {
    if !larder_only() {
        return; // memcached's -c counts its own descriptors too
    }
    let s = Server::start(&["-c", "40", "-t", "2"]);
    let mut open = fill_to_limit(&s, 100);
    assert_eq!(open.len(), 40);
    // Refused again and again while full; nothing is held for the refused.
    for _ in 0..20 {
        assert!(fill_to_limit(&s, 1).is_empty(), "served over the limit");
    }
    // Release five: new clients are served within moments, up to the limit again.
    open.truncate(35);
    let released = Instant::now();
    let mut again = Vec::new();
    while again.len() < 5 {
        assert!(
            released.elapsed() < Duration::from_secs(2),
            "not served again"
        );
        again.extend(fill_to_limit(&s, 1));
    }
    eprintln!("served again {:?} after the release", released.elapsed());
    assert!(fill_to_limit(&s, 1).is_empty(), "over the limit");
    drop(open);
    drop(again);
    std::thread::sleep(Duration::from_millis(300));
    let mut obs = common::Client::tcp(s.addr);
    assert_eq!(settle_conns(&mut obs, 1), 1);
    assert_eq!(fill_to_limit(&s, 100).len(), 39);
}

#[test]
fn thousands_of_idle_connections_leave_others_served() {
    let want = 2000;
    let limit = raise_nofile(want as u64 + 500);
    let n = want.min(limit.saturating_sub(300) as usize);
    if n < want {
        eprintln!("RLIMIT_NOFILE hard limit {limit}: {n} idle connections instead of {want}");
    }
    let s = Server::start(&["-c", "4096", "-t", "2"]);
    let mut obs = s.connect();
    let base = obs.stat("curr_connections");
    let fds = open_fds(s.pid());
    let idle: Vec<TcpStream> = (0..n)
        .map(|_| TcpStream::connect(s.addr).expect("connect"))
        .collect();
    assert_eq!(settle_conns(&mut obs, base + n as u64), base + n as u64);
    let started = Instant::now();
    for i in 0..50 {
        let mut c = s.connect();
        c.roundtrip(
            format!("set busy{i} 0 0 1\r\nx\r\nget busy{i}\r\n").as_bytes(),
            format!("STORED\r\nVALUE busy{i} 0 1\r\nx\r\nEND\r\n").as_bytes(),
        );
    }
    let took = started.elapsed();
    eprintln!("50 clients served in {took:?} beside {n} idle connections");
    assert!(took < Duration::from_secs(5), "{took:?}");
    drop(idle);
    assert_eq!(settle_conns(&mut obs, base), base);
    assert!(wait_for(Duration::from_secs(5), || open_fds(s.pid()) <= fds));
}

/// Several clients trickle a request one byte per 100 ms; on a single worker, another
/// client's round trips stay fast, and the server's memory does not grow.
#[test]
fn a_slowloris_holds_no_worker_and_no_memory() {
    let s = Server::start(&["-t", "1"]);
    let before = rss_kib(s.pid());
    let stop = Arc::new(AtomicBool::new(false));
    let addr = s.addr;
    let slow: Vec<_> = (0..8)
        .map(|i| {
            std::thread::spawn(move || {
                let mut t = TcpStream::connect(addr).unwrap();
                t.set_nodelay(true).unwrap();
                let req = set_req(&format!("slow{i}"), b"0123456789");
                for b in &req {
                    t.write_all(&[*b]).unwrap();
                    std::thread::sleep(Duration::from_millis(100));
                }
                t.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                assert_eq!(read_upto(&mut t, 8), b"STORED\r\n");
            })
        })
        .collect();
    // A slow multiget line and a slow value of a declared megabyte, too.
    let stop2 = Arc::clone(&stop);
    let trickle = std::thread::spawn(move || {
        let mut a = TcpStream::connect(addr).unwrap();
        let mut b = TcpStream::connect(addr).unwrap();
        b.write_all(b"set slowbig 0 0 1000000\r\n").unwrap();
        while !stop2.load(Ordering::Relaxed) {
            a.write_all(b"k").unwrap();
            b.write_all(b"v").unwrap();
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    let mut fast = s.connect();
    let mut worst = Duration::ZERO;
    let mut total = Duration::ZERO;
    let started = Instant::now();
    let mut n = 0u32;
    while started.elapsed() < Duration::from_secs(3) {
        let t = Instant::now();
        fast.roundtrip(b"version\r\n", b"VERSION 1.6.18\r\n");
        let took = t.elapsed();
        worst = worst.max(took);
        total += took;
        n += 1;
        std::thread::sleep(Duration::from_millis(5));
    }
    for h in slow {
        h.join().unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    trickle.join().unwrap();
    let grown = rss_kib(s.pid()).saturating_sub(before);
    eprintln!(
        "{n} round trips beside the slowloris: mean {:?}, worst {worst:?}; RSS +{grown} KiB",
        total / n
    );
    assert!(
        total / n < Duration::from_millis(20),
        "mean {:?}",
        total / n
    );
    assert!(worst < Duration::from_millis(500), "worst {worst:?}");
    for i in 0..8 {
        fast.roundtrip(
            format!("get slow{i}\r\n").as_bytes(),
            &get_reply(&format!("slow{i}"), b"0123456789"),
        );
    }
    if larder_only() {
        assert!(grown < 4 * 1024, "RSS grew by {grown} KiB");
    }
}

/// Opens `clients` connections that each pipeline 64 `get wide` (the value stored by the
/// caller) with a 4 KiB receive buffer and never read, waits until they are all counted and
/// until `conn_output_held` stops growing (every connection has got as far as it will), and
/// returns them with the bytes held then.
fn hog_wide(
    s: &Server,
    obs: &mut common::Client,
    base: u64,
    clients: usize,
) -> (Vec<TcpStream>, u64) {
    hog(s, obs, base, clients, &b"get wide\r\n".repeat(64))
}

/// As [`hog_wide`], each client sending `batch`.
fn hog(
    s: &Server,
    obs: &mut common::Client,
    base: u64,
    clients: usize,
    batch: &[u8],
) -> (Vec<TcpStream>, u64) {
    let hogs: Vec<TcpStream> = (0..clients)
        .map(|_| {
            let sock =
                socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
            sock.set_recv_buffer_size(4096).unwrap();
            sock.connect(&s.addr.into()).unwrap();
            let mut t: TcpStream = sock.into();
            t.write_all(batch).unwrap();
            t
        })
        .collect();
    assert_eq!(
        settle_conns(obs, base + clients as u64),
        base + clients as u64
    );
    let mut last = 0;
    wait_for(Duration::from_secs(5), || {
        std::thread::sleep(Duration::from_millis(200));
        let held = obs.stat("conn_output_held");
        let steady = held == last && held > 0;
        last = held;
        steady
    });
    (hogs, obs.stat("conn_output_held"))
}

/// `-o output_held_limit` sets that bound: at 4 MiB, 24 clients that ask for 8 MiB each
/// and never read leave at most 4 MiB plus one reply each held, and the setting shows in
/// `stats settings`.
#[test]
fn output_held_limit_sets_the_bound() {
    if !larder_only() {
        return;
    }
    let s = Server::start(&["-t", "2", "-o", "output_held_limit=4"]);
    let value = vec![b'r'; 128 * 1024];
    let mut obs = s.connect();
    obs.roundtrip(&set_req("wide", &value), b"STORED\r\n");
    assert_eq!(obs.setting("output_held_limit").as_deref(), Some("4194304"));
    let base = obs.stat("curr_connections");
    let clients = 24;
    let (hogs, held) = hog_wide(&s, &mut obs, base, clients);
    let bound = 4 * 1024 * 1024 + clients as u64 * (value.len() as u64 + 1024);
    assert!(held <= bound, "{held} bytes held, bound {bound}");
    assert!(
        obs.stat("conn_output_paused") > 0,
        "no connection was paused"
    );
    drop(hogs);
    assert_eq!(settle_conns(&mut obs, base), base);
    assert_eq!(obs.stat("conn_output_held"), 0);
}

/// Many clients pipeline requests for a large value and never read: the output held for
/// them all stays under the documented bound (`-o output_held_limit`, 32 MiB, plus about
/// one reply per connection), where each could otherwise hold 1 MiB and a value; other
/// clients are served meanwhile; and everything is given back when they leave.
#[test]
fn slow_readers_are_bounded_in_total() {
    if !larder_only() {
        return;
    }
    let s = Server::start(&["-t", "2", "-m", "64"]);
    let value = vec![b'r'; 128 * 1024];
    let mut obs = s.connect();
    obs.roundtrip(&set_req("wide", &value), b"STORED\r\n");
    let base = obs.stat("curr_connections");
    let before = rss_kib(s.pid());
    let clients = 150;
    // 64 gets of 128 KiB each: 8 MiB asked by each, 1.2 GiB in all, none of it read. The
    // clients' receive buffers are small, but the server's socket send buffers still take a
    // few MiB each (kernel memory, not the server's RSS); the rest is the server's to hold.
    let (hogs, held) = hog_wide(&s, &mut obs, base, clients);
    let paused = obs.stat("conn_output_paused");
    let grown = rss_kib(s.pid()).saturating_sub(before);
    eprintln!(
        "{clients} readers that never read: {} KiB held, RSS +{grown} KiB, {paused} pauses",
        held / 1024
    );
    let bound = 32 * 1024 * 1024 + clients as u64 * (value.len() as u64 + 1024);
    assert!(held <= bound, "{held} bytes held, bound {bound}");
    assert!(paused > 0, "no connection was paused");
    // Unbounded, each connection would hold up to 1 MiB + 128 KiB (170 MiB in all).
    assert!(grown < 96 * 1024, "RSS grew by {grown} KiB");
    let started = Instant::now();
    for _ in 0..20 {
        let mut c = s.connect();
        c.send(b"get wide\r\n");
        c.expect(&get_reply("wide", &value));
    }
    let took = started.elapsed();
    assert!(took < Duration::from_secs(5), "others waited: {took:?}");
    for (i, t) in hogs.into_iter().enumerate() {
        if i % 2 == 0 {
            drop(t);
        } else {
            common::reset(t);
        }
    }
    assert_eq!(settle_conns(&mut obs, base), base);
    assert_eq!(obs.stat("conn_output_held"), 0);
}

/// Large values are sent from item memory by reference, not copied for each reader: 100
/// clients that pipeline four gets of a 1 MB value and never read add far less than a copy
/// each to the RSS (before, each held 1 MiB of buffer plus a copy of the value: 200 such
/// clients took the RSS from 4 to 402 MB).
#[test]
fn slow_readers_of_a_large_value_share_one_copy() {
    if !larder_only() {
        return;
    }
    let s = Server::start(&["-t", "2", "-m", "64", "-I", "2m"]);
    let value: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
    let mut obs = s.connect();
    obs.roundtrip(&set_req("big", &value), b"STORED\r\n");
    let base = obs.stat("curr_connections");
    let before = rss_kib(s.pid());
    let clients = 100;
    let (hogs, held) = hog(&s, &mut obs, base, clients, &b"get big\r\n".repeat(4));
    let grown = rss_kib(s.pid()).saturating_sub(before);
    eprintln!(
        "{clients} readers of a 1 MB value that never read: {} KiB owed, RSS +{grown} KiB",
        held / 1024
    );
    // Tens of megabytes are owed (what the kernel's socket buffers did not take): copied,
    // they would be in the RSS.
    assert!(held > 16 * 1024 * 1024, "{held} bytes owed");
    assert!(grown < 24 * 1024, "RSS grew by {grown} KiB");
    let mut c = s.connect();
    c.send(b"get big\r\n");
    c.expect(&get_reply("big", &value));
    drop(c);
    drop(hogs);
    assert_eq!(settle_conns(&mut obs, base), base);
    assert_eq!(obs.stat("conn_output_held"), 0);
}

/// A value being sent by reference to a slow reader stays intact while other clients
/// overwrite its key and churn five times the cache through eviction: its segments are
/// passed over until the reader has them, and serve new items afterwards.
#[test]
fn a_value_sent_by_reference_survives_overwrite_and_eviction() {
    let s = Server::start(&["-t", "2", "-m", "8", "-I", "2m"]);
    let old: Vec<u8> = (0..1_000_000u32).map(|i| (i % 241) as u8).collect();
    let new: Vec<u8> = (0..1_000_000u32).map(|i| (i % 239) as u8 ^ 0x55).collect();
    let mut obs = s.connect();
    obs.roundtrip(&set_req("big", &old), b"STORED\r\n");
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    sock.connect(&s.addr.into()).unwrap();
    let mut reader: TcpStream = sock.into();
    reader.write_all(&b"get big\r\n".repeat(3)).unwrap();
    // Wait until the server is blocked on this reader with output owed.
    let mut last = 0;
    wait_for(Duration::from_secs(5), || {
        std::thread::sleep(Duration::from_millis(100));
        let held = obs.stat("conn_output_held");
        let steady = held == last && held > 0;
        last = held;
        steady
    });
    obs.roundtrip(&set_req("big", &new), b"STORED\r\n");
    let fill = vec![b'f'; 50_000];
    for i in 0..800 {
        obs.roundtrip(&set_req(&format!("fill{i}"), &fill), b"STORED\r\n");
    }
    let want = get_reply("big", &old);
    reader
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let got = read_upto(&mut reader, 3 * want.len());
    assert_eq!(got.len(), 3 * want.len(), "short reply");
    for (i, reply) in got.chunks(want.len()).enumerate() {
        assert!(
            reply == &want[..],
            "reply {i} differs from the value asked for"
        );
    }
    // The pinned memory is the cache's again: a large value still fits.
    obs.roundtrip(&set_req("again", &new), b"STORED\r\n");
    obs.send(b"get again\r\n");
    obs.expect(&get_reply("again", &new));
}
