//! A bounded, resumable walk over every live item: what key listings (`lru_crawler
//! metadump`, `stats cachedump`) are built on.
//!
//! One call to [`Store::scan`] locks one stripe once, visits at most `budget` records of
//! its segments in page-table order (each segment from offset 0 to its write position,
//! record by record), calls the visitor for every live, visible item (HEAD record, not
//! expired, not flushed) and returns where to go on. The
//! lock is never held for more than `budget` records, and the walk keeps no state in
//! the store: the cursor is a plain value the caller holds (a connection keeps it
//! between two writes), so any number of listings can run at once, under full load.
//!
//! What a walk guarantees: an item that stays in the cache, unchanged, for the whole walk
//! is reported at least once, unless eviction moves it (its segment compacted or the item
//! kept and copied to the main queue's open segment) from ahead of the cursor to behind
//! it; an item moved the other way may be reported twice. Items stored, overwritten or
//! deleted during the walk may or may not appear. memcached's LRU crawler gives the same
//! kind of answer (its `metadump` walks LRUs that change under it).

use super::item::{self};
use super::segment::Queue;
use super::stripe::Stripe;
use super::{ItemRef, Store};

/// Where a walk goes on: a stripe and a byte position in its page table.
///
/// The position is `slot << offset bits | offset` widened to 64 bits, so a position at
/// the end of a segment is the start of the next slot. Packs into a `u64` for callers
/// that keep it in a counter ([`ScanCursor::to_u64`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ScanCursor {
    stripe: u32,
    pos: u64,
}

/// Positions take at most this many bits (slot bits + offset bits = 32, plus a carry).
const POS_BITS: u32 = 33;

impl ScanCursor {
    /// The start of a walk.
    pub const START: ScanCursor = ScanCursor { stripe: 0, pos: 0 };

    /// The cursor as one number (the stripe in the high bits).
    pub fn to_u64(self) -> u64 {
        (u64::from(self.stripe) << POS_BITS) | self.pos
    }

    /// The inverse of [`ScanCursor::to_u64`].
    pub fn from_u64(v: u64) -> ScanCursor {
        ScanCursor {
            stripe: (v >> POS_BITS) as u32,
            pos: v & ((1 << POS_BITS) - 1),
        }
    }
}

/// What one visit reports of a live item.
pub struct Scanned<'a> {
    /// The item (valid while the visitor runs: the stripe lock is held).
    pub item: ItemRef<'a>,
    /// Its reporting class.
    pub class: u8,
}

impl Store {
    /// Visits at most `budget` records (at least one) of one stripe from `cursor`, calling
    /// `visit` on each live item with the stripe lock held (it must only copy bytes out
    /// and must not call into the store). Returns the cursor to go on from, or `None` once
    /// every stripe has been walked.
    pub fn scan(
        &self,
        cursor: ScanCursor,
        budget: usize,
        mut visit: impl FnMut(&Scanned<'_>),
    ) -> Option<ScanCursor> {
        let stripe = cursor.stripe as usize;
        if stripe >= self.stripes.len() {
            return None;
        }
        let ctx = self.ctx();
        let st = self.stripes[stripe].lock();
        let next = st.scan_slice(cursor.pos, budget.max(1), |h| {
            if st.validity(h, &ctx).is_err() {
                return;
            }
            visit(&Scanned {
                item: ItemRef {
                    mem: &st.mem,
                    head: h,
                },
                class: st.mem.class_of(h),
            });
        });
        Some(match next {
            Some(pos) => ScanCursor {
                stripe: cursor.stripe,
                pos,
            },
            None => ScanCursor {
                stripe: cursor.stripe + 1,
                pos: 0,
            },
        })
        .filter(|c| (c.stripe as usize) < self.stripes.len())
    }
}

impl Stripe {
    /// Walks up to `budget` records from `pos`, calling `f` on every HEAD record; returns
    /// the position after the last record visited, or `None` at the end of the page table.
    fn scan_slice(&self, pos: u64, budget: usize, mut f: impl FnMut(u32)) -> Option<u64> {
        let off_bits = self.mem.geo.off_bits;
        let mut slot = (pos >> off_bits) as usize;
        let mut off = (pos & ((1 << off_bits) - 1)) as usize;
        let mut visited = 0;
        while slot < self.mem.pages.len() {
            let page = &self.mem.pages[slot];
            // A fresh segment holds an item still being written (not yet in any queue).
            if off >= page.used as usize || page.queue == Queue::Fresh || page.mem.is_none() {
                slot += 1;
                off = 0;
                continue;
            }
            if visited == budget {
                return Some(((slot as u64) << off_bits) | off as u64);
            }
            let r = self.mem.make_ref(slot as u32, off);
            off += self.mem.record_len(r);
            visited += 1;
            if self.mem.tag(r) == item::TAG_HEAD {
                f(r);
            }
        }
        None
    }
}
