//! The network fuzzer: several clients stream mutated text, meta and binary requests at a
//! running server, cut into random chunks, and end each connection abruptly (a close
//! with replies unread, a reset, a half-close, or mid-request); meanwhile a watcher checks
//! the server keeps answering. Afterwards: the canary keys are intact and
//! `curr_connections` is back to its idle value.
//!
//! It runs for `LARDER_NETFUZZ_SECS` seconds (default 20); the seed is printed, and
//! `LARDER_TEST_SEED=<seed>` replays the same streams (timing aside).

mod common;
use common::{reset, settle_conns, Rng, Server};
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const CANARIES: usize = 64;

fn canary_value(i: usize) -> String {
    format!("canary-value-{i}-{}", "c".repeat(i % 17))
}

fn key(r: &mut Rng) -> String {
    format!("fz{}", r.below(64))
}

fn data(r: &mut Rng) -> Vec<u8> {
    let len = match r.below(10) {
        0 => 0,
        1 => r.below(4000),
        _ => r.below(40),
    };
    (0..len).map(|i| b'a' + ((i + len) % 26) as u8).collect()
}

fn text_request(r: &mut Rng) -> Vec<u8> {
    let k = key(r);
    let nr = if r.chance(1, 6) { " noreply" } else { "" };
    let line = |s: String| s.into_bytes();
    match r.below(16) {
        0..=2 => {
            let verb = ["set", "add", "replace", "append", "prepend"][r.below(5)];
            let d = data(r);
            let mut v = format!(
                "{verb} {k} {} {} {}{nr}\r\n",
                r.below(100),
                r.below(3),
                d.len()
            )
            .into_bytes();
            v.extend_from_slice(&d);
            v.extend_from_slice(b"\r\n");
            v
        }
        3 => {
            let d = data(r);
            let mut v = format!("cas {k} 0 0 {} {}{nr}\r\n", d.len(), r.below(1000)).into_bytes();
            v.extend_from_slice(&d);
            v.extend_from_slice(b"\r\n");
            v
        }
        4..=5 => {
            let most = if r.chance(1, 10) { 300 } else { 5 };
            let n = 1 + r.below(most);
            let keys: Vec<String> = (0..n).map(|_| key(r)).collect();
            let verb = ["get", "gets", "bget"][r.below(3)];
            line(format!("{verb} {}\r\n", keys.join(" ")))
        }
        6 => line(format!(
            "gat{} {} {k}\r\n",
            ["", "s"][r.below(2)],
            r.below(100)
        )),
        7 => line(format!(
            "{} {k} {}{nr}\r\n",
            ["incr", "decr"][r.below(2)],
            r.next() >> r.below(64)
        )),
        8 => line(format!("delete {k}{nr}\r\n")),
        9 => line(format!("touch {k} {}{nr}\r\n", r.below(100))),
        10 => line(
            [
                "version\r\n",
                "verbosity 1\r\n",
                "stats\r\n",
                "stats settings\r\n",
            ][r.below(4)]
            .to_string(),
        ),
        11 => {
            line(["stats items\r\n", "stats slabs\r\n", "stats conns\r\n"][r.below(3)].to_string())
        }
        _ => meta_request(r),
    }
}

fn meta_request(r: &mut Rng) -> Vec<u8> {
    let k = key(r);
    let flags = |r: &mut Rng, set: &[&str]| -> String {
        (0..r.below(5))
            .map(|_| set[r.below(set.len())].to_string())
            .collect::<Vec<_>>()
            .join(" ")
    };
    match r.below(7) {
        0 | 1 => format!(
            "mg {k} {}\r\n",
            flags(
                r,
                &["v", "f", "t", "c", "k", "s", "h", "l", "O123", "q", "T30", "N30", "R5"]
            )
        )
        .into_bytes(),
        2 => {
            let d = data(r);
            let mut v = format!(
                "ms {k} {} {}\r\n",
                d.len(),
                flags(
                    r,
                    &["T30", "F5", "I", "q", "MA", "MP", "ME", "MR", "MS", "C1", "k"]
                )
            )
            .into_bytes();
            v.extend_from_slice(&d);
            v.extend_from_slice(b"\r\n");
            v
        }
        3 => format!("md {k} {}\r\n", flags(r, &["q", "I", "T30", "C1", "k"])).into_bytes(),
        4 => format!(
            "ma {k} {}\r\n",
            flags(r, &["N30", "J7", "D3", "MI", "MD", "v", "t", "c", "q"])
        )
        .into_bytes(),
        5 => b"mn\r\n".to_vec(),
        _ => format!("me {k}\r\n").into_bytes(),
    }
}

fn binary_frame(op: u8, key: &[u8], extras: &[u8], value: &[u8], cas: u64) -> Vec<u8> {
    let mut v = vec![0x80, op];
    v.extend_from_slice(&(key.len() as u16).to_be_bytes());
    v.push(extras.len() as u8);
    v.extend_from_slice(&[0, 0, 0]);
    v.extend_from_slice(&((extras.len() + key.len() + value.len()) as u32).to_be_bytes());
    v.extend_from_slice(&0x1234_5678u32.to_be_bytes());
    v.extend_from_slice(&cas.to_be_bytes());
    v.extend_from_slice(extras);
    v.extend_from_slice(key);
    v.extend_from_slice(value);
    v
}

fn binary_request(r: &mut Rng) -> Vec<u8> {
    let k = key(r).into_bytes();
    let cas = if r.chance(1, 5) { r.next() % 1000 } else { 0 };
    match r.below(10) {
        // Get, GetQ, GetK, GetKQ, Delete
        0 | 1 => binary_frame([0x00, 0x09, 0x0c, 0x0d, 0x04][r.below(5)], &k, &[], &[], 0),
        // Set, Add, Replace and their quiet forms
        2 | 3 => {
            let mut extras = (r.below(100) as u32).to_be_bytes().to_vec();
            extras.extend_from_slice(&(r.below(3) as u32).to_be_bytes());
            let op = [0x01, 0x02, 0x03, 0x11, 0x12, 0x13][r.below(6)];
            binary_frame(op, &k, &extras, &data(r), cas)
        }
        // Increment, Decrement
        4 => {
            let mut extras = (r.next() >> r.below(64)).to_be_bytes().to_vec();
            extras.extend_from_slice(&(r.below(100) as u64).to_be_bytes());
            let exp: u32 = if r.chance(1, 3) { 0xffff_ffff } else { 0 };
            extras.extend_from_slice(&exp.to_be_bytes());
            binary_frame([0x05, 0x06, 0x15, 0x16][r.below(4)], &k, &extras, &[], cas)
        }
        // Append, Prepend
        5 => binary_frame([0x0e, 0x0f][r.below(2)], &k, &[], &data(r), cas),
        // Touch, Gat, GatK
        6 => binary_frame(
            [0x1c, 0x1d, 0x23][r.below(3)],
            &k,
            &(r.below(100) as u32).to_be_bytes(),
            &[],
            0,
        ),
        // Noop, Version, Stat
        7 => binary_frame([0x0a, 0x0b, 0x10][r.below(3)], &[], &[], &[], 0),
        8 => binary_frame(0x10, b"settings", &[], &[], 0),
        _ => binary_frame(0x20, &[], &[], &[], 0),
    }
}

/// Byte-level mutations of a request stream.
fn mutate(r: &mut Rng, s: &mut Vec<u8>) {
    for _ in 0..r.below(4) {
        if s.is_empty() {
            s.push(r.next() as u8);
            continue;
        }
        let at = r.below(s.len());
        match r.below(9) {
            0 => s[at] = r.next() as u8,
            1 => s[at] ^= 1 << r.below(8),
            2 => {
                let n = r.below(8).min(s.len() - at);
                s.drain(at..at + n);
            }
            3 => {
                let junk: Vec<u8> = (0..r.below(8)).map(|_| r.next() as u8).collect();
                s.splice(at..at, junk);
            }
            4 => {
                let n = r.below(64).min(s.len() - at);
                let copy = s[at..at + n].to_vec();
                s.splice(at..at, copy);
            }
            5 => s.truncate(at),
            6 => {
                let special: [&[u8]; 8] = [
                    b"\r\n",
                    b"\n",
                    b" ",
                    b"\0",
                    b"\x80",
                    b"4294967296",
                    b"18446744073709551615",
                    b"-1",
                ];
                s.splice(at..at, special[r.below(special.len())].iter().copied());
            }
            7 => {
                // Replace a digit run with a big number (lengths, counts).
                if s[at].is_ascii_digit() {
                    let end = at + s[at..].iter().take_while(|b| b.is_ascii_digit()).count();
                    let big = format!("{}", r.next() >> r.below(40));
                    s.splice(at..end, big.into_bytes());
                }
            }
            _ => {
                // A binary length field set to something large.
                if s.len() >= 24 && s[0] == 0x80 {
                    let v = (r.next() as u32) >> r.below(32);
                    s[8..12].copy_from_slice(&v.to_be_bytes());
                }
            }
        }
    }
}

/// Reads whatever has arrived, without waiting for more.
fn drain_now(t: &mut TcpStream) {
    let _ = t.set_nonblocking(true);
    let mut buf = [0u8; 65536];
    loop {
        match t.read(&mut buf) {
            Ok(0) => break,
            Ok(_) => {}
            Err(_) => break,
        }
    }
    let _ = t.set_nonblocking(false);
}

/// One fuzzed connection: a stream of requests in one dialect (or mixed), mutated,
/// sent in random chunks, and ended in a random way.
fn one_connection(addr: SocketAddr, r: &mut Rng, slow_closes: &AtomicU64) {
    let Ok(mut t) = TcpStream::connect(addr) else {
        return;
    };
    let _ = t.set_nodelay(r.chance(1, 2));
    let _ = t.set_write_timeout(Some(Duration::from_secs(2)));
    let _ = t.set_read_timeout(Some(Duration::from_secs(5)));
    let dialect = r.below(4);
    let mut stream = Vec::new();
    for _ in 0..1 + r.below(20) {
        let req = match dialect {
            0 => text_request(r),
            1 => meta_request(r),
            2 => binary_request(r),
            _ => match r.below(3) {
                0 => text_request(r),
                1 => meta_request(r),
                _ => binary_request(r),
            },
        };
        stream.extend_from_slice(&req);
    }
    if r.chance(3, 4) {
        mutate(r, &mut stream);
    }
    // Random chunks, sometimes with a pause between them.
    let mut at = 0;
    while at < stream.len() {
        let most = if r.chance(1, 3) { 8 } else { 2048 };
        let n = (1 + r.below(most)).min(stream.len() - at);
        if t.write_all(&stream[at..at + n]).is_err() {
            return; // the server closed it (quit, a fatal error, or a write timeout)
        }
        at += n;
        if r.chance(1, 20) {
            std::thread::sleep(Duration::from_micros(r.below(2000) as u64));
        }
        if r.chance(1, 50) {
            drain_now(&mut t);
        }
    }
    match r.below(5) {
        // Close at once, replies unread (a reset when replies have arrived).
        0 => drop(t),
        1 => reset(t),
        // Half-close: the server must answer what was complete and then close.
        2 | 3 => {
            let _ = t.shutdown(Shutdown::Write);
            let mut sink = Vec::new();
            let started = Instant::now();
            match t.read_to_end(&mut sink) {
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
                Err(e) => {
                    // Timed out: the server kept a half-closed connection open.
                    slow_closes.fetch_add(1, Ordering::Relaxed);
                    eprintln!(
                        "half-closed connection not closed after {:?} ({e}); stream {:?}",
                        started.elapsed(),
                        String::from_utf8_lossy(&stream[..stream.len().min(300)])
                    );
                }
            }
        }
        // Read a little, then leave.
        _ => {
            std::thread::sleep(Duration::from_millis(1));
            drain_now(&mut t);
            drop(t);
        }
    }
}

#[test]
fn mutated_streams_with_abrupt_endings_leave_the_server_whole() {
    let secs: u64 = std::env::var("LARDER_NETFUZZ_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let seed = Rng::seed();
    eprintln!("netfuzz seed {seed} (LARDER_TEST_SEED={seed} replays it), {secs} s");
    // -F: a mutated stream must not be able to flush the canaries away.
    let s = Server::start(&["-t", "4", "-F", "-m", "64"]);
    let mut obs = s.connect();
    for i in 0..CANARIES {
        let v = canary_value(i);
        obs.roundtrip(
            format!("set canary{i} {i} 0 {}\r\n{v}\r\n", v.len()).as_bytes(),
            b"STORED\r\n",
        );
    }
    let base = obs.stat("curr_connections");

    let deadline = Instant::now() + Duration::from_secs(secs);
    let stop = Arc::new(AtomicBool::new(false));
    let slow_closes = Arc::new(AtomicU64::new(0));
    let conns = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..6u64)
        .map(|w| {
            let (stop, slow_closes, conns) = (
                Arc::clone(&stop),
                Arc::clone(&slow_closes),
                Arc::clone(&conns),
            );
            let addr = s.addr;
            std::thread::spawn(move || {
                let mut r = Rng::new(seed ^ (w + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
                while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                    one_connection(addr, &mut r, &slow_closes);
                    conns.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    // The watcher: a fresh connection every 100 ms must be answered promptly.
    let worst = Arc::new(Mutex::new(Duration::ZERO));
    let watcher = {
        let (stop, worst) = (Arc::clone(&stop), Arc::clone(&worst));
        let addr = s.addr;
        std::thread::spawn(move || {
            let mut i = 0usize;
            while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                let started = Instant::now();
                let mut c = common::Client::tcp(addr);
                let k = i % CANARIES;
                let v = canary_value(k);
                c.roundtrip(
                    format!("get canary{k}\r\n").as_bytes(),
                    format!("VALUE canary{k} {k} {}\r\n{v}\r\nEND\r\n", v.len()).as_bytes(),
                );
                let took = started.elapsed();
                let mut w = worst.lock().unwrap();
                *w = (*w).max(took);
                drop(w);
                i += 1;
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };
    for h in workers {
        if h.join().is_err() {
            stop.store(true, Ordering::Relaxed);
            panic!("a fuzzing client panicked (seed {seed})");
        }
    }
    stop.store(true, Ordering::Relaxed);
    watcher.join().expect("the watcher was not answered");
    let worst = *worst.lock().unwrap();
    eprintln!(
        "{} fuzzed connections; slowest watcher round trip {worst:?}",
        conns.load(Ordering::Relaxed)
    );
    assert!(worst < Duration::from_secs(2), "watcher waited {worst:?}");
    assert_eq!(
        slow_closes.load(Ordering::Relaxed),
        0,
        "half-closed connections left open (seed {seed})"
    );
    // Canaries intact, over text and binary.
    for i in 0..CANARIES {
        let v = canary_value(i);
        obs.roundtrip(
            format!("get canary{i}\r\n").as_bytes(),
            format!("VALUE canary{i} {i} {}\r\n{v}\r\nEND\r\n", v.len()).as_bytes(),
        );
    }
    let mut b = common::Client::tcp(s.addr);
    let frame = binary_frame(0x00, b"canary3", &[], &[], 0);
    b.send(&frame);
    let head = b.read_exact(24);
    assert_eq!(head[0], 0x81);
    assert_eq!(&head[6..8], &[0, 0], "binary get of a canary failed");
    let body = u32::from_be_bytes([head[8], head[9], head[10], head[11]]) as usize;
    let body = b.read_exact(body);
    assert_eq!(&body[4..], canary_value(3).as_bytes());
    drop(b);
    assert_eq!(
        settle_conns(&mut obs, base),
        base,
        "curr_connections not back to idle (seed {seed})"
    );
}
