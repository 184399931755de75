//! Soak: a few thousand connections, each ended in a random way (complete, partial
//! request, half-close, reset at a random point, in the middle of a value, with a large
//! multiget unread, or idle), from several threads at once. Afterwards the server's
//! `curr_connections`, open file descriptors and RSS are back near where they started.
//!
//! Bounded by `LARDER_SOAK_SECS` (default 30) and `LARDER_SOAK_CONNS` (default 4000);
//! the seed is printed (`LARDER_TEST_SEED` replays it).

mod common;
use common::{open_fds, reset, rss_kib, settle_conns, wait_for, Rng, Server};
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const BIG_KEYS: usize = 16;
const BIG_LEN: usize = 100_000;

fn multiget() -> Vec<u8> {
    let keys: Vec<String> = (0..BIG_KEYS).map(|i| format!("mg{i}")).collect();
    format!("get {}\r\n", keys.join(" ")).into_bytes()
}

/// Ends of a connection, in the order of the ending codes below.
const ENDINGS: [&str; 8] = [
    "complete",
    "partial request, close",
    "half-close after a partial request",
    "half-close after complete requests",
    "reset at a random point",
    "mid-value (close or reset)",
    "multiget unread (close or reset)",
    "idle",
];

/// One connection through ending `ending`; false when the server misbehaved (did not
/// answer, or did not close a half-closed connection).
fn one(addr: SocketAddr, r: &mut Rng, ending: usize) -> bool {
    let Ok(mut t) = TcpStream::connect(addr) else {
        return false;
    };
    let _ = t.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = t.set_write_timeout(Some(Duration::from_secs(5)));
    let k = r.next() % 1_000_000_000_000;
    let value = format!("soak-{k}-{}", "s".repeat(r.below(200)));
    let complete = format!("set s{k} 0 0 {}\r\n{value}\r\nget s{k}\r\n", value.len()).into_bytes();
    let half_close = |mut t: TcpStream| -> bool {
        let _ = t.shutdown(Shutdown::Write);
        let mut sink = Vec::new();
        match t.read_to_end(&mut sink) {
            Ok(_) => true,
            Err(e) => e.kind() == ErrorKind::ConnectionReset,
        }
    };
    match ending {
        0 => {
            if t.write_all(&complete).is_err() {
                return false;
            }
            let want = format!(
                "STORED\r\nVALUE s{k} 0 {}\r\n{value}\r\nEND\r\n",
                value.len()
            );
            let mut got = vec![0; want.len()];
            if t.read_exact(&mut got).is_err() {
                return false;
            }
            got == want.as_bytes()
        }
        1 | 2 | 4 => {
            let cut = 1 + r.below(complete.len() - 1);
            let _ = t.write_all(&complete[..cut]);
            match ending {
                1 => {
                    drop(t);
                    true
                }
                2 => half_close(t),
                _ => {
                    reset(t);
                    true
                }
            }
        }
        3 => {
            let _ = t.write_all(&complete.repeat(1 + r.below(5)));
            half_close(t)
        }
        5 => {
            let _ = t.write_all(format!("set sbig{k} 0 0 {BIG_LEN}\r\n").as_bytes());
            let part = r.below(BIG_LEN);
            let _ = t.write_all(&vec![b'p'; part]);
            if r.chance(1, 2) {
                drop(t);
            } else {
                reset(t);
            }
            true
        }
        6 => {
            let _ = t.write_all(&multiget());
            std::thread::sleep(Duration::from_micros(r.below(3000) as u64));
            if r.chance(1, 2) {
                drop(t);
            } else {
                reset(t);
            }
            true
        }
        _ => {
            drop(t);
            true
        }
    }
}

#[test]
fn thousands_of_random_endings_leave_nothing_behind() {
    let secs: u64 = std::env::var("LARDER_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    let total: usize = std::env::var("LARDER_SOAK_CONNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(4000);
    let seed = Rng::seed();
    eprintln!("soak seed {seed} (LARDER_TEST_SEED={seed} replays it): {total} connections, at most {secs} s");
    let s = Server::start(&["-t", "2", "-m", "64"]);
    let mut obs = s.connect();
    for i in 0..BIG_KEYS {
        let mut req = format!("set mg{i} 0 0 {BIG_LEN}\r\n").into_bytes();
        req.extend(std::iter::repeat(b'm').take(BIG_LEN));
        req.extend_from_slice(b"\r\n");
        obs.roundtrip(&req, b"STORED\r\n");
    }
    let base = obs.stat("curr_connections");
    let addr = s.addr;
    let run = |n: usize, seed: u64, deadline: Instant| -> (Vec<u64>, u64) {
        let done = Arc::new(AtomicUsize::new(0));
        let failed = Arc::new(AtomicU64::new(0));
        let counts: Arc<Vec<AtomicU64>> =
            Arc::new((0..ENDINGS.len()).map(|_| AtomicU64::new(0)).collect());
        let threads: Vec<_> = (0..8u64)
            .map(|t| {
                let (done, failed, counts) =
                    (Arc::clone(&done), Arc::clone(&failed), Arc::clone(&counts));
                std::thread::spawn(move || {
                    let mut r = Rng::new(seed ^ (t + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
                    while done.fetch_add(1, Ordering::Relaxed) < n && Instant::now() < deadline {
                        let ending = r.below(ENDINGS.len());
                        if !one(addr, &mut r, ending) {
                            failed.fetch_add(1, Ordering::Relaxed);
                            eprintln!("ending {:?} misbehaved", ENDINGS[ending]);
                        }
                        counts[ending].fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        (
            counts.iter().map(|c| c.load(Ordering::Relaxed)).collect(),
            failed.load(Ordering::Relaxed),
        )
    };
    // A warm-up round first: thread stacks, allocator arenas and the like are in place
    // before the starting values are read.
    let started = Instant::now();
    run(
        400,
        seed.wrapping_add(1),
        started + Duration::from_secs(secs),
    );
    assert_eq!(settle_conns(&mut obs, base), base);
    std::thread::sleep(Duration::from_millis(1500)); // idle buffers shrink once a second
    let fds = open_fds(s.pid());
    let rss = rss_kib(s.pid());

    let (counts, failed) = run(total, seed, started + Duration::from_secs(secs));
    let ran: u64 = counts.iter().sum();
    eprintln!(
        "{ran} connections in {:?}: {}",
        started.elapsed(),
        ENDINGS
            .iter()
            .zip(&counts)
            .map(|(e, c)| format!("{e} {c}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    assert_eq!(failed, 0, "connections misbehaved (seed {seed})");
    assert!(ran >= 1000, "only {ran} connections ran");
    assert_eq!(
        settle_conns(&mut obs, base),
        base,
        "curr_connections (seed {seed})"
    );
    assert!(
        wait_for(Duration::from_secs(5), || open_fds(s.pid()) <= fds),
        "{} file descriptors open, {fds} before",
        open_fds(s.pid())
    );
    std::thread::sleep(Duration::from_millis(1500));
    let after = rss_kib(s.pid());
    eprintln!("RSS {rss} KiB before, {after} KiB after; {fds} fds");
    if common::larder_only() {
        assert!(
            after < rss + 16 * 1024,
            "RSS {after} KiB after, {rss} KiB before"
        );
    }
    obs.roundtrip(b"version\r\n", b"VERSION 1.6.18\r\n");
}
