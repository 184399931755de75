//! A stripe's hash index with bounded growth: extendible hashing over small hashbrown tables.
//!
//! Entries are 4-byte record references; hash and equality come from the caller as closures
//! that read the key from segment memory (no key, no hash stored). A single
//! `hashbrown::HashTable` rehashes itself whole when it grows: O(items in the stripe) with
//! the stripe lock held, a stall of tens of milliseconds at a few million items that every
//! request on the stripe waits out. Here a stripe's index is a directory of sub-tables
//! chosen by hash bits [`DIR_SHIFT`].. ; a sub-table grows like any hashbrown table up to
//! [`MAX_BUCKETS`] buckets, and when that one is full it is *split* in two by its next hash
//! bit (extendible hashing: the directory doubles when the splitting table already uses as
//! many bits as it has). So one insert moves at most one sub-table's entries (≤
//! [`MAX_CAP`]) plus, rarely, a directory copy (4 bytes per sub-table, a few KiB): the
//! worst insert no longer grows with the cache (docs/STORE.md, "Index growth").
//!
//! Memory per item is hashbrown's own (1 control byte + 4 bytes per bucket, buckets at most
//! 7/8 full, a fresh half-full table after each split as after each hashbrown doubling), plus
//! one 40-byte sub-table header and at most two directory words per ~220–450 items.
//!
//! Bits: hashbrown uses the low bits of the hash (bucket, up to bit 8 here) and the top 7
//! (control byte); the store picks the stripe from bits 40.. ; the directory uses bits
//! 20..40, so none of the three choices weakens another.

use hashbrown::HashTable;

/// Buckets of a full sub-table (a power of two); its entries are what one split moves.
pub(crate) const MAX_BUCKETS: usize = 1 << 9;
/// Entries of a full sub-table (hashbrown keeps buckets at most 7/8 full).
pub(crate) const MAX_CAP: usize = MAX_BUCKETS / 8 * 7;
/// First hash bit the directory uses.
const DIR_SHIFT: u32 = 20;
/// Most directory bits (bits 20..40; past that a sub-table simply keeps growing).
const MAX_DEPTH: u32 = 20;

struct Sub {
    /// Hash bits this sub-table's entries share (its directory slots agree on them).
    depth: u32,
    table: HashTable<u32>,
}

/// One stripe's index (see the module doc).
pub(crate) struct Index {
    /// `1 << depth` slots, each the position of a sub-table in `subs`.
    dir: Vec<u32>,
    depth: u32,
    subs: Vec<Sub>,
    len: usize,
    /// A split's (entry, hash) pairs; kept between splits (at most [`MAX_CAP`] long).
    scratch: Vec<(u32, u64)>,
}

impl Default for Index {
    fn default() -> Index {
        Index::new()
    }
}

fn dir_bits(hash: u64) -> usize {
    (hash >> DIR_SHIFT) as usize
}

impl Index {
    /// An empty index: one empty sub-table (no allocation until the first insert).
    pub fn new() -> Index {
        Index {
            dir: vec![0],
            depth: 0,
            subs: vec![Sub {
                depth: 0,
                table: HashTable::new(),
            }],
            len: 0,
            scratch: Vec::new(),
        }
    }

    /// Entries in the index.
    pub fn len(&self) -> usize {
        self.len
    }

    fn sub_of(&self, hash: u64) -> usize {
        self.dir[dir_bits(hash) & ((1 << self.depth) - 1)] as usize
    }

    /// The entry for `hash` that `eq` accepts.
    pub fn find(&self, hash: u64, eq: impl FnMut(&u32) -> bool) -> Option<&u32> {
        self.subs[self.sub_of(hash)].table.find(hash, eq)
    }

    /// The entry for `hash` that `eq` accepts, to re-point it (same key, new record).
    pub fn find_mut(&mut self, hash: u64, eq: impl FnMut(&u32) -> bool) -> Option<&mut u32> {
        let s = self.sub_of(hash);
        self.subs[s].table.find_mut(hash, eq)
    }

    /// Removes the entry for `hash` that `eq` accepts; returns it.
    pub fn remove(&mut self, hash: u64, eq: impl FnMut(&u32) -> bool) -> Option<u32> {
        let s = self.sub_of(hash);
        let (r, _) = self.subs[s].table.find_entry(hash, eq).ok()?.remove();
        self.len -= 1;
        Some(r)
    }

    /// Adds an entry known not to be there. `rehash` gives any entry's hash (read back
    /// from its key) for the sub-table's own growth or a split; either is bounded by
    /// [`MAX_CAP`] entries.
    pub fn insert_unique(&mut self, hash: u64, r: u32, rehash: impl Fn(&u32) -> u64) {
        let mut s = self.sub_of(hash);
        let t = &self.subs[s].table;
        // Full at the largest size (or near it with tombstones): split instead of growing.
        // A smaller table grows (or rehashes in place) the hashbrown way, within the bound.
        if t.len() == t.capacity() && t.len() > MAX_CAP / 2 && self.subs[s].depth < MAX_DEPTH {
            self.split(s, &rehash);
            s = self.sub_of(hash);
        }
        self.subs[s].table.insert_unique(hash, r, &rehash);
        self.len += 1;
    }

    /// Splits sub-table `s` by its next hash bit: the entries with that bit set move to a
    /// new sub-table; the directory doubles first if `s` already uses all its bits.
    fn split(&mut self, s: usize, rehash: &impl Fn(&u32) -> u64) {
        let d = self.subs[s].depth;
        if d == self.depth {
            self.dir.extend_from_within(..);
            self.depth += 1;
        }
        let bit = 1usize << d;
        let old = std::mem::replace(&mut self.subs[s].table, HashTable::with_capacity(MAX_CAP));
        self.subs[s].depth = d + 1;
        // Hashes first, in a loop whose iterations do not depend on each other, so the
        // key reads (cache misses into segment memory) overlap; then the inserts.
        self.scratch.clear();
        self.scratch.extend(old.iter().map(|r| (*r, rehash(r))));
        drop(old);
        let mut high = HashTable::with_capacity(MAX_CAP);
        let low = &mut self.subs[s].table;
        for &(r, h) in &self.scratch {
            let t = if dir_bits(h) & bit != 0 {
                &mut high
            } else {
                &mut *low
            };
            t.insert_unique(h, r, rehash);
        }
        let n = self.subs.len() as u32;
        self.subs.push(Sub {
            depth: d + 1,
            table: high,
        });
        // The slots that pointed at `s` and have the new bit set now point at the new one.
        for (i, slot) in self.dir.iter_mut().enumerate() {
            if *slot == s as u32 && i & bit != 0 {
                *slot = n;
            }
        }
    }

    /// Makes room for `additional` more entries ahead of a bulk load (a snapshot import):
    /// splits sub-tables until an even share fits one without further growth.
    pub fn reserve(&mut self, additional: usize, rehash: impl Fn(&u32) -> u64) {
        let want = self.len + additional;
        // Sub-tables needed at ~3/4 of MAX_CAP each, as a power of two.
        let tables = want.div_ceil(MAX_CAP / 4 * 3).next_power_of_two();
        let target = tables.trailing_zeros().min(MAX_DEPTH);
        let mut s = 0;
        while s < self.subs.len() {
            if self.subs[s].depth < target {
                self.split(s, &rehash);
            } else {
                s += 1;
            }
        }
    }

    /// Every entry, in no particular order.
    #[cfg(test)]
    pub fn iter(&self) -> impl Iterator<Item = &u32> + '_ {
        self.subs.iter().flat_map(|s| s.table.iter())
    }

    /// Sub-tables: `iter_table(0..tables())` visits every entry, a bounded slice at a time.
    pub fn tables(&self) -> usize {
        self.subs.len()
    }

    /// The entries of sub-table `i` (at most [`MAX_CAP`] while the directory has bits
    /// left); none past the end.
    pub fn iter_table(&self, i: usize) -> impl Iterator<Item = &u32> + '_ {
        self.subs.get(i).into_iter().flat_map(|s| s.table.iter())
    }

    /// Drops every entry and sub-table.
    #[cfg(test)]
    pub fn clear(&mut self) {
        *self = Index::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// Entries are keys themselves here; the "hash" spreads them over all 64 bits.
    fn h(r: &u32) -> u64 {
        (u64::from(*r) ^ 0x9e37_79b9).wrapping_mul(0x9e37_79b9_7f4a_7c15)
    }

    #[test]
    fn grows_by_splits_and_keeps_every_entry() {
        let mut ix = Index::new();
        let n = 50 * MAX_CAP as u32;
        for r in 0..n {
            ix.insert_unique(h(&r), r, h);
        }
        assert_eq!(ix.len(), n as usize);
        assert!(ix.tables() >= 50, "split into {} tables", ix.tables());
        for s in &ix.subs {
            assert!(s.table.len() <= MAX_CAP, "a sub-table outgrew the bound");
        }
        for r in 0..n {
            assert_eq!(ix.find(h(&r), |&x| x == r), Some(&r));
        }
        assert_eq!(ix.find(h(&n), |&x| x == n), None);
        let mut seen: Vec<u32> = ix.iter().copied().collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..n).collect::<Vec<_>>());
        // The slice-by-slice walk (`stats sizes`) sees the same entries, each once.
        let mut sliced: Vec<u32> = (0..ix.tables())
            .flat_map(|i| ix.iter_table(i).copied().collect::<Vec<_>>())
            .collect();
        sliced.sort_unstable();
        assert_eq!(sliced, seen);
        assert_eq!(ix.iter_table(ix.tables()).count(), 0);
    }

    #[test]
    fn mixed_operations_match_a_map() {
        let mut ix = Index::new();
        let mut model: HashMap<u32, u32> = HashMap::new();
        // Entry value = key + 1_000_000 * generation; key recovered as value % 1_000_000.
        let key_hash = |r: &u32| h(&(r % 1_000_000));
        let mut x = 12345u64;
        for _ in 0..200_000 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let k = ((x >> 33) % 20_000) as u32;
            let hash = h(&k);
            match (x >> 20) % 3 {
                0 => {
                    if let std::collections::hash_map::Entry::Vacant(e) = model.entry(k) {
                        e.insert(k);
                        ix.insert_unique(hash, k, key_hash);
                    }
                }
                1 => {
                    let got = ix.remove(hash, |r| r % 1_000_000 == k);
                    assert_eq!(got, model.remove(&k));
                }
                _ => {
                    if let Some(v) = model.get_mut(&k) {
                        *v = (*v + 1_000_000) % 4_000_000;
                        let e = ix.find_mut(hash, |r| r % 1_000_000 == k).expect("present");
                        *e = *v;
                    }
                }
            }
        }
        assert_eq!(ix.len(), model.len());
        for (&k, &v) in &model {
            assert_eq!(ix.find(h(&k), |r| r % 1_000_000 == k), Some(&v));
        }
        ix.clear();
        assert_eq!(ix.len(), 0);
        assert_eq!(ix.iter().count(), 0);
    }

    #[test]
    fn reserve_presplits_and_loads_without_losing_entries() {
        let mut ix = Index::new();
        for r in 0..1000u32 {
            ix.insert_unique(h(&r), r, h);
        }
        ix.reserve(100_000, h);
        let before = ix.tables();
        assert!(before >= 100_000 / MAX_CAP);
        for r in 1000..101_000u32 {
            ix.insert_unique(h(&r), r, h);
        }
        assert_eq!(ix.len(), 101_000);
        for r in 0..101_000u32 {
            assert!(ix.find(h(&r), |&x| x == r).is_some());
        }
    }
}
