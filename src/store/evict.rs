//! Making room: segment allocation, the eviction policy's queue work, taking memory from
//! other stripes, and the expiry crawler. More methods of [`Stripe`]: its lock is held.
//!
//! A record of `n` bytes goes at the end of its queue's open segment. When that segment has no
//! room, the stripe takes, in order:
//! 1. a spare (empty) segment of its own;
//! 2. a segment from the global pool (budget permitting);
//! 3. if it holds less than half of an even share, a segment from the stripe holding the
//!    most (try-locked, never waited for);
//! 4. room made by evicting one segment of its own ([`Stripe::evict_one`]), and then, if
//!    nothing of its own can go, a segment from another stripe.
//!
//! Evicting a segment walks its records once, oldest first. Expired and flushed items are
//! reclaimed; chained (larger than a segment) items are evicted whole. Each remaining item
//! is kept or evicted by the policy: from the small queue, an item used at least
//! `promote_at` times moves to the main queue and the others are evicted (remembered by the
//! ghost); from the main queue, an item used since it was last passed over is reinserted with
//! its use count halved, the others are evicted. Kept items are copied to the end of the main queue's
//! open segment, and once that is full they are compacted toward the start of the victim
//! itself, which then becomes the main queue's open segment. At most 7/8 of a segment is
//! kept, so every eviction frees at least an eighth of one. Segments that became at least
//! half dead (expired items found by the crawler or a lookup, deleted or overwritten items)
//! are taken first, before the oldest, and only compacted: their live items all stay, in
//! their queue. So expired memory goes before any live item is evicted.
//!
//! Nothing pinned is touched: the segments of the `protect` item (the one a replace, append
//! or incr reads from) are never victims, an item still being written is in no queue, and
//! segments that readers share (a large value being sent by reference, `page.rs`) are
//! passed over until the last reader is done with them.

use super::item::{self, head, CONT_OWNER};
use super::segment::{Queue, NIL};
use super::stripe::{Exit, Moment, Stripe};
use super::StoreError;

/// Attempts (segments taken or evicted) one allocation may make before giving up.
const RESERVE_ROUNDS: usize = 256;
/// Stripes the last round of taking memory from others waits for (1 ms at most each).
const PATIENT_TRIES: usize = 4;
/// Items more than this many quarters of the average size need two uses to be kept
/// (size-aware policies): 1.5x.
const BIG_ITEM_QUARTERS: usize = 6;
/// Items more than this many quarters of the average size need three uses to be kept: 4x.
const HUGE_ITEM_QUARTERS: usize = 16;
/// Most bytes of a victim segment kept, out of 8 (the rest is freed).
const KEEP_EIGHTHS: usize = 7;

/// Spare segments one crawl step hands back to the pool at most (the rest go next time).
const SPARE_PER_CRAWL: usize = 64;
/// Most maintenance rounds (100 ms each) the crawler sits out between laps that find
/// nothing: 6.4 s.
const CRAWL_REST_MAX: u32 = 64;

impl Stripe {
    /// Room for a record of `n` bytes (at most a segment) at the end of queue `q`'s open
    /// segment: returns its reference, bytes not yet written.
    pub(super) fn reserve(&mut self, ctx: &Moment, q: Queue, n: usize) -> Result<u32, StoreError> {
        for _ in 0..RESERVE_ROUNDS {
            let open = self.mem.log(q).open;
            if open != NIL && self.mem.room(open) >= n {
                return Ok(self.mem.append(open, n));
            }
            if let Some(slot) = self.take_segment(ctx) {
                self.mem.set_open(q, slot);
                continue;
            }
            if self.evict_one(ctx) || self.steal(ctx) {
                continue;
            }
            break;
        }
        self.out_of_memory(n);
        Err(StoreError::OutOfMemory)
    }

    /// An empty segment in no queue, for a part of a chained item (kept in `pending`).
    pub(super) fn fresh_segment(&mut self, ctx: &Moment) -> Result<u32, StoreError> {
        for _ in 0..RESERVE_ROUNDS {
            if let Some(slot) = self.take_segment(ctx) {
                self.mem.pages[slot as usize].queue = Queue::Fresh;
                self.pending.push(slot);
                return Ok(slot);
            }
            if self.evict_one(ctx) || self.steal(ctx) {
                continue;
            }
            break;
        }
        self.out_of_memory(self.mem.geo.page_size);
        Err(StoreError::OutOfMemory)
    }

    fn out_of_memory(&mut self, n: usize) {
        let cid = self.mem.geo.class_for(n).unwrap_or(self.mem.geo.largest());
        self.mem.classes[cid as usize].counters.outofmemory += 1;
    }

    /// An empty segment without evicting anything here: spare, pool, or (while this stripe
    /// holds less than half an even share) taken from the richest stripe.
    fn take_segment(&mut self, ctx: &Moment) -> Option<u32> {
        if let Some(slot) = self.mem.spare.pop() {
            return Some(slot);
        }
        if let Some(slot) = self.take_pooled() {
            return Some(slot);
        }
        if self.mem.page_count() < self.pool.fair_share() / 2 && self.steal(ctx) {
            return self.take_pooled();
        }
        None
    }

    fn take_pooled(&mut self) -> Option<u32> {
        let page = self.pool.take()?;
        match self.mem.add_page(page) {
            Ok(slot) => {
                self.sync_held();
                Some(slot)
            }
            Err(page) => {
                self.pool.give(page);
                None
            }
        }
    }

    /// Moves one segment from another stripe into the pool: the richest first, each only
    /// if its lock is free right now (never waited for: a thread here already holds its own
    /// stripe's lock), then a second round that waits a millisecond at most for each of a
    /// few.
    /// True if a segment went to the pool.
    pub(super) fn steal(&mut self, ctx: &Moment) -> bool {
        let Some(stripes) = self.siblings.upgrade() else {
            return false;
        };
        let me = self.id as usize;
        let n = stripes.len();
        let first = self.pool.richest(me).map(|(i, _)| i);
        for patient in [false, true] {
            // The patient round asks a few stripes only: it may wait 1 ms on each.
            let tries = if patient { PATIENT_TRIES } else { n };
            let order = first.into_iter().chain((1..n).map(|k| (me + k) % n));
            for i in order.take(tries) {
                if i == me || self.pool.held(i) <= 1 {
                    continue;
                }
                let guard = if patient {
                    stripes[i].try_lock_for(std::time::Duration::from_millis(1))
                } else {
                    stripes[i].try_lock()
                };
                if let Some(mut other) = guard {
                    if other.give_segment(ctx) {
                        return true;
                    }
                }
            }
        }
        false
    }

    /// Gives one empty segment to the pool, evicting to make one if needed. True if given.
    pub(super) fn give_segment(&mut self, ctx: &Moment) -> bool {
        for _ in 0..RESERVE_ROUNDS {
            if let Some(slot) = self.mem.spare.pop() {
                let page = self.mem.remove_page(slot);
                self.pool.give(page);
                self.sync_held();
                return true;
            }
            if !self.evict_one(ctx) {
                return false;
            }
        }
        false
    }

    /// Evicts (or compacts) one segment of this stripe. False if none can go.
    pub(super) fn evict_one(&mut self, ctx: &Moment) -> bool {
        match self.pick_victim() {
            Some((slot, from, compact)) => self.evict_segment(ctx, slot, from, compact),
            None => false,
        }
    }

    /// The next segment to evict, its queue, and whether it is only compacted: a segment at
    /// least half dead first (compacted: every live item stays, in its queue), then the oldest
    /// of the small queue while it is over its share (or main is empty), else of the main
    /// queue; open segments only when a queue has nothing else.
    fn pick_victim(&mut self) -> Option<(u32, Queue, bool)> {
        let mut i = self.sparse.len();
        while i > 0 {
            i -= 1;
            let slot = self.sparse[i];
            let page = &self.mem.pages[slot as usize];
            let q = page.queue;
            if !matches!(q, Queue::Small | Queue::Main) || page.live * 2 > page.used {
                self.mem.pages[slot as usize].sparse = false;
                self.sparse.swap_remove(i);
                continue;
            }
            if self.mem.is_open(slot) || self.pinned.contains(&slot) || self.mem.shared(slot) {
                continue;
            }
            self.mem.pages[slot as usize].sparse = false;
            self.sparse.swap_remove(i);
            return Some((slot, q, true));
        }
        let total = self.mem.small.segs + self.mem.main.segs;
        let small_over = self.mem.small.segs * 100 > total * self.policy.small_percent;
        let order = if small_over {
            [Queue::Small, Queue::Main]
        } else {
            [Queue::Main, Queue::Small]
        };
        for q in order {
            if let Some(slot) = self.mem.oldest(q, &self.pinned) {
                return Some((slot, q, false));
            }
        }
        for q in order {
            let open = self.mem.log(q).open;
            if open != NIL && !self.pinned.contains(&open) && !self.mem.shared(open) {
                return Some((open, q, false));
            }
        }
        None
    }

    /// Walks the victim's records and applies the policy (module doc); with `compact`, every
    /// live item is kept in its queue and only dead bytes are freed. True if memory was freed.
    fn evict_segment(&mut self, ctx: &Moment, v: u32, from: Queue, compact: bool) -> bool {
        self.mem.detach(v);
        let page_size = self.mem.geo.page_size;
        let budget = if self.mem.geo.evict && !compact {
            page_size / 8 * KEEP_EIGHTHS
        } else {
            usize::MAX
        };
        let to = if compact { from } else { Queue::Main };
        let used = self.mem.pages[v as usize].used as usize;
        let (mut rd, mut wr, mut kept) = (0usize, 0usize, 0usize);
        while rd < used {
            let r = self.mem.make_ref(v, rd);
            let len = self.mem.record_len(r);
            match self.mem.tag(r) {
                item::TAG_HEAD if head::chained(self.mem.chunk(r)) => {
                    self.drop_item(ctx, r);
                }
                item::TAG_HEAD => {
                    if let Err(miss) = self.validity(r, ctx) {
                        self.unlink(r, Exit::Reclaimed(miss), ctx);
                    } else if kept + len <= budget && (compact || self.keeps(r, from, len)) {
                        self.relocate(r, len, v, to, &mut wr);
                        kept += len;
                    } else {
                        // (With -M every live item is kept: `keeps` says so, and the budget
                        // is unlimited.)
                        let hash = self.unlink(r, Exit::Evicted, ctx);
                        if from == Queue::Small && self.policy.ghost {
                            self.ghost.insert(hash);
                        }
                    }
                }
                item::TAG_CONT => {
                    let owner = item::get_u32(self.mem.chunk(r), CONT_OWNER);
                    if self.mem.tag(owner) == item::TAG_HEAD {
                        self.drop_item(ctx, owner);
                    }
                }
                _ => {}
            }
            rd += len;
        }
        let page = &mut self.mem.pages[v as usize];
        page.used = wr as u32;
        page.live = wr as u32;
        if wr > 0 {
            self.mem.set_open(to, v);
        } else {
            self.mem.spare.push(v);
        }
        wr < used
    }

    /// Does the policy keep the live item `h` (a record of `len` bytes) found in a victim of
    /// queue `from`? Adjusts its use count when it does.
    ///
    /// Size-aware (`Params::size_aware`): an item more than 1.5 times the stripe's average
    /// item size needs two uses to stay, more than 4 times three. One large
    /// value holds the memory of many small ones, so keeping it must pay for more misses;
    /// this raises the hit ratio on mixed sizes by about 1% (STORE.md) and changes nothing
    /// when all items are about the same size.
    fn keeps(&mut self, h: u32, from: Queue, len: usize) -> bool {
        if !self.mem.geo.evict {
            return true;
        }
        let need = if self.policy.size_aware {
            let avg = (self.counters.bytes / self.counters.curr_items.max(1)) as usize;
            1 + u8::from(len * 4 > BIG_ITEM_QUARTERS * avg)
                + u8::from(len * 4 > HUGE_ITEM_QUARTERS * avg)
        } else {
            1
        };
        let c = self.mem.header_mut(h);
        let f = head::freq(c);
        if from == Queue::Small {
            if f >= self.policy.promote_at.max(need) {
                head::set_freq(c, 0);
                return true;
            }
            false
        } else if f >= need {
            head::set_freq(c, f / 2);
            true
        } else {
            false
        }
    }

    /// Removes a whole item found while evicting (reclaimed if it was no longer visible).
    fn drop_item(&mut self, ctx: &Moment, h: u32) {
        let exit = match self.validity(h, ctx) {
            Ok(()) => Exit::Evicted,
            Err(miss) => Exit::Reclaimed(miss),
        };
        self.unlink(h, exit, ctx);
    }

    /// Moves the live, unchained record `r` (of `len` bytes, in victim `v`) to the end of
    /// queue `to`'s open segment if it fits there, else to offset `wr` of the victim itself;
    /// the index then points at the new place.
    fn relocate(&mut self, r: u32, len: usize, v: u32, to: Queue, wr: &mut usize) {
        let open = self.mem.log(to).open;
        let rd = self.mem.off_of(r);
        let new = if open != NIL && open != v && self.mem.room(open) >= len {
            let dst = self.mem.append(open, len);
            self.mem.copy_record(r, dst, len);
            self.mem.pages[open as usize].live += len as u32;
            dst
        } else {
            let at = *wr;
            *wr += len;
            if at == rd {
                return;
            }
            let moved = self.mem.move_within(v, rd, at, len);
            // `pick_victim` never picks a segment readers share, and none can start sharing
            // it while this lock is held.
            debug_assert!(moved, "a victim segment is not shared");
            self.mem.make_ref(v, at)
        };
        let key = head::key(self.mem.chunk(new), &self.mem.geo.layout);
        let hash = self.hasher.hash_one(key);
        if let Some(slot) = self.index.find_mut(hash, |&x| x == r) {
            *slot = new;
        }
    }

    /// The crawler, one maintenance round of it: reclaims expired and flushed items (their
    /// segments then compact early) and hands spare segments back to the global pool. The
    /// round calls this once, then, unless it returns false (resting),
    /// [`Stripe::crawl_step`] a few times with the lock released in between (each hold is
    /// bounded by its budget, not by the stripe's size), then [`Stripe::return_spares`].
    ///
    /// A lap that found nothing to reclaim (no TTLs in use, or none due) makes the crawler
    /// sit out 1, 2, 4, ... up to `CRAWL_REST_MAX` rounds before the next lap, as memcached's
    /// crawler backs off when its scans reclaim little; a lap that finds something resets
    /// it. Without this a small cache was walked whole ten times a second for nothing (7% of
    /// the server's CPU with 10,000 16 KiB items: each record visited is a cache miss).
    pub fn crawl_round(&mut self) -> bool {
        if self.crawl_rest > 0 {
            self.crawl_rest -= 1;
            return false;
        }
        true
    }

    /// Hands up to `SPARE_PER_CRAWL` spare segments beyond one back to the global pool.
    pub fn return_spares(&mut self) {
        let mut given = 0;
        while self.mem.spare.len() > 1 && given < SPARE_PER_CRAWL {
            given += 1;
            let slot = self.mem.spare.pop().expect("spare has more than one");
            let page = self.mem.remove_page(slot);
            self.pool.give(page);
        }
        self.sync_held();
    }

    /// Visits up to `budget` records (and steps past up to `budget` page slots) from where
    /// the last step stopped; stops early at the end of a lap that starts a rest.
    pub fn crawl_step(&mut self, ctx: &Moment, budget: usize) {
        let mut visited = 0;
        let mut slots_seen = 0;
        let max_slots = self.mem.pages.len().min(budget);
        while visited < budget && slots_seen <= max_slots {
            let n_slots = self.mem.pages.len() as u32;
            if n_slots == 0 {
                // Nothing to visit: a whole lap.
                self.lap_done();
                break;
            }
            if self.crawl_slot >= n_slots {
                self.crawl_slot = 0;
                self.lap_done();
                if self.crawl_rest > 0 {
                    break;
                }
            }
            let slot = self.crawl_slot;
            let page = &self.mem.pages[slot as usize];
            if self.crawl_off >= page.used || page.queue == Queue::Fresh {
                self.crawl_slot += 1;
                self.crawl_off = 0;
                slots_seen += 1;
                continue;
            }
            let r = self.mem.make_ref(slot, self.crawl_off as usize);
            self.crawl_off += self.mem.record_len(r) as u32;
            visited += 1;
            if self.mem.tag(r) == item::TAG_HEAD {
                if let Err(miss) = self.validity(r, ctx) {
                    self.unlink(r, Exit::Crawled(miss), ctx);
                    self.crawl_found += 1;
                }
            }
        }
    }

    /// The crawler finished a lap: back off if it found nothing (see `crawl`).
    fn lap_done(&mut self) {
        self.crawl_laps += 1;
        if self.crawl_found == 0 {
            self.crawl_backoff = (self.crawl_backoff * 2).clamp(1, CRAWL_REST_MAX);
            self.crawl_rest = self.crawl_backoff;
        } else {
            self.crawl_backoff = 0;
        }
        self.crawl_found = 0;
    }

    /// Last access time of the next item eviction would look at (oldest segment first).
    pub fn oldest_atime(&mut self) -> Option<u32> {
        for q in [Queue::Small, Queue::Main] {
            let slot = self.mem.oldest(q, &[]).or_else(|| {
                let open = self.mem.log(q).open;
                (open != NIL).then_some(open)
            });
            let Some(slot) = slot else { continue };
            let used = self.mem.pages[slot as usize].used as usize;
            let mut off = 0;
            while off < used {
                let r = self.mem.make_ref(slot, off);
                if self.mem.tag(r) == item::TAG_HEAD {
                    return Some(head::atime(self.mem.chunk(r)));
                }
                off += self.mem.record_len(r);
            }
        }
        None
    }

    /// Gives one segment back to the pool (while the memory limit is being lowered).
    pub fn release_page(&mut self, ctx: &Moment) -> bool {
        self.pinned.clear();
        self.give_segment(ctx)
    }
}
