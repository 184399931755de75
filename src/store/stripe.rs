//! Stripe: one lock's worth of cache (index + segment memory + policy state + counters).
//!
//! Every method here assumes the stripe's mutex is held: having `&mut Stripe` *is* holding
//! the lock (the Rust form of memcached's `do_` functions). A stripe owns its hash index, its
//! segments and queues (`Mem`), its ghost, its CAS counter and its counters; it shares with
//! other stripes the global [`PagePool`] (atomics, no lock) and, to take memory from a
//! stripe holding more than its share, the other stripes' mutexes, which it only ever
//! *tries* to lock (see `evict.rs` and the locking rules in `store.rs`).
//!
//! Making room, eviction and the crawler are in `evict.rs` (same type, more methods).

use std::sync::{Arc, Weak};

use super::ghost::Ghost;
use super::index::Index;
use super::item::{self, head, Header, CONT_HDR, CONT_LEN, CONT_NEXT, CONT_OWNER};
use super::policy::Params;
use super::segment::{Mem, Page, PagePool, Queue, NIL};
use super::tombstone::Tombstones;
use super::{Miss, StoreError, Stripes};
use crate::clock::RelTime;

/// The time facts of one operation, read once before the lock is taken.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Moment {
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

/// One lock stripe.
pub(crate) struct Stripe {
    pub id: u64,
    pub stripes: u64,
    pub index: Index,
    pub mem: Mem,
    pub hasher: ahash::RandomState,
    pub pool: Arc<PagePool>,
    /// The other stripes, to take memory from one holding more than its share.
    pub siblings: Weak<Stripes>,
    pub policy: Params,
    pub ghost: Ghost,
    pub counters: Counters,
    /// Reusable buffer (append/prepend build the new value here; no per-request allocation).
    pub scratch: Vec<u8>,
    cas_next: u64,
    /// The crawler's position: page slot and byte offset.
    pub crawl_slot: u32,
    pub crawl_off: u32,
    /// Segments at least half dead: compacted before live items are evicted.
    pub sparse: Vec<u32>,
    /// Segments that must not be evicted during the current operation (the item it reads).
    pub pinned: Vec<u32>,
    /// Fresh segments of a chained item being written (queued once it is complete).
    pub pending: Vec<u32>,
    /// Item count past which the ghost is resized.
    ghost_fit_at: u64,
    /// The store's pending prefix deletes (shared by every stripe; `Store::new` sets it).
    pub tombstones: Arc<Tombstones>,
    /// Laps of the page table the crawler has completed (retires tombstones).
    pub crawl_laps: u64,
    /// Items the crawler has unlinked in its current lap.
    pub crawl_found: u64,
    /// Maintenance rounds the crawler sits out before its next lap, and how many it sat
    /// out after the last lap (doubling while laps find nothing: `evict.rs`, `crawl`).
    pub crawl_rest: u32,
    pub crawl_backoff: u32,
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
        siblings: Weak<Stripes>,
        policy: Params,
    ) -> Stripe {
        Stripe {
            id,
            stripes,
            index: Index::new(),
            mem,
            hasher,
            pool,
            siblings,
            policy,
            ghost: Ghost::default(),
            counters: Counters::default(),
            scratch: Vec::new(),
            cas_next: 1,
            crawl_slot: 0,
            crawl_off: 0,
            sparse: Vec::new(),
            tombstones: Arc::default(),
            crawl_laps: 0,
            crawl_found: 0,
            crawl_rest: 0,
            crawl_backoff: 0,
            pinned: Vec::new(),
            pending: Vec::new(),
            ghost_fit_at: 0,
        }
    }

    /// A fresh CAS unique: `counter * stripes + stripe id`, unique store-wide, never reused.
    pub fn next_cas(&mut self) -> u64 {
        if !self.mem.geo.layout.use_cas {
            return 0;
        }
        // 2^64 / stripes uniques per stripe: wrapping is unreachable, but never a panic.
        let cas = self
            .cas_next
            .wrapping_mul(self.stripes)
            .wrapping_add(self.id);
        self.cas_next = self.cas_next.wrapping_add(1);
        cas
    }

    /// The lowest CAS unique this stripe will hand out from now on.
    pub fn cas_floor(&self) -> u64 {
        self.cas_next
            .wrapping_mul(self.stripes)
            .wrapping_add(self.id)
    }

    /// Makes every CAS unique this stripe hands out from now on greater than `cas` (after a
    /// snapshot loaded items with their old uniques).
    pub fn raise_cas_above(&mut self, cas: u64) {
        let next = cas / self.stripes + 1;
        self.cas_next = self.cas_next.max(next);
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
    pub fn validity(&self, h: u32, ctx: &Moment) -> Result<(), Miss> {
        let c = self.mem.chunk(h);
        if head::atime(c) < ctx.flush_before {
            return Err(Miss::Flushed);
        }
        let e = head::exptime(c, &self.mem.geo.layout);
        if e != 0 && e <= ctx.now {
            return Err(Miss::Expired);
        }
        // Under a prefix delete (`flush_prefix`): stored before it, so flushed.
        if self.tombstones.active() {
            let layout = &self.mem.geo.layout;
            if self
                .tombstones
                .hides(self.id as usize, head::key(c, layout), head::cas(c, layout))
            {
                return Err(Miss::Flushed);
            }
        }
        Ok(())
    }

    /// Finds a visible item; an invisible one is unlinked on the way.
    pub fn lookup(&mut self, ctx: &Moment, hash: u64, key: &[u8]) -> Result<u32, Miss> {
        let h = self.find(hash, key).ok_or(Miss::Absent)?;
        match self.validity(h, ctx) {
            Ok(()) => Ok(h),
            Err(miss) => {
                self.unlink(h, Exit::Lazy(miss), ctx);
                Err(miss)
            }
        }
    }

    /// A read: counts a use (up to the policy's cap), sets FETCHED and the access time.
    /// Header writes only: no list surgery, no other lock.
    pub fn bump(&mut self, h: u32, now: RelTime) {
        let cap = self.policy.freq_cap;
        let c = self.mem.header_mut(h);
        head::set_bits(c, head::bits(c) | item::FETCHED);
        let f = head::freq(c);
        if f < cap {
            head::set_freq(c, f + 1);
        }
        head::set_atime(c, now);
    }

    /// Sets or clears one of the meta bits.
    pub fn set_bit(&mut self, h: u32, bit: u8, on: bool) {
        let c = self.mem.header_mut(h);
        let bits = head::bits(c);
        head::set_bits(c, if on { bits | bit } else { bits & !bit });
    }

    /// The queue a new item for `hash` enters: main if the ghost remembers it (or the
    /// policy has no small queue), else small. A replacement enters its old item's queue.
    pub fn queue_for(&mut self, hash: u64, old: u32) -> Queue {
        if old != NIL {
            let q = self.mem.pages[self.mem.slot_of(old) as usize].queue;
            if q == Queue::Small || q == Queue::Main {
                return q;
            }
        }
        if self.policy.small_percent == 0
            || !self.mem.geo.evict
            || (self.policy.ghost && self.ghost.take(hash))
        {
            Queue::Main
        } else {
            Queue::Small
        }
    }

    /// Pins the segments holding item `h` for the current operation (none if NIL).
    fn pin(&mut self, h: u32) {
        self.pinned.clear();
        if h == NIL {
            return;
        }
        self.pinned.push(self.mem.slot_of(h));
        let mut next = head::next(self.mem.chunk(h), &self.mem.geo.layout);
        while next != NIL {
            self.pinned.push(self.mem.slot_of(next));
            next = item::get_u32(self.mem.chunk(next), CONT_NEXT);
        }
    }

    /// Writes a new, unlinked item (tag RESERVED) into queue `q` and returns its head record.
    /// `protect` (or NIL) is never evicted or moved to make room.
    #[allow(clippy::too_many_arguments)]
    pub fn write_item(
        &mut self,
        ctx: &Moment,
        q: Queue,
        key: &[u8],
        parts: &[&[u8]],
        flags: u32,
        exptime: RelTime,
        cas: u64,
        protect: u32,
    ) -> Result<u32, StoreError> {
        // Copies of the fields, not a clone of the shared `Arc<Geometry>`: an Arc clone is an
        // atomic write to a cache line every stripe shares, on every store.
        let layout = self.mem.geo.layout;
        let page_size = self.mem.geo.page_size;
        let item_size_max = self.mem.geo.item_size_max;
        let value_len: usize = parts.iter().map(|p| p.len()).sum();
        if key.is_empty() || key.len() > super::MAX_KEY_LEN {
            return Err(StoreError::TooLarge);
        }
        let total = layout.total(key.len(), value_len, flags, exptime);
        if total > item_size_max || value_len >= 1 << 30 {
            return Err(StoreError::TooLarge);
        }
        let chained = total > page_size;
        // Could never fit: fail before evicting anything. A chained item needs a segment per
        // part, with the continuation headers.
        let parts_needed = if chained {
            total.div_ceil(page_size - CONT_HDR)
        } else {
            1
        };
        if parts_needed > self.pool.limit() {
            return Err(StoreError::OutOfMemory);
        }
        self.pin(protect);
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
        let result = if chained {
            self.write_chained(ctx, q, &h, key, &mut src)
        } else {
            self.reserve(ctx, q, total).inspect(|&r| {
                let c = self.mem.fresh_mut(r, total);
                layout.write_header(c, &h, false);
                let key_off = layout.key_off(c);
                c[key_off..key_off + key.len()].copy_from_slice(key);
                src.fill(&mut c[key_off + key.len()..total]);
            })
        };
        self.pinned.clear();
        result
    }

    /// A chained item: the head record fills a fresh segment, each further part fills a
    /// fresh segment, and the last part is appended to queue `q` like any record. The fresh
    /// segments join `q` once everything is written.
    fn write_chained(
        &mut self,
        ctx: &Moment,
        q: Queue,
        h: &Header,
        key: &[u8],
        src: &mut Parts<'_>,
    ) -> Result<u32, StoreError> {
        let layout = self.mem.geo.layout;
        let page_size = self.mem.geo.page_size;
        self.pending.clear();
        let slot = self.fresh_segment(ctx)?;
        let head_ref = self.mem.append(slot, page_size);
        let mut remaining = h.value_len as usize;
        let next_off;
        {
            let c = self.mem.fresh_mut(head_ref, page_size);
            layout.write_header(c, h, true);
            next_off = layout.next_off(c);
            let key_off = layout.key_off(c);
            c[key_off..key_off + key.len()].copy_from_slice(key);
            remaining -= src.fill(&mut c[key_off + key.len()..]);
        }
        let mut prev = head_ref;
        while remaining > 0 {
            let len = remaining.min(page_size - CONT_HDR);
            let r = if CONT_HDR + len < page_size {
                self.reserve(ctx, q, CONT_HDR + len)
            } else {
                self.fresh_segment(ctx)
                    .map(|slot| self.mem.append(slot, page_size))
            };
            let r = match r {
                Ok(r) => r,
                Err(e) => {
                    self.abandon(head_ref);
                    return Err(e);
                }
            };
            {
                let c = self.mem.fresh_mut(r, CONT_HDR + len);
                c[0] = item::TAG_CONT | item::WAS_CONT;
                item::put_u32(c, CONT_OWNER, head_ref);
                item::put_u32(c, CONT_NEXT, NIL);
                item::put_u32(c, CONT_LEN, len as u32);
                src.fill(&mut c[CONT_HDR..CONT_HDR + len]);
            }
            remaining -= len;
            let link_off = if prev == head_ref {
                next_off
            } else {
                CONT_NEXT
            };
            item::put_u32(self.mem.header_mut(prev), link_off, r);
            prev = r;
        }
        for i in 0..self.pending.len() {
            let slot = self.pending[i];
            self.mem.push_closed(q, slot);
        }
        self.pending.clear();
        self.sync_held();
        Ok(head_ref)
    }

    /// Gives up on a chained item whose writing failed: its records become DEAD and its
    /// fresh segments spare.
    fn abandon(&mut self, head_ref: u32) {
        self.mark(head_ref, item::TAG_DEAD);
        for i in 0..self.pending.len() {
            let slot = self.pending[i];
            let page = &mut self.mem.pages[slot as usize];
            page.used = 0;
            page.live = 0;
            page.queue = Queue::None;
            self.mem.spare.push(slot);
        }
        self.pending.clear();
    }

    /// Sets the tag of every record of item `h` (RESERVED, HEAD or DEAD) and keeps the
    /// segments' live byte counts: HEAD records count, others do not.
    fn mark(&mut self, h: u32, tag: u8) {
        let was_live = self.mem.tag(h) == item::TAG_HEAD;
        let now_live = tag == item::TAG_HEAD;
        let layout = self.mem.geo.layout;
        let mut r = h;
        while r != NIL {
            let len = self.mem.record_len(r) as u32;
            let slot = self.mem.slot_of(r);
            let next = {
                let c = self.mem.header_mut(r);
                if r == h {
                    head::set_bits(c, (head::bits(c) & !item::TAG_MASK) | tag);
                    head::next(c, &layout)
                } else {
                    c[0] = item::WAS_CONT
                        | if tag == item::TAG_DEAD {
                            item::TAG_DEAD
                        } else {
                            item::TAG_CONT
                        };
                    item::get_u32(c, CONT_NEXT)
                }
            };
            let page = &mut self.mem.pages[slot as usize];
            if now_live && !was_live {
                page.live += len;
            } else if was_live && !now_live {
                page.live -= len;
                if !page.sparse
                    && page.live * 2 <= page.used
                    && matches!(page.queue, Queue::Small | Queue::Main)
                {
                    self.mem.pages[slot as usize].sparse = true;
                    self.sparse.push(slot);
                }
            }
            r = next;
        }
    }

    /// Makes a written item live under `hash` (it must not be in the index).
    pub fn link(&mut self, hash: u64, h: u32) {
        self.mark(h, item::TAG_HEAD);
        self.account(h, true);
        let mem = &self.mem;
        let hasher = &self.hasher;
        let layout = &mem.geo.layout;
        self.index.insert_unique(hash, h, |&r| {
            hasher.hash_one(head::key(mem.chunk(r), layout))
        });
        if self.counters.curr_items > self.ghost_fit_at {
            self.ghost.fit(self.counters.curr_items);
            self.ghost_fit_at = self.counters.curr_items.next_power_of_two();
        }
    }

    /// Puts the written item `new` in place of the live item `old` (same key); the new item
    /// keeps the old one's use count.
    pub fn relink(&mut self, hash: u64, old: u32, new: u32) {
        let f = head::freq(self.mem.chunk(old));
        head::set_freq(self.mem.header_mut(new), f);
        self.mark(new, item::TAG_HEAD);
        self.account(old, false);
        self.account(new, true);
        if let Some(slot) = self.index.find_mut(hash, |&r| r == old) {
            *slot = new;
        }
        self.mark(old, item::TAG_DEAD);
    }

    fn account(&mut self, h: u32, add: bool) {
        let c = self.mem.chunk(h);
        let total = self.mem.geo.layout.total_of(c) as u64;
        let cid = self.mem.class_of(h) as usize;
        let class = &mut self.mem.classes[cid];
        let k = &mut self.counters;
        if add {
            k.curr_items += 1;
            k.total_items += 1;
            k.bytes += total;
            class.items += 1;
            class.mem_requested += total;
        } else {
            k.curr_items -= 1;
            k.bytes -= total;
            class.items -= 1;
            class.mem_requested -= total;
        }
    }

    /// Removes a live item from the index and marks its records dead. Returns its key hash.
    pub fn unlink(&mut self, h: u32, exit: Exit, ctx: &Moment) -> u64 {
        let (hash, bits, exptime, atime) = {
            let c = self.mem.chunk(h);
            let key = head::key(c, &self.mem.geo.layout);
            (
                self.hasher.hash_one(key),
                head::bits(c),
                head::exptime(c, &self.mem.geo.layout),
                head::atime(c),
            )
        };
        self.index.remove(hash, |&r| r == h);
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
        self.mark(h, item::TAG_DEAD);
        hash
    }

    /// Records in the pool how many segments this stripe holds.
    pub fn sync_held(&self) {
        self.pool.set_held(self.id as usize, self.mem.page_count());
    }

    /// flush_all now: drops every item and gives up every segment, in time independent of
    /// the stripe's size: the index, the page table and the ghost are moved out whole and
    /// returned, for the caller to release after unlocking ([`Flushed::release`]: segments
    /// back to the pool, the index's sub-tables freed).
    #[must_use = "release what was flushed after unlocking"]
    pub fn flush(&mut self) -> Flushed {
        let index = std::mem::take(&mut self.index);
        let pages = self.mem.take_pages();
        let ghost = std::mem::take(&mut self.ghost);
        self.ghost_fit_at = 0;
        self.counters.curr_items = 0;
        self.counters.bytes = 0;
        self.sparse.clear();
        self.crawl_slot = 0;
        self.crawl_off = 0;
        self.sync_held();
        Flushed {
            index,
            pages,
            ghost,
        }
    }
}

/// What a flushed stripe gave up ([`Stripe::flush`]), released without its lock.
pub(crate) struct Flushed {
    index: Index,
    pages: Vec<Page>,
    ghost: Ghost,
}

impl Flushed {
    /// Hands the segments back to the pool and frees the old index and ghost: the part of a
    /// flush whose time grows with the stripe's size, done with no lock held.
    pub fn release(self, pool: &PagePool) {
        drop(self.index);
        drop(self.ghost);
        for mem in Mem::segments_of(self.pages) {
            pool.give(mem);
        }
    }
}
