//! Segment memory: one stripe's segments and queues, and the only access to their bytes.
//!
//! Owns where item bytes live. Memory comes in segments of `page_size` bytes ([`PageBuf`],
//! shared through an `Arc` with readers of large values: `page.rs` has the rule), handed
//! out by the global [`PagePool`] (`pool.rs`) against a budget of `memory_limit / page_size`
//! segments (one atomic counter; no lock); their shape is [`Geometry`] (`geometry.rs`). A stripe's [`Mem`] holds the segments it took in a
//! page table and appends item records to them back to back, whatever their size: there are
//! no size classes to strand memory in, and no chunk rounding. Records are named by a `u32`
//! reference: `slot << off_bits | byte offset`, where `slot` indexes the stripe's page table.
//!
//! A stripe's segments form two FIFO queues ([`Log`]), the small queue and the main queue of
//! the eviction policy (see `evict.rs`): each has one open segment that new records are
//! appended to, and closed segments in insertion order, oldest first. Segments that hold
//! nothing wait in `spare` for the next queue that needs one.
//!
//! Must not know: keys, the index, the eviction policy's decisions, the protocol.
//!
//! Invariants:
//! - `allocated` segments (in stripes or in the pool) never exceed the budget, except after
//!   [`PagePool::set_limit`] lowers it; then segments are dropped as they come back.
//! - Every record's first byte is its tag (see `item.rs`), and `Page::used` bytes of a segment
//!   are a sequence of whole records; `Page::live` counts the bytes of its HEAD and CONT
//!   records (not DEAD, not RESERVED).
//! - A segment is in at most one place: a queue (open or closed), `spare`, or taken for an
//!   item being written. Closed queue entries carry the segment's generation; an entry whose
//!   generation is stale was removed lazily and is skipped.
//! - The reference `NIL` (`u32::MAX`) is never a valid record: the last page slot is never used.

// Segment bytes are reached through `PageBuf`'s unsafe accessors, each call with a
// `// SAFETY:` note naming the case of page.rs's rule (crate root: deny(unsafe_code)).
#![allow(unsafe_code)]

use std::collections::VecDeque;
use std::sync::Arc;

pub(crate) use super::geometry::Geometry;
use super::item::{self, head, CONT_HDR, CONT_LEN};
use super::page::{PageBuf, ValuePart, BY_REF_MIN};
pub(crate) use super::pool::PagePool;

pub(crate) use super::item::NIL;

/// Where a segment is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Queue {
    /// Empty and unqueued (spare), or unused slot.
    #[default]
    None,
    /// In the small (probationary) queue.
    Small,
    /// In the main queue.
    Main,
    /// Taken for an item being written; queued once the item is complete.
    Fresh,
}

/// One segment owned by a stripe.
#[derive(Debug, Default)]
pub(crate) struct Page {
    /// The segment bytes; None while the slot is unused.
    pub mem: Option<Arc<PageBuf>>,
    /// Bytes written (records are appended at this offset).
    pub used: u32,
    /// Bytes of live records.
    pub live: u32,
    /// Which queue holds it.
    pub queue: Queue,
    /// Bumped whenever the segment leaves a queue (stale closed-queue entries are skipped).
    pub gen: u32,
    /// Listed on the stripe's mostly-dead list (so it is listed once).
    pub sparse: bool,
}

impl Page {
    /// Do readers share this segment (a large value being sent from it)? Then eviction and
    /// compaction pass it over. Exact under the stripe lock in one direction: new readers
    /// are made only under it, so a segment seen unshared stays so while the lock is held.
    #[inline]
    pub fn shared(&self) -> bool {
        self.mem.as_ref().is_some_and(|m| Arc::strong_count(m) > 1)
    }
}

/// One FIFO queue of segments: an open segment and closed ones, oldest first.
#[derive(Debug)]
pub(crate) struct Log {
    /// Closed segments with the generation they were queued in.
    pub closed: VecDeque<(u32, u32)>,
    /// The segment records are appended to (NIL if none).
    pub open: u32,
    /// Segments in the queue, the open one included.
    pub segs: usize,
}

impl Log {
    fn new() -> Log {
        Log {
            closed: VecDeque::new(),
            open: NIL,
            segs: 0,
        }
    }
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

/// Items of one reporting class (by total size) inside one stripe.
#[derive(Debug, Default, Clone)]
pub(crate) struct Class {
    pub items: u64,
    pub mem_requested: u64,
    pub counters: ClassCounters,
}

/// One stripe's segment memory: page table, queues, spare segments.
#[derive(Debug)]
pub(crate) struct Mem {
    pub geo: std::sync::Arc<Geometry>,
    pub pages: Vec<Page>,
    /// Page-table slots without memory.
    empty_slots: Vec<u32>,
    /// Slots holding an empty segment not in any queue.
    pub spare: Vec<u32>,
    pub small: Log,
    pub main: Log,
    pub classes: Vec<Class>,
    /// Bumped whenever every segment is released at once (`drain_pages`, flush_all): a
    /// position saved in this memory (the snapshot writer's) is void once it changes.
    pub epoch: u64,
}

impl Mem {
    /// Empty memory for one stripe.
    pub fn new(geo: std::sync::Arc<Geometry>) -> Mem {
        let classes = vec![Class::default(); geo.sizes.len()];
        Mem {
            geo,
            pages: Vec::new(),
            empty_slots: Vec::new(),
            spare: Vec::new(),
            small: Log::new(),
            main: Log::new(),
            classes,
            epoch: 0,
        }
    }

    #[inline]
    pub fn make_ref(&self, slot: u32, off: usize) -> u32 {
        (slot << self.geo.off_bits) | off as u32
    }

    #[inline]
    pub fn slot_of(&self, r: u32) -> u32 {
        r >> self.geo.off_bits
    }

    #[inline]
    pub fn off_of(&self, r: u32) -> usize {
        (r & ((1u32 << self.geo.off_bits) - 1)) as usize
    }

    /// Segment `slot`'s memory (the slot is in use).
    #[inline]
    fn buf(&self, slot: usize) -> &PageBuf {
        self.pages[slot]
            .mem
            .as_deref()
            .expect("a record reference names a slot with memory")
    }

    /// The bytes from record `r` to the end of its segment.
    #[inline]
    pub fn chunk(&self, r: u32) -> &[u8] {
        let off = self.off_of(r);
        let buf = self.buf(self.slot_of(r) as usize);
        // SAFETY: in bounds (`off` < page size). Mutable references into segment memory are
        // made only by `&mut self` methods of `Mem`, so none is alive during this borrow;
        // other threads hold only shared references (ValuePart), so shared is sound.
        unsafe { buf.bytes(off, buf.len() - off) }
    }

    /// The header of the written record `r`, writable: bits and tag, use count, times, CAS,
    /// chain links. Never value bytes, so it is sound while readers share the segment.
    #[inline]
    pub fn header_mut(&mut self, r: u32) -> &mut [u8] {
        let c = self.chunk(r);
        let len = if c[0] & item::WAS_CONT != 0 {
            CONT_HDR
        } else {
            self.geo.layout.key_off(c)
        };
        let off = self.off_of(r);
        let buf = self.buf(self.slot_of(r) as usize);
        // SAFETY: in bounds (a record's header lies inside its segment). `&mut self` excludes
        // every other reference the owner could hold; readers' ValueParts cover only value
        // bytes, never a header (page.rs's rule).
        unsafe { buf.bytes_mut(off, len) }
    }

    /// The `len` bytes of record `r`, just reserved by [`Mem::append`] and not yet linked:
    /// for writing a new record.
    #[inline]
    pub fn fresh_mut(&mut self, r: u32, len: usize) -> &mut [u8] {
        let off = self.off_of(r);
        let slot = self.slot_of(r) as usize;
        debug_assert!(off + len <= self.pages[slot].used as usize);
        let buf = self.buf(slot);
        assert!(off + len <= buf.len(), "a record fits its segment");
        // SAFETY: in bounds (checked). The bytes were past every record when `append`
        // reserved them, and a segment starts over (used = 0) only while no reader shares it,
        // so no ValuePart covers them; `&mut self` excludes the owner's other references.
        unsafe { buf.bytes_mut(off, len) }
    }

    /// The value of the unchained item `h`, writable in place (incr/decr), if it is shorter
    /// than [`BY_REF_MIN`]: no reader ever holds such a value by reference. None otherwise
    /// (the caller writes a new record instead).
    pub fn small_value_mut(&mut self, h: u32) -> Option<&mut [u8]> {
        let c = self.chunk(h);
        if head::chained(c) || head::value_len(c) >= BY_REF_MIN {
            return None;
        }
        let (key_len, value_len) = (head::key_len(c), head::value_len(c));
        let off = self.off_of(h) + self.geo.layout.key_off(c) + key_len;
        let buf = self.buf(self.slot_of(h) as usize);
        // SAFETY: in bounds (the record lies inside its segment). ValueParts are made only of
        // values of at least BY_REF_MIN bytes and of chained values, so none covers these
        // bytes; `&mut self` excludes the owner's other references.
        Some(unsafe { buf.bytes_mut(off, value_len) })
    }

    /// Copies the `len`-byte record `src` to the fresh record `dst` (reserved by
    /// [`Mem::append`] in another segment).
    pub fn copy_record(&mut self, src: u32, dst: u32, len: usize) {
        debug_assert_ne!(self.slot_of(src), self.slot_of(dst));
        let off = self.off_of(src);
        let from = self.buf(self.slot_of(src) as usize);
        // SAFETY: in bounds (a record lies inside its segment); shared, and no mutable
        // reference covers it: the only one alive below is to `dst`, in another segment.
        let from = unsafe { from.bytes(off, len) };
        let to_off = self.off_of(dst);
        let to = self.buf(self.slot_of(dst) as usize);
        assert!(to_off + len <= to.len(), "a record fits its segment");
        // SAFETY: in bounds (checked); fresh bytes past every record, so no ValuePart covers
        // them (as in `fresh_mut`), and `from` is in another segment.
        unsafe { to.bytes_mut(to_off, len) }.copy_from_slice(from);
    }

    /// Moves `len` bytes of segment `slot` from offset `from` to `to` (compaction). The
    /// segment must not be shared with readers (eviction passes over shared segments):
    /// false, and nothing moved, if it is.
    pub fn move_within(&mut self, slot: u32, from: usize, to: usize, len: usize) -> bool {
        match self.pages[slot as usize]
            .mem
            .as_mut()
            .and_then(Arc::get_mut)
        {
            Some(buf) => {
                buf.all_mut().copy_within(from..from + len, to);
                true
            }
            None => false,
        }
    }

    /// Do readers share segment `slot`? See [`Page::shared`].
    #[inline]
    pub fn shared(&self, slot: u32) -> bool {
        self.pages[slot as usize].shared()
    }

    /// A [`ValuePart`] for `len` value bytes at offset `off` of record `r`'s segment.
    pub(crate) fn value_part(&self, r: u32, off: usize, len: usize) -> ValuePart {
        let slot = self.slot_of(r) as usize;
        let mem = self.pages[slot]
            .mem
            .as_ref()
            .expect("a record reference names a slot with memory");
        ValuePart::new(Arc::clone(mem), self.off_of(r) + off, len)
    }

    /// The tag of record `r`.
    #[inline]
    pub fn tag(&self, r: u32) -> u8 {
        item::tag(self.chunk(r))
    }

    /// Length in bytes of record `r` (any tag; the header outlives the item).
    pub fn record_len(&self, r: u32) -> usize {
        let c = self.chunk(r);
        match item::tag(c) {
            _ if c[0] & item::WAS_CONT != 0 => CONT_HDR + item::get_u32(c, CONT_LEN) as usize,
            _ if head::chained(c) => c.len(),
            _ => self.geo.layout.total_of(c),
        }
    }

    /// The reporting class of the item whose head record is `h` (by its total size).
    pub fn class_of(&self, h: u32) -> u8 {
        let c = self.chunk(h);
        let total = self.geo.layout.total_of(c);
        self.geo.class_for(total).unwrap_or(self.geo.largest())
    }

    /// Segments this stripe holds.
    pub fn page_count(&self) -> usize {
        self.pages.len() - self.empty_slots.len()
    }

    /// Free bytes at the end of segment `slot`.
    #[inline]
    pub fn room(&self, slot: u32) -> usize {
        self.geo.page_size - self.pages[slot as usize].used as usize
    }

    /// Reserves `n` bytes at the end of segment `slot` (which has the room) for a record.
    pub fn append(&mut self, slot: u32, n: usize) -> u32 {
        let page = &mut self.pages[slot as usize];
        let off = page.used as usize;
        debug_assert!(off + n <= self.geo.page_size);
        page.used += n as u32;
        self.make_ref(slot, off)
    }

    /// Adopts an empty segment into the page table (not queued). Gives it back (Err) if the
    /// page table is full.
    pub fn add_page(&mut self, mem: Arc<PageBuf>) -> Result<u32, Arc<PageBuf>> {
        let slot = match self.empty_slots.pop() {
            Some(s) => s,
            None if (self.pages.len() as u32) < self.geo.max_slots => {
                self.pages.push(Page::default());
                (self.pages.len() - 1) as u32
            }
            None => return Err(mem),
        };
        let page = &mut self.pages[slot as usize];
        page.mem = Some(mem);
        page.used = 0;
        page.live = 0;
        page.queue = Queue::None;
        page.gen = page.gen.wrapping_add(1);
        Ok(slot)
    }

    /// Removes an unqueued segment from the page table and returns its bytes.
    pub fn remove_page(&mut self, slot: u32) -> Arc<PageBuf> {
        let page = &mut self.pages[slot as usize];
        debug_assert_eq!(page.live, 0);
        debug_assert_eq!(page.queue, Queue::None);
        page.used = 0;
        page.gen = page.gen.wrapping_add(1);
        let mem = page.mem.take().expect("a removed slot had memory");
        self.empty_slots.push(slot);
        mem
    }

    /// Releases every segment (flush_all): moves the page table out and resets the queues,
    /// in time independent of the stripe's size (the caller hands the segments back to the
    /// pool after releasing the stripe lock: [`Mem::segments_of`]).
    pub fn take_pages(&mut self) -> Vec<Page> {
        self.epoch = self.epoch.wrapping_add(1);
        self.empty_slots.clear();
        self.spare.clear();
        self.small = Log::new();
        self.main = Log::new();
        for class in &mut self.classes {
            class.items = 0;
            class.mem_requested = 0;
        }
        std::mem::take(&mut self.pages)
    }

    /// The segments of a page table taken by [`Mem::take_pages`].
    pub fn segments_of(pages: Vec<Page>) -> impl Iterator<Item = Arc<PageBuf>> {
        pages.into_iter().filter_map(|p| p.mem)
    }

    /// The queue `q`.
    pub fn log(&self, q: Queue) -> &Log {
        match q {
            Queue::Small => &self.small,
            _ => &self.main,
        }
    }

    fn log_mut(&mut self, q: Queue) -> &mut Log {
        match q {
            Queue::Small => &mut self.small,
            _ => &mut self.main,
        }
    }

    /// Appends segment `slot` to queue `q` as a closed segment (newest).
    pub fn push_closed(&mut self, q: Queue, slot: u32) {
        let page = &mut self.pages[slot as usize];
        page.queue = q;
        let gen = page.gen;
        let log = self.log_mut(q);
        log.closed.push_back((slot, gen));
        log.segs += 1;
    }

    /// Makes `slot` the open segment of queue `q`; the previous open segment is closed.
    pub fn set_open(&mut self, q: Queue, slot: u32) {
        let prev = self.log(q).open;
        if prev != NIL {
            let log = self.log_mut(q);
            log.open = NIL;
            log.segs -= 1;
            self.push_closed(q, prev);
        }
        self.pages[slot as usize].queue = q;
        let log = self.log_mut(q);
        log.open = slot;
        log.segs += 1;
    }

    /// Takes segment `slot` out of its queue (lazily for closed segments).
    pub fn detach(&mut self, slot: u32) {
        let q = self.pages[slot as usize].queue;
        if matches!(q, Queue::Small | Queue::Main) {
            let log = self.log_mut(q);
            if log.open == slot {
                log.open = NIL;
            }
            log.segs -= 1;
        }
        let page = &mut self.pages[slot as usize];
        page.queue = Queue::None;
        page.gen = page.gen.wrapping_add(1);
    }

    /// The oldest closed segment of queue `q` that is not in `pinned` nor shared with
    /// readers; stale entries at the front are dropped on the way.
    pub fn oldest(&mut self, q: Queue, pinned: &[u32]) -> Option<u32> {
        loop {
            let &(slot, gen) = self.log(q).closed.front()?;
            let page = &self.pages[slot as usize];
            if page.gen == gen && page.queue == q {
                break;
            }
            self.log_mut(q).closed.pop_front();
        }
        let pages = &self.pages;
        self.log(q)
            .closed
            .iter()
            .find(|&&(slot, gen)| {
                let page = &pages[slot as usize];
                page.gen == gen && page.queue == q && !pinned.contains(&slot) && !page.shared()
            })
            .map(|&(slot, _)| slot)
    }

    /// Is `slot` the open segment of its queue?
    pub fn is_open(&self, slot: u32) -> bool {
        self.small.open == slot || self.main.open == slot
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::geometry::test_geometry as geo;

    #[test]
    fn queues_keep_fifo_order_and_skip_detached_segments() {
        let g = geo(4096);
        let mut m = Mem::new(g);
        let slots: Vec<u32> = (0..4)
            .map(|_| m.add_page(Arc::new(PageBuf::zeroed(4096))).unwrap())
            .collect();
        for &s in &slots {
            m.set_open(Queue::Main, s);
        }
        // The last one is open; the first three are closed, oldest first.
        assert_eq!(m.main.open, slots[3]);
        assert_eq!(m.main.segs, 4);
        assert_eq!(m.oldest(Queue::Main, &[]), Some(slots[0]));
        assert_eq!(m.oldest(Queue::Main, &[slots[0]]), Some(slots[1]));
        m.detach(slots[0]);
        assert_eq!(m.oldest(Queue::Main, &[]), Some(slots[1]));
        m.detach(slots[3]);
        assert_eq!(m.main.open, NIL);
        assert_eq!(m.main.segs, 2);
        assert_eq!(m.oldest(Queue::Small, &[]), None);
        let r = m.append(slots[0], 100);
        assert_eq!((m.slot_of(r), m.off_of(r)), (slots[0], 0));
        let r = m.append(slots[0], 50);
        assert_eq!(m.off_of(r), 100);
        assert_eq!(m.room(slots[0]), 4096 - 150);
    }
}
