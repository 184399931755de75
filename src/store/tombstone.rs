//! Delete by prefix (`flush_prefix`): O(1) in the cache size for the caller.
//!
//! A tombstone records a key prefix and, for every stripe, the next CAS unique that stripe
//! will hand out at the moment of the delete. CAS uniques only grow within a stripe, so an
//! item under the prefix whose CAS is below its stripe's floor was stored before the
//! delete and is invisible from then on (every lookup, listing and eviction goes through
//! `Stripe::validity`, which asks [`Tombstones::hides`]); items stored after it have a
//! higher CAS and are returned. Nothing is walked at delete time: the hidden items are
//! unlinked lazily, by a lookup that finds one, by eviction (never kept), or by the
//! maintenance crawl, which reclaims them like expired items.
//!
//! A tombstone is dropped once every stripe's crawl has completed a whole lap that began
//! after it was recorded (two wraps of the crawl cursor): by then every item it hid has
//! been unlinked, and eviction never moves a hidden item (it checks visibility first), so
//! none can survive behind the cursor.
//!
//! Cost when no tombstone is pending: one relaxed load per lookup. With `n` pending: a
//! read lock and `n` prefix comparisons per lookup. At most [`MAX_TOMBSTONES`] are
//! pending at once. Requires CAS (`-C` stores none): without it there is no order to
//! compare, and the command is refused.
//!
//! Lock order: the tombstone lock is taken (read) under a stripe lock, and (write) with no
//! stripe lock held, so it can never be part of a cycle.

use parking_lot::RwLock;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Most tombstones pending at once.
pub const MAX_TOMBSTONES: usize = 1024;

#[derive(Debug)]
struct Tombstone {
    prefix: Box<[u8]>,
    /// Per stripe: items with a CAS below this were stored before the delete.
    cas_floor: Box<[u64]>,
    /// Per stripe: the crawl laps completed when it was recorded.
    laps: Box<[u64]>,
}

/// The pending prefix deletes of one store.
#[derive(Debug, Default)]
pub(crate) struct Tombstones {
    count: AtomicUsize,
    list: RwLock<Vec<Tombstone>>,
}

impl Tombstones {
    /// Whether any tombstone is pending (the hot path's only cost otherwise).
    #[inline]
    pub fn active(&self) -> bool {
        self.count.load(Ordering::Relaxed) != 0
    }

    /// Pending tombstones.
    pub fn len(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }

    /// Whether an item of stripe `stripe` with this key and CAS is hidden.
    pub fn hides(&self, stripe: usize, key: &[u8], cas: u64) -> bool {
        self.list
            .read()
            .iter()
            .any(|t| cas < t.cas_floor[stripe] && key.starts_with(&t.prefix))
    }

    /// Records a tombstone; false when [`MAX_TOMBSTONES`] are pending.
    pub fn add(&self, prefix: &[u8], cas_floor: Vec<u64>, laps: Vec<u64>) -> bool {
        let mut list = self.list.write();
        if let Some(t) = list.iter_mut().find(|t| *t.prefix == *prefix) {
            // The same prefix again: the later floors hide everything the earlier did.
            t.cas_floor = cas_floor.into();
            t.laps = laps.into();
            return true;
        }
        if list.len() >= MAX_TOMBSTONES {
            return false;
        }
        list.push(Tombstone {
            prefix: prefix.into(),
            cas_floor: cas_floor.into(),
            laps: laps.into(),
        });
        self.count.store(list.len(), Ordering::Relaxed);
        true
    }

    /// Drops the tombstones every stripe's crawl has lapped twice since (`laps`: each
    /// stripe's completed laps now).
    pub fn retire(&self, laps: &[u64]) {
        if !self.active() {
            return;
        }
        let mut list = self.list.write();
        list.retain(|t| t.laps.iter().zip(laps).any(|(then, now)| *now < then + 2));
        self.count.store(list.len(), Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hides_older_items_under_the_prefix_until_retired() {
        let t = Tombstones::default();
        assert!(!t.active());
        assert!(t.add(b"user:", vec![10, 20], vec![0, 5]));
        assert!(t.hides(0, b"user:1", 9));
        assert!(!t.hides(0, b"user:1", 10));
        assert!(t.hides(1, b"user:1", 19));
        assert!(!t.hides(0, b"other", 1));
        t.retire(&[2, 6]);
        assert!(t.active());
        t.retire(&[2, 7]);
        assert!(!t.active());
        assert!(!t.hides(0, b"user:1", 9));
    }
}
