//! Slab memory: size classes, the global page budget and pool, and one stripe's pages.
//!
//! Owns where item bytes live. Memory comes in pages of `page_size` bytes (`Box<[u8]>`), handed
//! out by the global [`PagePool`] against a budget of `memory_limit / page_size` pages (one
//! atomic counter; no lock). A stripe's [`Mem`] carves each page it owns into chunks of one size
//! class, keeps an intrusive, doubly-linked free list per class inside the free chunks, and a
//! CLOCK hand per class. Chunks are named by a `u32` chunk reference: `slot << chunk_bits |
//! chunk_index`, where `slot` indexes the stripe's page table.
//!
//! Must not know: keys, the index, eviction policy (that is `stripe.rs`), the protocol.
//!
//! Invariants:
//! - `allocated` pages (in stripes or in the pool) never exceed the page limit, except after
//!   [`PagePool::set_limit`] lowers it; then pages are dropped as they come back.
//! - Every chunk's first byte is its tag (see `item.rs`); a FREE chunk is on exactly one
//!   class's free list; `Page::used` counts the chunks of the page that are not FREE.
//! - The reference `NIL` (`u32::MAX`) is never a valid chunk: the last page slot is never used.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crossbeam::queue::SegQueue;

use super::item::{self, Layout};

/// The null chunk reference.
pub(crate) const NIL: u32 = u32::MAX;

/// memcached allows at most 63 slab classes (ids 1..=63).
pub(crate) const MAX_CLASSES: usize = 63;

/// The shape of slab memory, fixed at start: page size, class sizes, reference packing.
#[derive(Debug)]
pub(crate) struct Geometry {
    /// Bytes per page (= the largest chunk).
    pub page_size: usize,
    /// Chunk size by class id; index 0 is unused (0).
    pub sizes: Vec<usize>,
    /// Chunks per page by class id.
    pub per_page: Vec<usize>,
    /// Low bits of a chunk reference that hold the chunk index.
    pub chunk_bits: u32,
    /// Page slots a stripe may use (so that `NIL` is never a valid reference).
    pub max_slots: u32,
    /// Item header layout (with or without CAS).
    pub layout: Layout,
    /// memcached -I: the largest header + key + value.
    pub item_size_max: usize,
    /// memcached -M inverted: may live items be evicted?
    pub evict: bool,
}

impl Geometry {
    /// Builds the class table: size_i = ceil(min * factor^i), strictly increasing, the last
    /// class exactly `page_size`, at most 63 classes.
    pub fn new(
        page_size: usize,
        chunk_size_min: usize,
        factor: f64,
        layout: Layout,
        item_size_max: usize,
        evict: bool,
    ) -> Geometry {
        let mut sizes = vec![0usize];
        let mut i = 0i32;
        while sizes.len() < MAX_CLASSES {
            let exact = (chunk_size_min as f64) * factor.powi(i);
            let prev = *sizes.last().expect("sizes starts with a sentinel");
            let size = (exact.ceil() as usize).max(prev + 1);
            if size >= page_size {
                break;
            }
            sizes.push(size);
            i += 1;
        }
        sizes.push(page_size);
        let per_page: Vec<usize> = sizes
            .iter()
            .map(|&s| page_size.checked_div(s).unwrap_or(0))
            .collect();
        let max_per_page = per_page[1];
        let chunk_bits = usize::BITS - (max_per_page - 1).leading_zeros().min(usize::BITS - 1);
        let chunk_bits = chunk_bits.max(1);
        let max_slots = (1u32 << (32 - chunk_bits)) - 1;
        Geometry {
            page_size,
            sizes,
            per_page,
            chunk_bits,
            max_slots,
            layout,
            item_size_max,
            evict,
        }
    }

    /// The largest class id (chunk = page size).
    pub fn largest(&self) -> u8 {
        (self.sizes.len() - 1) as u8
    }

    /// The smallest class whose chunk holds `n` bytes (None if `n` exceeds a page).
    pub fn class_for(&self, n: usize) -> Option<u8> {
        let i = self.sizes[1..].partition_point(|&s| s < n) + 1;
        (i < self.sizes.len()).then_some(i as u8)
    }
}

/// The global page budget and the pool of whole free pages shared by all stripes.
#[derive(Debug)]
pub(crate) struct PagePool {
    free: SegQueue<Box<[u8]>>,
    allocated: AtomicUsize,
    limit: AtomicUsize,
    page_size: usize,
}

impl PagePool {
    /// A pool allowing `limit` pages of `page_size` bytes.
    pub fn new(page_size: usize, limit: usize) -> PagePool {
        PagePool {
            free: SegQueue::new(),
            allocated: AtomicUsize::new(0),
            limit: AtomicUsize::new(limit),
            page_size,
        }
    }

    /// A page from the pool, or a new one if the budget allows; None when the budget is spent.
    pub fn take(&self) -> Option<Box<[u8]>> {
        while let Some(page) = self.free.pop() {
            if self.over_limit() {
                self.allocated.fetch_sub(1, Ordering::AcqRel);
                continue;
            }
            return Some(page);
        }
        let limit = self.limit.load(Ordering::Relaxed);
        self.allocated
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |a| {
                (a < limit).then_some(a + 1)
            })
            .ok()?;
        Some(vec![0u8; self.page_size].into_boxed_slice())
    }

    /// Returns a whole page; it is dropped instead of pooled while over the limit.
    pub fn give(&self, page: Box<[u8]>) {
        if self.over_limit() {
            self.allocated.fetch_sub(1, Ordering::AcqRel);
        } else {
            self.free.push(page);
        }
    }

    /// Drops pooled pages while more pages exist than the limit allows.
    pub fn trim(&self) {
        while self.over_limit() {
            if self.free.pop().is_none() {
                break;
            }
            self.allocated.fetch_sub(1, Ordering::AcqRel);
        }
    }

    /// Are more pages allocated than the budget allows (after the limit was lowered)?
    pub fn over_limit(&self) -> bool {
        self.allocated.load(Ordering::Acquire) > self.limit.load(Ordering::Relaxed)
    }

    /// Sets the page budget.
    pub fn set_limit(&self, pages: usize) {
        self.limit.store(pages, Ordering::Relaxed);
    }

    /// The budget in bytes.
    pub fn limit_bytes(&self) -> usize {
        self.limit.load(Ordering::Relaxed) * self.page_size
    }

    /// Pages in existence (in stripes or pooled).
    pub fn allocated(&self) -> usize {
        self.allocated.load(Ordering::Acquire)
    }

    /// Whole pages waiting in the pool.
    #[cfg(test)]
    pub fn pooled(&self) -> usize {
        self.free.len()
    }
}

/// One page owned by a stripe.
#[derive(Debug, Default)]
pub(crate) struct Page {
    /// The page bytes; empty while the slot is unused.
    pub mem: Box<[u8]>,
    /// Class the page is carved for (0 while the slot is unused).
    pub class: u8,
    /// Chunks of this page that are not FREE.
    pub used: u32,
}

/// Per-class counters reported by `stats slabs` / `stats items`.
#[derive(Debug, Default, Clone)]
pub(crate) struct ClassCounters {
    pub evicted: u64,
    pub evicted_nonzero: u64,
    pub evicted_time: u32,
    pub outofmemory: u64,
    pub reclaimed: u64,
    pub expired_unfetched: u64,
    pub evicted_unfetched: u64,
    pub crawler_reclaimed: u64,
}

/// One size class inside one stripe.
#[derive(Debug)]
pub(crate) struct Class {
    /// Page slots carved for this class.
    pub pages: Vec<u32>,
    /// First free chunk (NIL if none).
    pub free_head: u32,
    /// Free chunks on the list.
    pub free_count: u64,
    /// CLOCK hand: position in `pages` and chunk index within that page.
    pub hand_pos: usize,
    pub hand_chunk: u32,
    /// Chunks the hand has passed, ever (a position that survives wrap-around).
    pub hand_ticks: u64,
    /// The expired look-ahead found nothing expired up to `clean_to` (in hand ticks) during
    /// second `clean_at` (0: unknown). Lets each eviction scan only the new part of the window.
    pub clean_to: u64,
    pub clean_at: u32,
    /// Items whose head chunk is in this class, and their total sizes.
    pub items: u64,
    /// Of those, items with an exptime (if 0, the CLOCK sweep skips its expired look-ahead).
    pub ttl_items: u64,
    pub mem_requested: u64,
    pub counters: ClassCounters,
}

impl Class {
    fn new() -> Class {
        Class {
            pages: Vec::new(),
            free_head: NIL,
            free_count: 0,
            hand_pos: 0,
            hand_chunk: 0,
            hand_ticks: 0,
            clean_to: 0,
            clean_at: 0,
            items: 0,
            ttl_items: 0,
            mem_requested: 0,
            counters: ClassCounters::default(),
        }
    }
}

/// One stripe's slab memory: page table, classes, free lists, CLOCK hands.
#[derive(Debug)]
pub(crate) struct Mem {
    pub geo: Arc<Geometry>,
    pub pages: Vec<Page>,
    free_slots: Vec<u32>,
    pub classes: Vec<Class>,
}

impl Mem {
    /// Empty memory for one stripe.
    pub fn new(geo: Arc<Geometry>) -> Mem {
        let classes = (0..geo.sizes.len()).map(|_| Class::new()).collect();
        Mem {
            geo,
            pages: Vec::new(),
            free_slots: Vec::new(),
            classes,
        }
    }

    #[inline]
    pub fn make_ref(&self, slot: u32, idx: u32) -> u32 {
        (slot << self.geo.chunk_bits) | idx
    }

    #[inline]
    pub fn slot_of(&self, r: u32) -> u32 {
        r >> self.geo.chunk_bits
    }

    #[inline]
    pub fn idx_of(&self, r: u32) -> u32 {
        r & ((1u32 << self.geo.chunk_bits) - 1)
    }

    /// The class of the page holding chunk `r`.
    #[inline]
    pub fn class_of(&self, r: u32) -> u8 {
        self.pages[self.slot_of(r) as usize].class
    }

    /// The bytes of chunk `r`.
    #[inline]
    pub fn chunk(&self, r: u32) -> &[u8] {
        let page = &self.pages[self.slot_of(r) as usize];
        let size = self.geo.sizes[page.class as usize];
        let off = self.idx_of(r) as usize * size;
        &page.mem[off..off + size]
    }

    /// The bytes of chunk `r`, writable.
    #[inline]
    pub fn chunk_mut(&mut self, r: u32) -> &mut [u8] {
        let slot = self.slot_of(r) as usize;
        let idx = self.idx_of(r) as usize;
        let page = &mut self.pages[slot];
        let size = self.geo.sizes[page.class as usize];
        let off = idx * size;
        &mut page.mem[off..off + size]
    }

    /// The tag of chunk `r`.
    #[inline]
    pub fn tag(&self, r: u32) -> u8 {
        item::tag(self.chunk(r))
    }

    /// Total pages this stripe holds.
    pub fn page_count(&self) -> usize {
        self.pages.len() - self.free_slots.len()
    }

    /// Takes a free chunk of class `cid`, tagged RESERVED.
    pub fn pop_free(&mut self, cid: u8) -> Option<u32> {
        let r = self.classes[cid as usize].free_head;
        if r == NIL {
            return None;
        }
        self.unlink_free(r);
        self.chunk_mut(r)[0] = item::TAG_RESERVED;
        let slot = self.slot_of(r) as usize;
        self.pages[slot].used += 1;
        Some(r)
    }

    /// Returns chunk `r` to its class's free list.
    pub fn free_chunk(&mut self, r: u32) {
        let slot = self.slot_of(r) as usize;
        self.pages[slot].used -= 1;
        self.push_free(r);
    }

    fn push_free(&mut self, r: u32) {
        let cid = self.class_of(r) as usize;
        let head = self.classes[cid].free_head;
        {
            let c = self.chunk_mut(r);
            c[0] = item::TAG_FREE;
            item::put_u32(c, 1, NIL);
            item::put_u32(c, 5, head);
        }
        if head != NIL {
            item::put_u32(self.chunk_mut(head), 1, r);
        }
        let class = &mut self.classes[cid];
        class.free_head = r;
        class.free_count += 1;
    }

    /// Removes the FREE chunk `r` from its class's free list (O(1)).
    pub fn unlink_free(&mut self, r: u32) {
        let cid = self.class_of(r) as usize;
        let (prev, next) = {
            let c = self.chunk(r);
            (item::get_u32(c, 1), item::get_u32(c, 5))
        };
        if prev == NIL {
            self.classes[cid].free_head = next;
        } else {
            item::put_u32(self.chunk_mut(prev), 5, next);
        }
        if next != NIL {
            item::put_u32(self.chunk_mut(next), 1, prev);
        }
        self.classes[cid].free_count -= 1;
    }

    /// Adopts a whole page for class `cid` and carves it into free chunks.
    /// Gives the page back (Err) if the page table is full.
    pub fn add_page(&mut self, mem: Box<[u8]>, cid: u8) -> Result<(), Box<[u8]>> {
        let slot = match self.free_slots.pop() {
            Some(s) => s,
            None if (self.pages.len() as u32) < self.geo.max_slots => {
                self.pages.push(Page::default());
                (self.pages.len() - 1) as u32
            }
            None => return Err(mem),
        };
        self.pages[slot as usize] = Page {
            mem,
            class: cid,
            used: 0,
        };
        self.carve(slot, cid);
        let class = &mut self.classes[cid as usize];
        class.pages.push(slot);
        class.clean_at = 0;
        Ok(())
    }

    /// Carves the page in `slot` into free chunks of class `cid` (lowest index popped first).
    fn carve(&mut self, slot: u32, cid: u8) {
        self.pages[slot as usize].class = cid;
        let n = self.geo.per_page[cid as usize] as u32;
        for idx in (0..n).rev() {
            let r = self.make_ref(slot, idx);
            self.push_free(r);
        }
    }

    /// Removes a page whose chunks are all FREE from its class and returns its bytes.
    pub fn remove_page(&mut self, slot: u32) -> Box<[u8]> {
        debug_assert_eq!(self.pages[slot as usize].used, 0);
        let cid = self.pages[slot as usize].class;
        let n = self.geo.per_page[cid as usize] as u32;
        for idx in 0..n {
            let r = self.make_ref(slot, idx);
            self.unlink_free(r);
        }
        let class = &mut self.classes[cid as usize];
        let pos = class
            .pages
            .iter()
            .position(|&s| s == slot)
            .expect("a page is listed by the class it is carved for");
        class.pages.swap_remove(pos);
        class.clean_at = 0;
        if class.hand_pos == pos || class.hand_pos >= class.pages.len() {
            class.hand_chunk = 0;
        }
        if class.hand_pos >= class.pages.len() {
            class.hand_pos = 0;
        }
        let page = std::mem::take(&mut self.pages[slot as usize]);
        self.free_slots.push(slot);
        page.mem
    }

    /// Releases every page (flush_all): returns their bytes and resets all classes.
    pub fn drain_pages(&mut self) -> Vec<Box<[u8]>> {
        let mut out = Vec::with_capacity(self.page_count());
        for page in self.pages.drain(..) {
            if !page.mem.is_empty() {
                out.push(page.mem);
            }
        }
        self.free_slots.clear();
        for class in &mut self.classes {
            class.pages.clear();
            class.free_head = NIL;
            class.free_count = 0;
            class.hand_pos = 0;
            class.hand_chunk = 0;
            class.clean_at = 0;
            class.items = 0;
            class.ttl_items = 0;
            class.mem_requested = 0;
        }
        out
    }

    /// The chunk `k` positions ahead of class `cid`'s CLOCK hand (None if the class is empty).
    pub fn peek_hand(&self, cid: u8, k: usize) -> Option<u32> {
        let class = &self.classes[cid as usize];
        let n_pages = class.pages.len();
        if n_pages == 0 {
            return None;
        }
        if k == 0 {
            return Some(self.make_ref(class.pages[class.hand_pos], class.hand_chunk));
        }
        let per = self.geo.per_page[cid as usize];
        let linear = class.hand_pos * per + class.hand_chunk as usize + k;
        let pos = (linear / per) % n_pages;
        let idx = (linear % per) as u32;
        Some(self.make_ref(class.pages[pos], idx))
    }

    /// Up to `n` chunks from class `cid`'s hand onward, without moving it (no divisions).
    pub fn hand_ahead(&self, cid: u8, n: usize) -> impl Iterator<Item = u32> + '_ {
        let class = &self.classes[cid as usize];
        let per = self.geo.per_page[cid as usize] as u32;
        let n = if class.pages.is_empty() { 0 } else { n };
        let (mut pos, mut idx) = (class.hand_pos, class.hand_chunk);
        (0..n).map(move |_| {
            let r = self.make_ref(class.pages[pos], idx);
            idx += 1;
            if idx >= per {
                idx = 0;
                pos += 1;
                if pos >= class.pages.len() {
                    pos = 0;
                }
            }
            r
        })
    }

    /// Moves class `cid`'s hand one chunk forward.
    pub fn advance_hand(&mut self, cid: u8) {
        let per = self.geo.per_page[cid as usize] as u32;
        let class = &mut self.classes[cid as usize];
        class.hand_ticks += 1;
        class.hand_chunk += 1;
        if class.hand_chunk >= per {
            class.hand_chunk = 0;
            class.hand_pos += 1;
            if class.hand_pos >= class.pages.len() {
                class.hand_pos = 0;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn geo(page: usize) -> Arc<Geometry> {
        Arc::new(Geometry::new(
            page,
            48,
            1.25,
            Layout::new(true),
            1 << 20,
            true,
        ))
    }

    #[test]
    fn size_classes_follow_the_growth_factor() {
        let g = geo(64 * 1024);
        assert_eq!(&g.sizes[1..8], &[48, 60, 75, 94, 118, 147, 184]);
        assert_eq!(*g.sizes.last().unwrap(), 64 * 1024);
        assert!(g.sizes.len() - 1 <= MAX_CLASSES);
        assert!(g.sizes.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(g.per_page[6], 65536 / 147);
        assert_eq!(g.class_for(138), Some(6));
        assert_eq!(g.class_for(147), Some(6));
        assert_eq!(g.class_for(148), Some(7));
        assert_eq!(g.class_for(1), Some(1));
        assert_eq!(g.class_for(65536), Some(g.largest()));
        assert_eq!(g.class_for(65537), None);
        // 1365 chunks of 48 bytes need 11 bits.
        assert_eq!(g.chunk_bits, 11);
    }

    #[test]
    fn classes_cap_at_63_and_stay_increasing_with_tiny_factor() {
        let g = Geometry::new(1 << 20, 48, 1.01, Layout::new(true), 1 << 20, true);
        assert_eq!(g.sizes.len() - 1, MAX_CLASSES);
        assert!(g.sizes.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(*g.sizes.last().unwrap(), 1 << 20);
    }

    #[test]
    fn pool_never_exceeds_its_budget() {
        let pool = PagePool::new(1024, 3);
        let a = pool.take().unwrap();
        let b = pool.take().unwrap();
        let c = pool.take().unwrap();
        assert!(pool.take().is_none());
        assert_eq!(pool.allocated(), 3);
        pool.give(a);
        assert_eq!(pool.pooled(), 1);
        let a = pool.take().unwrap();
        assert_eq!(a.len(), 1024);
        pool.set_limit(1);
        pool.give(a);
        pool.give(b);
        assert_eq!(pool.allocated(), 1);
        assert!(pool.take().is_none());
        pool.give(c);
        pool.set_limit(4);
        assert!(pool.take().is_some());
    }

    #[test]
    fn carving_and_free_lists() {
        let g = geo(4096);
        let mut m = Mem::new(g.clone());
        m.add_page(vec![0u8; 4096].into_boxed_slice(), 1).unwrap();
        let per = g.per_page[1] as u64;
        assert_eq!(m.classes[1].free_count, per);
        let a = m.pop_free(1).unwrap();
        let b = m.pop_free(1).unwrap();
        assert_eq!((m.idx_of(a), m.idx_of(b)), (0, 1));
        assert_eq!(m.tag(a), item::TAG_RESERVED);
        assert_eq!(m.pages[0].used, 2);
        m.free_chunk(a);
        assert_eq!(m.tag(a), item::TAG_FREE);
        assert_eq!(m.pop_free(1), Some(a));
        m.free_chunk(a);
        m.free_chunk(b);
        assert_eq!(m.classes[1].free_count, per);
        // Unlink from the middle of the list keeps it consistent.
        let mid = m.make_ref(0, 5);
        m.unlink_free(mid);
        let mut seen = 0;
        while let Some(r) = m.pop_free(1) {
            assert_ne!(r, mid);
            seen += 1;
        }
        assert_eq!(seen, per - 1);
    }

    #[test]
    fn remove_page_and_reuse_slot() {
        let g = geo(4096);
        let mut m = Mem::new(g);
        m.add_page(vec![0u8; 4096].into_boxed_slice(), 2).unwrap();
        m.add_page(vec![0u8; 4096].into_boxed_slice(), 3).unwrap();
        let page = m.remove_page(0);
        assert_eq!(page.len(), 4096);
        assert_eq!(m.classes[2].free_count, 0);
        assert!(m.classes[2].pages.is_empty());
        assert_eq!(m.page_count(), 1);
        m.add_page(page, 3).unwrap();
        assert_eq!(m.classes[3].pages, vec![1, 0]);
        assert_eq!(m.drain_pages().len(), 2);
        assert_eq!(m.page_count(), 0);
    }

    #[test]
    fn hand_walks_every_chunk_of_the_class() {
        let g = geo(4096);
        let per = g.per_page[4];
        let mut m = Mem::new(g);
        m.add_page(vec![0u8; 4096].into_boxed_slice(), 4).unwrap();
        m.add_page(vec![0u8; 4096].into_boxed_slice(), 4).unwrap();
        let mut seen = std::collections::HashSet::new();
        for _ in 0..2 * per {
            seen.insert(m.peek_hand(4, 0).unwrap());
            m.advance_hand(4);
        }
        assert_eq!(seen.len(), 2 * per);
        assert_eq!(m.peek_hand(4, 0), Some(m.make_ref(0, 0)));
        assert_eq!(m.peek_hand(4, per + 1), Some(m.make_ref(1, 1)));
        assert_eq!(m.peek_hand(5, 0), None);
        let ahead: Vec<u32> = m.hand_ahead(4, per + 2).collect();
        let peeked: Vec<u32> = (0..per + 2).map(|k| m.peek_hand(4, k).unwrap()).collect();
        assert_eq!(ahead, peeked);
        assert_eq!(m.hand_ahead(5, 3).count(), 0);
    }
}
