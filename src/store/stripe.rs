//! Stripe: one lock's worth of cache (index + slab memory + counters).
//!
//! Every method here assumes the stripe's mutex is held: having `&mut Stripe` *is* holding
//! the lock (the Rust form of memcached's `do_` functions). A stripe owns its hash index, its
//! pages and size classes (`Mem`), its CAS counter and its counters; the only thing it shares
//! with other stripes is the global [`PagePool`] (atomics, no lock).
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

use std::sync::Arc;

use hashbrown::HashTable;

use super::item::{self, head, Header, CONT_HDR, CONT_NEXT, CONT_OWNER};
use super::slab::{Mem, PagePool, NIL};
use super::{Miss, StoreError};
use crate::clock::RelTime;

/// Chunks examined past the CLOCK hand for an expired item before a live item is evicted.
const EXPIRED_LOOKAHEAD: usize = 32;
/// Chunks examined at a class's hand to estimate the age of its next victim.
const CANDIDATE_SCAN: usize = 8;
/// Pages of a donor class examined to pick the cheapest one to move.
const DONOR_PAGE_SCAN: usize = 16;

/// The time facts of one operation, read once before the lock is taken.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ctx {
    pub now: RelTime,
    /// Items last accessed before this moment are flushed (0: none).
    pub flush_before: RelTime,
}

/// Why an item leaves the cache (decides which counters move).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exit {
    /// Live item evicted to make room.
    Evicted,
    /// Expired/flushed item whose memory an allocation reused.
    Reclaimed(Miss),
    /// Expired/flushed item removed by the crawler.
    Crawled(Miss),
    /// Expired/flushed item found by a lookup.
    Lazy(Miss),
    /// Deleted, replaced or otherwise removed on purpose.
    Removed,
}

/// Stripe-wide counters (summed by `Store::stats`).
#[derive(Debug, Default, Clone)]
pub(crate) struct Counters {
    pub curr_items: u64,
    pub total_items: u64,
    pub bytes: u64,
    pub evictions: u64,
    pub reclaimed: u64,
    pub expired_unfetched: u64,
    pub evicted_unfetched: u64,
    pub crawler_reclaimed: u64,
    pub slabs_moved: u64,
}

/// Age estimate of a class's next CLOCK victim.
enum Candidate {
    /// Next victim is expired or flushed: reclaiming it is free.
    Dead,
    /// Seconds since the next victim was last accessed.
    Age(u32),
    /// Nothing evictable near the hand (free or pinned chunks).
    Nothing,
}

/// One lock stripe.
pub(crate) struct Stripe {
    pub id: u64,
    pub stripes: u64,
    pub index: HashTable<u32>,
    pub mem: Mem,
    pub hasher: ahash::RandomState,
    pub pool: Arc<PagePool>,
    pub counters: Counters,
    /// An allocation failed because its class had no page and none could be had; `maintain`
    /// then moves a page here from the stripe holding the most (via the pool).
    pub starved: bool,
    /// Reusable buffer (append/prepend build the new value here; no per-request allocation).
    pub scratch: Vec<u8>,
    cas_next: u64,
    crawl_slot: u32,
    crawl_idx: u32,
    /// Per class: the last second in which `rebalance` found no colder class.
    no_donor_at: Vec<RelTime>,
}

/// Copies a value given as slices into chunk memory, part by part.
struct Parts<'p> {
    parts: &'p [&'p [u8]],
    i: usize,
    off: usize,
}

impl Parts<'_> {
    fn fill(&mut self, dst: &mut [u8]) -> usize {
        let mut n = 0;
        while n < dst.len() && self.i < self.parts.len() {
            let src = &self.parts[self.i][self.off..];
            let k = src.len().min(dst.len() - n);
            dst[n..n + k].copy_from_slice(&src[..k]);
            n += k;
            self.off += k;
            if self.off == self.parts[self.i].len() {
                self.i += 1;
                self.off = 0;
            }
        }
        n
    }
}

impl Stripe {
    pub fn new(
        id: u64,
        stripes: u64,
        mem: Mem,
        hasher: ahash::RandomState,
        pool: Arc<PagePool>,
    ) -> Stripe {
        let n_classes = mem.classes.len();
        Stripe {
            id,
            stripes,
            index: HashTable::new(),
            mem,
            hasher,
            pool,
            counters: Counters::default(),
            starved: false,
            scratch: Vec::new(),
            cas_next: 1,
            crawl_slot: 0,
            crawl_idx: 0,
            no_donor_at: vec![0; n_classes],
        }
    }

    /// A fresh CAS unique: `counter * stripes + stripe id`, unique store-wide, never reused.
    pub fn next_cas(&mut self) -> u64 {
        if !self.mem.geo.layout.use_cas {
            return 0;
        }
        let cas = self.cas_next * self.stripes + self.id;
        self.cas_next += 1;
        cas
    }

    /// The index entry for `key`, valid or not.
    pub fn find(&self, hash: u64, key: &[u8]) -> Option<u32> {
        let mem = &self.mem;
        let layout = &mem.geo.layout;
        self.index
            .find(hash, |&r| head::key(mem.chunk(r), layout) == key)
            .copied()
    }

    /// Is the item still visible? (flush rule first, then expiry, as memcached does)
    pub fn validity(&self, h: u32, ctx: &Ctx) -> Result<(), Miss> {
        let c = self.mem.chunk(h);
        if head::atime(c) < ctx.flush_before {
            return Err(Miss::Flushed);
        }
        let e = head::exptime(c);
        if e != 0 && e <= ctx.now {
            return Err(Miss::Expired);
        }
        Ok(())
    }

    /// Finds a visible item; an invisible one is unlinked on the way.
    pub fn lookup(&mut self, ctx: &Ctx, hash: u64, key: &[u8]) -> Result<u32, Miss> {
        let h = self.find(hash, key).ok_or(Miss::Absent)?;
        match self.validity(h, ctx) {
            Ok(()) => Ok(h),
            Err(miss) => {
                self.unlink(h, Exit::Lazy(miss), ctx);
                Err(miss)
            }
        }
    }

    /// Sets ACCESSED + FETCHED and the access time (a CLOCK "bump": no list surgery).
    pub fn bump(&mut self, h: u32, now: RelTime) {
        let c = self.mem.chunk_mut(h);
        head::set_bits(c, head::bits(c) | item::ACCESSED | item::FETCHED);
        head::set_atime(c, now);
    }

    /// Sets or clears one of the meta bits.
    pub fn set_bit(&mut self, h: u32, bit: u8, on: bool) {
        let c = self.mem.chunk_mut(h);
        let bits = head::bits(c);
        head::set_bits(c, if on { bits | bit } else { bits & !bit });
    }

    /// Writes a new, unlinked item (tag RESERVED) and returns its head chunk.
    /// `protect` (or NIL) is never evicted to make room.
    #[allow(clippy::too_many_arguments)]
    pub fn write_item(
        &mut self,
        ctx: &Ctx,
        key: &[u8],
        parts: &[&[u8]],
        flags: u32,
        exptime: RelTime,
        cas: u64,
        protect: u32,
    ) -> Result<u32, StoreError> {
        let geo = &self.mem.geo;
        let layout = geo.layout;
        let page_size = geo.page_size;
        let largest = geo.largest();
        let value_len: usize = parts.iter().map(|p| p.len()).sum();
        if key.is_empty() || key.len() > super::MAX_KEY_LEN {
            return Err(StoreError::TooLarge);
        }
        let total = layout.total(key.len(), value_len);
        if total > geo.item_size_max || u32::try_from(value_len).is_err() {
            return Err(StoreError::TooLarge);
        }
        if total > self.pool.limit_bytes() {
            // Could never fit: fail before evicting anything.
            return Err(StoreError::OutOfMemory);
        }
        let h = Header {
            key_len: key.len() as u8,
            value_len: value_len as u32,
            flags,
            exptime,
            atime: ctx.now,
            cas,
        };
        let mut src = Parts {
            parts,
            i: 0,
            off: 0,
        };
        let chained = total > page_size;
        let head_class = if chained {
            largest
        } else {
            geo.class_for(total).expect("total fits a page")
        };
        let head_ref = self.alloc(ctx, head_class, protect)?;
        let key_off = layout.key_off(chained);
        let mut remaining = value_len;
        {
            let c = self.mem.chunk_mut(head_ref);
            layout.write_header(c, &h, chained);
            c[key_off..key_off + key.len()].copy_from_slice(key);
            remaining -= src.fill(&mut c[key_off + key.len()..]);
        }
        let mut prev = head_ref;
        while remaining > 0 {
            let need = CONT_HDR + remaining;
            let cid = self.mem.geo.class_for(need).unwrap_or(largest);
            let r = match self.alloc(ctx, cid, protect) {
                Ok(r) => r,
                Err(e) => {
                    self.free_chain(head_ref);
                    return Err(e);
                }
            };
            {
                let c = self.mem.chunk_mut(r);
                c[0] = item::TAG_CONT;
                item::put_u32(c, CONT_OWNER, head_ref);
                item::put_u32(c, CONT_NEXT, NIL);
                remaining -= src.fill(&mut c[CONT_HDR..]);
            }
            let link_off = if prev == head_ref {
                layout.hdr
            } else {
                CONT_NEXT
            };
            item::put_u32(self.mem.chunk_mut(prev), link_off, r);
            prev = r;
        }
        Ok(head_ref)
    }

    /// Makes a written item live under `hash` (it must not be in the index).
    pub fn link(&mut self, hash: u64, h: u32) {
        let c = self.mem.chunk_mut(h);
        head::set_bits(c, (head::bits(c) & !item::TAG_MASK) | item::TAG_HEAD);
        self.account(h, true);
        let mem = &self.mem;
        let hasher = &self.hasher;
        let layout = &mem.geo.layout;
        self.index.insert_unique(hash, h, |&r| {
            hasher.hash_one(head::key(mem.chunk(r), layout))
        });
    }

    /// Puts the written item `new` in place of the live item `old` (same key).
    pub fn relink(&mut self, hash: u64, old: u32, new: u32) {
        let c = self.mem.chunk_mut(new);
        head::set_bits(c, (head::bits(c) & !item::TAG_MASK) | item::TAG_HEAD);
        self.account(old, false);
        self.account(new, true);
        if let Some(slot) = self.index.find_mut(hash, |&r| r == old) {
            *slot = new;
        }
        self.free_chain(old);
    }

    fn account(&mut self, h: u32, add: bool) {
        let c = self.mem.chunk(h);
        let total = self
            .mem
            .geo
            .layout
            .total(head::key_len(c), head::value_len(c)) as u64;
        let ttl = u64::from(head::exptime(c) != 0);
        let cid = self.mem.class_of(h) as usize;
        let class = &mut self.mem.classes[cid];
        let k = &mut self.counters;
        if add {
            k.curr_items += 1;
            k.total_items += 1;
            k.bytes += total;
            class.items += 1;
            class.ttl_items += ttl;
            class.mem_requested += total;
        } else {
            k.curr_items -= 1;
            k.bytes -= total;
            class.items -= 1;
            class.ttl_items -= ttl;
            class.mem_requested -= total;
        }
    }

    /// Removes a live item from the index and frees its chunks.
    pub fn unlink(&mut self, h: u32, exit: Exit, ctx: &Ctx) {
        let (hash, bits, exptime, atime) = {
            let c = self.mem.chunk(h);
            let key = head::key(c, &self.mem.geo.layout);
            (
                self.hasher.hash_one(key),
                head::bits(c),
                head::exptime(c),
                head::atime(c),
            )
        };
        if let Ok(e) = self.index.find_entry(hash, |&r| r == h) {
            e.remove();
        }
        let cid = self.mem.class_of(h) as usize;
        let unfetched = bits & item::FETCHED == 0;
        let k = &mut self.counters;
        let cc = &mut self.mem.classes[cid].counters;
        match exit {
            Exit::Evicted => {
                k.evictions += 1;
                cc.evicted += 1;
                cc.evicted_nonzero += u64::from(exptime != 0);
                cc.evicted_time = ctx.now.saturating_sub(atime);
                k.evicted_unfetched += u64::from(unfetched);
                cc.evicted_unfetched += u64::from(unfetched);
            }
            Exit::Reclaimed(miss) | Exit::Crawled(miss) | Exit::Lazy(miss) => {
                if matches!(exit, Exit::Reclaimed(_)) {
                    k.reclaimed += 1;
                    cc.reclaimed += 1;
                }
                if matches!(exit, Exit::Crawled(_)) {
                    k.crawler_reclaimed += 1;
                    cc.crawler_reclaimed += 1;
                }
                if miss == Miss::Expired && unfetched {
                    k.expired_unfetched += 1;
                    cc.expired_unfetched += 1;
                }
            }
            Exit::Removed => {}
        }
        self.account(h, false);
        self.free_chain(h);
    }

    /// Frees every chunk of an item (linked or not).
    fn free_chain(&mut self, h: u32) {
        let mut next = head::next(self.mem.chunk(h), &self.mem.geo.layout);
        self.mem.free_chunk(h);
        while next != NIL {
            let r = next;
            next = item::get_u32(self.mem.chunk(r), CONT_NEXT);
            self.mem.free_chunk(r);
        }
    }

    /// The live, evictable item owning chunk `r` (None: free, pinned or `protect`).
    fn owner(&self, r: u32, protect: u32) -> Option<u32> {
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
    fn alloc(&mut self, ctx: &Ctx, cid: u8, protect: u32) -> Result<u32, StoreError> {
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

    /// flush_all now: drops every item and returns every page to the pool.
    pub fn flush(&mut self) {
        self.index.clear();
        self.counters.curr_items = 0;
        self.counters.bytes = 0;
        for page in self.mem.drain_pages() {
            self.pool.give(page);
        }
        self.crawl_slot = 0;
        self.crawl_idx = 0;
    }
}
