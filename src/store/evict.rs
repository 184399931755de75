//! Making room: chunk allocation, CLOCK eviction, page moves between classes (no slab
//! calcification), and the expiry crawler. More methods of [`Stripe`]: the lock is held.
//!
//! Allocation of a chunk of class C, in order:
//! 1. C's free list;
//! 2. a page from the global pool / budget;
//! 3. a page moved from a clearly colder class of this stripe (anti-calcification, see
//!    [`Stripe::rebalance`]);
//! 4. the CLOCK sweep of C: expired items are reclaimed, ACCESSED items get a second chance,
//!    and before a live item is evicted a bounded look-ahead searches for an expired one.
//!
//! Nothing that is pinned is ever evicted: a RESERVED chunk (an item being written), a chunk of
//! an item whose head is RESERVED, or the `protect` item (the item an append/incr/replace is
//! reading from or replacing).

use super::item::{self, head, CONT_OWNER};
use super::slab::NIL;
use super::stripe::{Ctx, Exit, Stripe};
use super::StoreError;

/// Chunks examined past the CLOCK hand for an expired item before a live item is evicted.
const EXPIRED_LOOKAHEAD: usize = 32;
/// Chunks examined at a class's hand to estimate the age of its next victim.
const CANDIDATE_SCAN: usize = 8;
/// Pages of a donor class examined to pick the cheapest one to move.
const DONOR_PAGE_SCAN: usize = 16;

/// Age estimate of a class's next CLOCK victim.
enum Candidate {
    /// Next victim is expired or flushed: reclaiming it is free.
    Dead,
    /// Seconds since the next victim was last accessed.
    Age(u32),
    /// Nothing evictable near the hand (free or pinned chunks).
    Nothing,
}

impl Stripe {
    /// The live, evictable item owning chunk `r` (None: free, pinned or `protect`).
    pub(super) fn owner(&self, r: u32, protect: u32) -> Option<u32> {
        let h = match self.mem.tag(r) {
            item::TAG_HEAD => r,
            item::TAG_CONT => {
                let h = item::get_u32(self.mem.chunk(r), CONT_OWNER);
                if self.mem.tag(h) != item::TAG_HEAD {
                    return None;
                }
                h
            }
            _ => return None,
        };
        (h != protect).then_some(h)
    }

    /// A chunk of class `cid`, tagged RESERVED (see the module doc for the order of attempts).
    pub(super) fn alloc(&mut self, ctx: &Ctx, cid: u8, protect: u32) -> Result<u32, StoreError> {
        if let Some(r) = self.mem.pop_free(cid) {
            return Ok(r);
        }
        if let Some(page) = self.pool.take() {
            match self.mem.add_page(page, cid) {
                Ok(()) => return self.mem.pop_free(cid).ok_or(StoreError::OutOfMemory),
                Err(page) => self.pool.give(page),
            }
        }
        if self.rebalance(ctx, cid, protect) {
            if let Some(r) = self.mem.pop_free(cid) {
                return Ok(r);
            }
        }
        self.sweep(ctx, cid, protect)
    }

    /// CLOCK sweep of class `cid` for one chunk.
    fn sweep(&mut self, ctx: &Ctx, cid: u8, protect: u32) -> Result<u32, StoreError> {
        let per = self.mem.geo.per_page[cid as usize];
        let chunks = self.mem.classes[cid as usize].pages.len() * per;
        for _ in 0..2 * chunks + 1 {
            let Some(r) = self.mem.peek_hand(cid, 0) else {
                break;
            };
            self.mem.advance_hand(cid);
            if self.mem.tag(r) == item::TAG_FREE {
                self.mem.unlink_free(r);
                self.mem.chunk_mut(r)[0] = item::TAG_RESERVED;
                let slot = self.mem.slot_of(r) as usize;
                self.mem.pages[slot].used += 1;
                return Ok(r);
            }
            let Some(h) = self.owner(r, protect) else {
                continue;
            };
            if let Err(miss) = self.validity(h, ctx) {
                self.unlink(h, Exit::Reclaimed(miss), ctx);
                return self.mem.pop_free(cid).ok_or(StoreError::OutOfMemory);
            }
            let bits = head::bits(self.mem.chunk(h));
            if bits & item::ACCESSED != 0 {
                head::set_bits(self.mem.chunk_mut(h), bits & !item::ACCESSED);
                continue;
            }
            // Look ahead only if something here can be expired or flushed.
            let lookahead = if self.mem.classes[cid as usize].ttl_items > 0 || ctx.flush_before > 0
            {
                EXPIRED_LOOKAHEAD.min(chunks)
            } else {
                0
            };
            let class = &self.mem.classes[cid as usize];
            let skip = if class.clean_at == ctx.now {
                class.clean_to.saturating_sub(class.hand_ticks) as usize
            } else {
                0
            };
            let found = self
                .mem
                .hand_ahead(cid, lookahead)
                .enumerate()
                .skip(skip)
                .find_map(|(k, r2)| {
                    let h2 = self.owner(r2, protect)?;
                    self.validity(h2, ctx).err().map(|miss| (k, h2, miss))
                });
            if let Some((k, h2, miss)) = found {
                // Skip the hand past the reclaimed chunk: the live items in between keep
                // their place until the next revolution (expired goes first).
                for _ in 0..=k {
                    self.mem.advance_hand(cid);
                }
                self.unlink(h2, Exit::Reclaimed(miss), ctx);
                if let Some(r) = self.mem.pop_free(cid) {
                    return Ok(r);
                }
            } else if lookahead > 0 {
                let class = &mut self.mem.classes[cid as usize];
                class.clean_to = class.hand_ticks + lookahead as u64;
                class.clean_at = ctx.now;
            }
            if !self.mem.geo.evict {
                break;
            }
            self.unlink(h, Exit::Evicted, ctx);
            return self.mem.pop_free(cid).ok_or(StoreError::OutOfMemory);
        }
        if chunks == 0 {
            // No page for this class and none to be had: ask maintain() for one.
            self.starved = true;
        }
        self.mem.classes[cid as usize].counters.outofmemory += 1;
        Err(StoreError::OutOfMemory)
    }

    /// Age of the next CLOCK victim of class `cid`.
    fn candidate(&self, ctx: &Ctx, cid: u8) -> Candidate {
        for k in 0..CANDIDATE_SCAN {
            let Some(r) = self.mem.peek_hand(cid, k) else {
                break;
            };
            if let Some(h) = self.owner(r, NIL) {
                if self.validity(h, ctx).is_err() {
                    return Candidate::Dead;
                }
                let atime = head::atime(self.mem.chunk(h));
                return Candidate::Age(ctx.now.saturating_sub(atime));
            }
        }
        Candidate::Nothing
    }

    /// Anti-calcification: when class `cid` must evict, move a page to it from another class
    /// of this stripe whose next victim is clearly colder, so pages follow the size mix.
    ///
    /// Policy: a class with no pages takes one from the coldest class; a whole free page
    /// always moves; otherwise the coldest donor must be at least `2 * age + 2` seconds
    /// idle where `age` is the idle time of `cid`'s own next victim. If `cid`'s next victim
    /// is expired, nothing moves (reclaiming it is free). With `evict` off only free pages move.
    /// Evaluated at most once per second per class when it finds no donor.
    pub fn rebalance(&mut self, ctx: &Ctx, cid: u8, protect: u32) -> bool {
        let has_pages = !self.mem.classes[cid as usize].pages.is_empty();
        if has_pages && self.no_donor_at[cid as usize] == ctx.now {
            return false;
        }
        let own_age = if has_pages {
            match self.candidate(ctx, cid) {
                Candidate::Dead => return false,
                Candidate::Age(a) => Some(a),
                Candidate::Nothing => Some(0),
            }
        } else {
            None
        };
        let evict = self.mem.geo.evict;
        let mut best: Option<(u32, u8)> = None;
        for d in 1..self.mem.classes.len() as u8 {
            let class = &self.mem.classes[d as usize];
            if d == cid || class.pages.is_empty() {
                continue;
            }
            let per = self.mem.geo.per_page[d as usize] as u64;
            let free_page = class.free_count >= per
                && class
                    .pages
                    .iter()
                    .any(|&s| self.mem.pages[s as usize].used == 0);
            let age = if free_page {
                u32::MAX
            } else if !evict {
                continue;
            } else {
                match self.candidate(ctx, d) {
                    Candidate::Dead => u32::MAX - 1,
                    Candidate::Age(a) => a,
                    Candidate::Nothing => u32::MAX - 2,
                }
            };
            if best.map_or(true, |(a, _)| age > a) {
                best = Some((age, d));
            }
        }
        let moved = match (best, own_age) {
            (Some((_, d)), None) => self.move_page(ctx, d, cid, protect),
            (Some((age, d)), Some(own)) if age >= own.saturating_mul(2).saturating_add(2) => {
                self.move_page(ctx, d, cid, protect)
            }
            _ => false,
        };
        if !moved {
            self.no_donor_at[cid as usize] = ctx.now;
        }
        moved
    }

    /// Does the page in `slot` hold a pinned chunk?
    fn page_pinned(&self, slot: u32, protect: u32) -> bool {
        let cid = self.mem.pages[slot as usize].class;
        (0..self.mem.geo.per_page[cid as usize] as u32).any(|idx| {
            let r = self.mem.make_ref(slot, idx);
            match self.mem.tag(r) {
                item::TAG_FREE => false,
                item::TAG_HEAD => r == protect,
                item::TAG_CONT => self.owner(r, protect).is_none(),
                _ => true,
            }
        })
    }

    /// Empties one page of class `from` (evicting its items) and re-carves it for `to`.
    fn move_page(&mut self, ctx: &Ctx, from: u8, to: u8, protect: u32) -> bool {
        let Some(slot) = self.pick_page(from, protect) else {
            return false;
        };
        if self.mem.pages[slot as usize].used > 0 && !self.mem.geo.evict {
            return false;
        }
        self.empty_page(ctx, slot);
        if self.mem.pages[slot as usize].used != 0 {
            // Unreachable while pick_page skips pinned pages; never re-carve used chunks.
            return false;
        }
        let page = self.mem.remove_page(slot);
        if let Err(page) = self.mem.add_page(page, to) {
            self.pool.give(page);
            return false;
        }
        self.counters.slabs_moved += 1;
        true
    }

    /// The cheapest unpinned page of class `cid`: a free one, else the fewest used chunks
    /// among the pages at and after the CLOCK hand.
    fn pick_page(&self, cid: u8, protect: u32) -> Option<u32> {
        let class = &self.mem.classes[cid as usize];
        let n = class.pages.len();
        if n == 0 {
            return None;
        }
        if let Some(&s) = class
            .pages
            .iter()
            .find(|&&s| self.mem.pages[s as usize].used == 0)
        {
            return Some(s);
        }
        (0..n.min(DONOR_PAGE_SCAN))
            .map(|i| class.pages[(class.hand_pos + i) % n])
            .filter(|&s| !self.page_pinned(s, protect))
            .min_by_key(|&s| self.mem.pages[s as usize].used)
    }

    /// Evicts (or reclaims) every item owning a chunk of the page in `slot`.
    fn empty_page(&mut self, ctx: &Ctx, slot: u32) {
        let cid = self.mem.pages[slot as usize].class;
        for idx in 0..self.mem.geo.per_page[cid as usize] as u32 {
            let r = self.mem.make_ref(slot, idx);
            if let Some(h) = self.owner(r, NIL) {
                let exit = match self.validity(h, ctx) {
                    Ok(()) => Exit::Evicted,
                    Err(miss) => Exit::Reclaimed(miss),
                };
                self.unlink(h, exit, ctx);
            }
        }
    }

    /// One bounded crawl step: visits up to `budget` chunks, reclaims expired and flushed
    /// items, and gives whole free pages back to the global pool.
    pub fn crawl(&mut self, ctx: &Ctx, budget: usize) {
        let mut visited = 0;
        let mut slots_seen = 0;
        while visited < budget && slots_seen <= self.mem.pages.len() {
            let n_slots = self.mem.pages.len() as u32;
            if n_slots == 0 {
                return;
            }
            if self.crawl_slot >= n_slots {
                self.crawl_slot = 0;
            }
            let slot = self.crawl_slot;
            let page = &self.mem.pages[slot as usize];
            let per = if page.mem.is_empty() {
                0
            } else {
                self.mem.geo.per_page[page.class as usize] as u32
            };
            if self.crawl_idx >= per {
                if per > 0 && page.used == 0 {
                    let bytes = self.mem.remove_page(slot);
                    self.pool.give(bytes);
                }
                self.crawl_slot += 1;
                self.crawl_idx = 0;
                slots_seen += 1;
                continue;
            }
            let r = self.mem.make_ref(slot, self.crawl_idx);
            self.crawl_idx += 1;
            visited += 1;
            if self.mem.tag(r) == item::TAG_HEAD {
                if let Err(miss) = self.validity(r, ctx) {
                    self.unlink(r, Exit::Crawled(miss), ctx);
                }
            }
        }
    }

    /// Gives one page back to the pool (used while the memory limit is being lowered):
    /// a free page if there is one, else one emptied from the class with the coldest victim.
    pub fn release_page(&mut self, ctx: &Ctx) -> bool {
        let mut best: Option<(u32, u8)> = None;
        for d in 1..self.mem.classes.len() as u8 {
            if self.mem.classes[d as usize].pages.is_empty() {
                continue;
            }
            let age = match self.candidate(ctx, d) {
                Candidate::Dead => u32::MAX - 1,
                Candidate::Age(a) => a,
                Candidate::Nothing => u32::MAX,
            };
            if best.map_or(true, |(a, _)| age > a) {
                best = Some((age, d));
            }
        }
        let Some((_, d)) = best else {
            return false;
        };
        let Some(slot) = self.pick_page(d, NIL) else {
            return false;
        };
        self.empty_page(ctx, slot);
        if self.mem.pages[slot as usize].used != 0 {
            return false;
        }
        let page = self.mem.remove_page(slot);
        self.pool.give(page);
        true
    }
}
