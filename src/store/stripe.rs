//! Stripe: one lock's worth of cache (index + slab memory + counters).
//!
//! Every method here assumes the stripe's mutex is held: having `&mut Stripe` *is* holding
//! the lock (the Rust form of memcached's `do_` functions). A stripe owns its hash index, its
//! pages and size classes (`Mem`), its CAS counter and its counters; the only thing it shares
//! with other stripes is the global [`PagePool`] (atomics, no lock).
//!
//! Allocation, eviction, page moves and the crawler are in `evict.rs` (same type, more
//! methods).

use std::sync::Arc;

use hashbrown::HashTable;

use super::item::{self, head, Header, CONT_HDR, CONT_NEXT, CONT_OWNER};
use super::slab::{Mem, PagePool, NIL};
use super::{Miss, StoreError};
use crate::clock::RelTime;

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
    pub crawl_slot: u32,
    pub crawl_idx: u32,
    /// Per class: the last second in which `rebalance` found no colder class.
    pub no_donor_at: Vec<RelTime>,
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
        // 2^64 / stripes uniques per stripe: wrapping is unreachable, but never a panic.
        let cas = self
            .cas_next
            .wrapping_mul(self.stripes)
            .wrapping_add(self.id);
        self.cas_next = self.cas_next.wrapping_add(1);
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
