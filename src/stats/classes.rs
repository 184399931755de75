//! Per-class command counters: the eight `stats slabs` rows memcached keeps for every
//! slab class (`get_hits`, `cmd_set`, `delete_hits`, `incr_hits`, `decr_hits`,
//! `cas_hits`, `cas_badval`, `touch_hits`), counted per worker like every other
//! counter (single-writer atomics, summed on read).
//!
//! The class is larder's reporting class of the item (by its total size, see
//! docs/STORE.md): the item found for hits, the item sent for `cmd_set` and the CAS
//! counters (memcached counts `cmd_set` by the class of the item it allocates for the
//! data sent, too), and the item after the update for incr/decr.

use super::Counter;

/// Class ids are below this (memcached's `MAX_NUMBER_OF_SLAB_CLASSES`).
pub const CLASSES: usize = 64;

/// The names of the per-class command counters, in memcached's `stats slabs` order.
pub const NAMES: [&str; 8] = [
    "get_hits",
    "cmd_set",
    "delete_hits",
    "incr_hits",
    "decr_hits",
    "cas_hits",
    "cas_badval",
    "touch_hits",
];

/// Which per-class counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(usize)]
pub enum ClassCmd {
    /// A get (or gat, or meta get) found the item.
    GetHit = 0,
    /// A storage command was received.
    Set,
    /// A delete found the item.
    DeleteHit,
    /// An incr found the item.
    IncrHit,
    /// A decr found the item.
    DecrHit,
    /// A cas stored.
    CasHit,
    /// A cas found a different CAS unique.
    CasBadval,
    /// A touch (or gat) found the item.
    TouchHit,
}

/// One worker's per-class counters.
#[derive(Debug)]
pub struct ClassCounters(Box<[[Counter; 8]]>);

impl Default for ClassCounters {
    fn default() -> Self {
        ClassCounters((0..CLASSES).map(|_| Default::default()).collect())
    }
}

impl ClassCounters {
    /// Counts one `cmd` on class `class` (ignored past the last class id).
    #[inline]
    pub fn incr(&self, class: u8, cmd: ClassCmd) {
        if let Some(row) = self.0.get(usize::from(class)) {
            row[cmd as usize].incr();
        }
    }

    pub(super) fn add_to(&self, sums: &mut ClassTotals) {
        for (s, row) in sums.0.iter_mut().zip(self.0.iter()) {
            for (a, c) in s.iter_mut().zip(row) {
                *a = a.wrapping_add(c.get());
            }
        }
    }
}

/// Summed per-class counters: `[class][counter]` in [`NAMES`] order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassTotals(pub Vec<[u64; 8]>);

impl Default for ClassTotals {
    fn default() -> Self {
        ClassTotals(vec![[0; 8]; CLASSES])
    }
}

impl ClassTotals {
    pub(super) fn minus(mut self, base: &ClassTotals) -> ClassTotals {
        for (s, b) in self.0.iter_mut().zip(&base.0) {
            for (a, b) in s.iter_mut().zip(b) {
                *a = a.wrapping_sub(*b);
            }
        }
        self
    }

    /// The counters of class `id` in [`NAMES`] order (zeros past the last id).
    pub fn class(&self, id: u8) -> [u64; 8] {
        self.0.get(usize::from(id)).copied().unwrap_or([0; 8])
    }
}
