//! The ghost queue of the eviction policy: which keys were recently evicted from the small
//! queue without having been used, kept as 16-bit fingerprints of their hashes, not as keys.
//!
//! A key that comes back while its fingerprint is still here was evicted too early: it goes
//! straight to the main queue (S3-FIFO's ghost rule). The table is direct-mapped: an entry is
//! forgotten when another key's fingerprint lands in its slot, which ages entries out at
//! about the rate the small queue evicts, with no list to maintain. A false positive (1 in
//! 65,536 lookups) only admits one new item to the main queue. It costs 2 bytes per slot;
//! the slot count follows the stripe's item count (see `fit`), so the ghost remembers about
//! as many keys as the cache holds.

/// Fingerprints of recently evicted keys.
#[derive(Debug, Default)]
pub(crate) struct Ghost {
    slots: Vec<u16>,
}

impl Ghost {
    #[inline]
    fn place(&self, hash: u64) -> (usize, u16) {
        let mask = self.slots.len() - 1;
        let idx = (hash >> 20) as usize & mask;
        // Never 0: 0 marks an empty slot.
        let fp = (hash >> 48) as u16 | 1;
        (idx, fp)
    }

    /// Remembers `hash`.
    pub fn insert(&mut self, hash: u64) {
        if self.slots.is_empty() {
            return;
        }
        let (i, fp) = self.place(hash);
        self.slots[i] = fp;
    }

    /// Was `hash` remembered? Forgets it either way.
    pub fn take(&mut self, hash: u64) -> bool {
        if self.slots.is_empty() {
            return false;
        }
        let (i, fp) = self.place(hash);
        let hit = self.slots[i] == fp;
        if hit {
            self.slots[i] = 0;
        }
        hit
    }

    /// Sizes the table for a stripe holding `items` items: grows (and forgets) when the
    /// stripe holds more items than slots; never shrinks.
    pub fn fit(&mut self, items: u64) {
        let want = (items as usize).max(1024);
        if self.slots.len() < want {
            self.slots = vec![0; want.next_power_of_two()];
        }
    }

    /// Forgets everything (flush_all).
    pub fn clear(&mut self) {
        self.slots.fill(0);
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
    fn remembers_until_overwritten_and_forgets_on_take() {
        let mut g = Ghost::default();
        assert!(!g.take(42));
        g.fit(10);
        g.insert(0xdead_beef_1234_5678);
        assert!(g.take(0xdead_beef_1234_5678));
        assert!(!g.take(0xdead_beef_1234_5678), "taken once");
        g.insert(7 << 48);
        assert!(!g.take(9 << 48), "another fingerprint in the same slot");
        assert_eq!(g.bytes(), 2048);
    }
}
