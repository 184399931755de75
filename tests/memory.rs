//! Memory over the socket: any value that fits the limit is stored when eviction can make
//! room, at every `-t`, and a mixed-size fill of a small cache holds data in most of `-m`;
//! a full cache evicts old items, and with `-M` refuses instead.
//! Runs against memcached too (`LARDER_TEST_BIN=/usr/bin/memcached`), except the `bytes`
//! floor, which memcached's per-class pages do not promise.

mod common;

use common::{larder_only, Server};

/// A value size from a tiny deterministic generator: `lo..hi`.
struct Sizes(u64);

impl Sizes {
    fn next(&mut self, lo: usize, hi: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        lo + (self.0 % (hi - lo) as u64) as usize
    }
}

fn set(c: &mut common::Client, key: &str, len: usize) -> Vec<u8> {
    let mut req = format!("set {key} 0 0 {len}\r\n").into_bytes();
    req.resize(req.len() + len, b'v');
    req.extend_from_slice(b"\r\n");
    c.send(&req);
    c.read_line()
}

#[test]
fn large_values_one_after_another_are_all_stored_at_m48() {
    for threads in ["1", "4", "16"] {
        let server = Server::start(&["-m", "48", "-t", threads]);
        let mut c = server.connect();
        let mut sizes = Sizes(0x5EED_1234);
        for i in 0..200 {
            let len = sizes.next(550_000, 1_000_000);
            let reply = set(&mut c, &format!("big:{}", i % 61), len);
            assert_eq!(
                reply,
                b"STORED\r\n",
                "-t {threads}: set {i} of {len} bytes: {}",
                String::from_utf8_lossy(&reply)
            );
        }
    }
}

#[test]
fn one_megabyte_values_from_many_connections_are_all_stored() {
    let server = Server::start(&["-m", "64", "-t", "8"]);
    std::thread::scope(|s| {
        for t in 0..4 {
            let mut c = server.connect();
            s.spawn(move || {
                for i in 0..60 {
                    let reply = set(&mut c, &format!("mb:{t}:{i}"), 1_000_000);
                    assert_eq!(reply, b"STORED\r\n", "connection {t}, set {i}");
                }
            });
        }
    });
}

#[test]
fn mixed_sizes_fill_most_of_a_small_cache() {
    if !larder_only() {
        return;
    }
    for threads in ["2", "16"] {
        let server = Server::start(&["-m", "8", "-t", threads]);
        let mut c = server.connect();
        let mut sizes = Sizes(0xC0FF_EE00);
        // Pipelined in batches; about 6x the cache's worth of values.
        let mut batch = Vec::new();
        for i in 0..60_000u32 {
            let len = if i % 10 == 0 {
                sizes.next(1_000, 16_384)
            } else {
                sizes.next(32, 1_000)
            };
            batch.extend_from_slice(format!("set k:{i} 0 0 {len} noreply\r\n").as_bytes());
            batch.resize(batch.len() + len, b'v');
            batch.extend_from_slice(b"\r\n");
            if batch.len() > 256 << 10 {
                c.send(&batch);
                batch.clear();
            }
        }
        c.send(&batch);
        let limit = c.stat("limit_maxbytes") as f64;
        let bytes = c.stat("bytes") as f64;
        assert!(c.stat("evictions") > 0);
        assert!(
            bytes >= 0.80 * limit,
            "-t {threads}: bytes {bytes} is under 80% of -m 8 ({limit})"
        );
    }
}

#[test]
fn memory_limit_evicts_old_items() {
    let s = Server::start(&["-m", "8"]);
    let mut c = s.connect();
    let value = vec![b'v'; 1000];
    for i in 0..20_000 {
        let mut req = format!("set key{i} 0 0 1000 noreply\r\n").into_bytes();
        req.extend_from_slice(&value);
        req.extend_from_slice(b"\r\n");
        c.send(&req);
    }
    c.roundtrip(b"set last 0 0 1\r\nx\r\n", b"STORED\r\n");
    assert!(c.stat("evictions") > 0);
    c.roundtrip(b"get last\r\n", b"VALUE last 0 1\r\nx\r\nEND\r\n");
    c.roundtrip(b"get key0\r\n", b"END\r\n");
}

#[test]
fn no_evictions_with_dash_m_capital() {
    let s = Server::start(&["-m", "8", "-M"]);
    let mut c = s.connect();
    let value = vec![b'v'; 1000];
    let mut refused = false;
    for i in 0..20_000 {
        let mut req = format!("set key{i} 0 0 1000\r\n").into_bytes();
        req.extend_from_slice(&value);
        req.extend_from_slice(b"\r\n");
        c.send(&req);
        let line = c.read_line();
        if line == b"SERVER_ERROR out of memory storing object\r\n" {
            refused = true;
            break;
        }
        assert_eq!(line, b"STORED\r\n");
    }
    assert!(refused, "-M never refused a set");
    c.roundtrip(b"get key0\r\n", b"VALUE key0 0 1000\r\n");
}
