//! Per-prefix statistics (`stats detail on|off|dump`, memcached's `stats_prefix.c`).
//!
//! While enabled, every get, set and delete of a key that contains the prefix delimiter
//! (`-D`, default `:`) counts under the part of the key before the first delimiter.
//! Keys without the delimiter are not counted, as in memcached. The table sits behind
//! one mutex, as memcached's does, and is only touched while detail is on (one relaxed
//! load otherwise). Unlike memcached, the table holds at most [`MAX_PREFIXES`] prefixes
//! (later ones are not counted), so a key space of unique prefixes cannot grow it
//! without bound.
//!
//! `stats detail dump` lists prefixes in memcached's order: memcached keeps them in 256
//! hash buckets (MurmurHash3 of the prefix, memcached's default hash), newest first in
//! each bucket, and prints bucket by bucket.

use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};

/// Most distinct prefixes counted.
pub const MAX_PREFIXES: usize = 65_536;

const BUCKETS: usize = 256;

#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    get: u64,
    hit: u64,
    set: u64,
    del: u64,
    /// Insertion order, to list a bucket newest first.
    seq: u64,
}

/// The per-prefix counters.
#[derive(Debug)]
pub struct PrefixStats {
    enabled: AtomicBool,
    delimiter: u8,
    table: Mutex<(HashMap<Vec<u8>, Counts>, u64)>,
}

/// What is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrefixOp {
    /// A lookup, found or not.
    Get {
        /// The key was found.
        hit: bool,
    },
    /// A storage command.
    Set,
    /// A delete.
    Delete,
}

impl PrefixStats {
    /// Counting off, with this delimiter.
    pub fn new(delimiter: u8) -> PrefixStats {
        PrefixStats {
            enabled: AtomicBool::new(false),
            delimiter,
            table: Mutex::new((HashMap::new(), 0)),
        }
    }

    /// `stats detail on|off`.
    pub fn set_enabled(&self, on: bool) {
        self.enabled.store(on, Ordering::Relaxed);
    }

    /// Whether `stats detail on` is in force.
    #[inline]
    pub fn enabled(&self) -> bool {
        self.enabled.load(Ordering::Relaxed)
    }

    /// Counts `op` on `key` if detail is on and the key has a prefix.
    #[inline]
    pub fn record(&self, key: &[u8], op: PrefixOp) {
        if self.enabled() {
            self.record_slow(key, op);
        }
    }

    fn record_slow(&self, key: &[u8], op: PrefixOp) {
        // memcached stops at a NUL byte as well (keys are C strings there).
        let Some(end) = key.iter().position(|&b| b == self.delimiter || b == 0) else {
            return;
        };
        if key[end] == 0 {
            return;
        }
        let prefix = &key[..end];
        let mut guard = self.table.lock();
        let (table, seq) = &mut *guard;
        let counts = match table.get_mut(prefix) {
            Some(c) => c,
            None => {
                if table.len() >= MAX_PREFIXES {
                    return;
                }
                *seq += 1;
                let s = *seq;
                table.entry(prefix.to_vec()).or_insert(Counts {
                    seq: s,
                    ..Counts::default()
                })
            }
        };
        match op {
            PrefixOp::Get { hit } => {
                counts.get += 1;
                counts.hit += u64::from(hit);
            }
            PrefixOp::Set => counts.set += 1,
            PrefixOp::Delete => counts.del += 1,
        }
    }

    /// `stats detail dump`: `PREFIX <p> get <n> hit <n> set <n> del <n>\r\n` lines then
    /// `END\r\n`, appended to `out`.
    pub fn dump(&self, out: &mut Vec<u8>) {
        use std::io::Write;
        let guard = self.table.lock();
        let mut rows: Vec<(&Vec<u8>, &Counts)> = guard.0.iter().collect();
        // Bucket order, newest first within a bucket (memcached pushes at the head).
        rows.sort_by_key(|(p, c)| (murmur3_32(p) as usize % BUCKETS, std::cmp::Reverse(c.seq)));
        for (p, c) in rows {
            out.extend_from_slice(b"PREFIX ");
            out.extend_from_slice(p);
            let _ = write!(
                out,
                " get {} hit {} set {} del {}\r\n",
                c.get, c.hit, c.set, c.del
            );
        }
        out.extend_from_slice(b"END\r\n");
    }

    /// Forgets every prefix (`stats reset` clears them in memcached too).
    pub fn clear(&self) {
        let mut guard = self.table.lock();
        guard.0.clear();
    }
}

/// MurmurHash3_x86_32 with seed 0 (memcached's `MurmurHash3_x86_32`, its default hash).
pub fn murmur3_32(data: &[u8]) -> u32 {
    const C1: u32 = 0xcc9e_2d51;
    const C2: u32 = 0x1b87_3593;
    let mut h: u32 = 0;
    let mut chunks = data.chunks_exact(4);
    for b in &mut chunks {
        let mut k = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        k = k.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2);
        h ^= k;
        h = h.rotate_left(13).wrapping_mul(5).wrapping_add(0xe654_6b64);
    }
    let tail = chunks.remainder();
    let mut k: u32 = 0;
    if tail.len() >= 3 {
        k ^= u32::from(tail[2]) << 16;
    }
    if tail.len() >= 2 {
        k ^= u32::from(tail[1]) << 8;
    }
    if !tail.is_empty() {
        k ^= u32::from(tail[0]);
        k = k.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2);
        h ^= k;
    }
    h ^= data.len() as u32;
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^= h >> 16;
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur3_known_values() {
        assert_eq!(murmur3_32(b""), 0);
        assert_eq!(murmur3_32(b"hello"), 0x248b_fa47);
        assert_eq!(
            murmur3_32(b"The quick brown fox jumps over the lazy dog"),
            0x2e4f_f723
        );
    }

    #[test]
    fn counts_keys_with_a_delimiter_only_while_enabled() {
        let p = PrefixStats::new(b':');
        p.record(b"foo:a", PrefixOp::Set);
        p.set_enabled(true);
        p.record(b"foo:a", PrefixOp::Get { hit: true });
        p.record(b"foo:b", PrefixOp::Get { hit: false });
        p.record(b"foo:b", PrefixOp::Delete);
        p.record(b"nodelim", PrefixOp::Set);
        let mut out = Vec::new();
        p.dump(&mut out);
        assert_eq!(out, b"PREFIX foo get 2 hit 1 set 0 del 1\r\nEND\r\n");
    }
}
