//! The ghost queue of the eviction policy: which keys were recently evicted from the small
//! queue without having been used, kept as 16-bit fingerprints of their hashes, not as keys.
//!
//! A key that comes back while its fingerprint is still here was evicted too early: it goes
//! straight to the main queue (S3-FIFO's ghost rule). The table is 4-way set-associative: a
//! key's fingerprint goes to the front of its bucket of four slots and the oldest of the four
//! is forgotten, which ages entries out at about the rate the small queue evicts, in FIFO
//! order within a bucket, with no list to maintain. (Direct-mapped, a new fingerprint
//! overwrote whatever shared its slot, young or old: about 0.004 lower hit ratio after a
//! popularity shift, docs/STORE.md.) A false positive (4 in 65,536 lookups) only admits one
//! new item to the main queue. It costs 2 bytes per slot;
//! the slot count follows the stripe's item count (see `fit`), so the ghost remembers about
//! as many keys as the cache holds.

/// Slots per bucket.
const WAYS: usize = 4;

/// Fingerprints of recently evicted keys.
#[derive(Debug, Default)]
pub(crate) struct Ghost {
    slots: Vec<u16>,
}

impl Ghost {
    /// The first slot of `hash`'s bucket, and its fingerprint.
    #[inline]
    fn place(&self, hash: u64) -> (usize, u16) {
        let mask = self.slots.len() - 1;
        let idx = (hash >> 20) as usize & mask & !(WAYS - 1);
        // Never 0: 0 marks an empty slot.
        let fp = (hash >> 48) as u16 | 1;
        (idx, fp)
    }

    /// Remembers `hash`.
    pub fn insert(&mut self, hash: u64) {
        if self.slots.is_empty() {
            return;
        }
        let (b, fp) = self.place(hash);
        self.slots.copy_within(b..b + WAYS - 1, b + 1);
        self.slots[b] = fp;
    }

    /// Was `hash` remembered? Forgets it either way.
    pub fn take(&mut self, hash: u64) -> bool {
        if self.slots.is_empty() {
            return false;
        }
        let (b, fp) = self.place(hash);
        match self.slots[b..b + WAYS].iter().position(|&s| s == fp) {
            Some(j) => {
                self.slots[b + j] = 0;
                true
            }
            None => false,
        }
    }

    /// Sizes the table for a stripe holding `items` items: grows (and forgets) when the
    /// stripe holds more items than slots; never shrinks.
    pub fn fit(&mut self, items: u64) {
        let want = (items as usize).max(1024);
        if self.slots.len() < want {
            self.slots = vec![0; want.next_power_of_two()];
        }
    }

    /// Bytes of memory the table takes.
    pub fn bytes(&self) -> usize {
        self.slots.len() * 2
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_until_pushed_out_of_its_bucket_and_forgets_on_take() {
        let mut g = Ghost::default();
        assert!(!g.take(42));
        g.fit(10);
        g.insert(0xdead_beef_1234_5678);
        assert!(g.take(0xdead_beef_1234_5678));
        assert!(!g.take(0xdead_beef_1234_5678), "taken once");
        g.insert(7 << 48);
        assert!(!g.take(9 << 48), "another fingerprint in the same bucket");
        // Three more keys in the same bucket (same index bits, other fingerprints): the
        // first is still remembered; a fourth pushes it out.
        for fp in [1u64, 2, 3] {
            g.insert(fp << 52);
        }
        assert!(g.take(7 << 48), "still one of the bucket's four");
        g.insert(7 << 48);
        for fp in [1u64, 2, 3, 4] {
            g.insert(fp << 52);
        }
        assert!(!g.take(7 << 48), "the oldest of five is forgotten");
        assert!(g.take(4 << 52) && g.take(2 << 52));
        assert_eq!(g.bytes(), 2048);
    }
}
