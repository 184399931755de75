//! Store statistics: counters summed over stripes for `stats`, `stats slabs`, `stats items`
//! and `stats sizes`. Visits one stripe lock at a time (never two), so the sums are not a
//! consistent snapshot across stripes, like memcached's.

use std::sync::atomic::Ordering;

use super::{item, ItemRef, Store};

/// Store-wide counters for `stats`, `stats slabs` and `stats items`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Items stored now.
    pub curr_items: u64,
    /// Items ever stored.
    pub total_items: u64,
    /// Bytes of items stored now (header + key + value).
    pub bytes: u64,
    /// Live items evicted to make room.
    pub evictions: u64,
    /// Allocations that reused an expired item's memory.
    pub reclaimed: u64,
    /// Expired items never fetched.
    pub expired_unfetched: u64,
    /// Evicted items never fetched.
    pub evicted_unfetched: u64,
    /// Expired items removed by the crawler.
    pub crawler_reclaimed: u64,
    /// Pages moved between size classes.
    pub slabs_moved: u64,
    /// The memory limit in bytes.
    pub limit_maxbytes: u64,
    /// Bytes of pages in existence.
    pub total_malloced: u64,
    /// Pages in existence (in stripes or in the free pool).
    pub total_pages: u64,
    /// Per class, only classes that have pages.
    pub classes: Vec<ClassStats>,
}

/// Per-class counters, summed over stripes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClassStats {
    /// Class id (1..=63).
    pub id: u8,
    /// Chunk size in bytes.
    pub chunk_size: usize,
    /// Chunks per page.
    pub chunks_per_page: usize,
    /// Pages carved for this class.
    pub total_pages: u64,
    /// Chunks in those pages.
    pub total_chunks: u64,
    /// Chunks in use.
    pub used_chunks: u64,
    /// Chunks free.
    pub free_chunks: u64,
    /// Items whose head chunk is in this class.
    pub items: u64,
    /// Bytes those items asked for.
    pub mem_requested: u64,
    /// Seconds since the next eviction candidate was last used (oldest over stripes).
    pub age: u32,
    /// Items evicted.
    pub evicted: u64,
    /// Evicted items that had an expiry time.
    pub evicted_nonzero: u64,
    /// Seconds since the last evicted item was used.
    pub evicted_time: u32,
    /// Allocations that failed.
    pub outofmemory: u64,
    /// Allocations that reused expired memory.
    pub reclaimed: u64,
    /// Expired items never fetched.
    pub expired_unfetched: u64,
    /// Evicted items never fetched.
    pub evicted_unfetched: u64,
    /// Expired items removed by the crawler.
    pub crawler_reclaimed: u64,
}

impl Store {
    /// `stats reset`: zeroes the event counters (evictions, reclaims, totals, per-class
    /// counts) one stripe at a time, as memcached's `stats reset` does; the gauges
    /// (`curr_items`, `bytes`, pages) keep describing what is stored.
    pub fn reset_stats(&self) {
        for stripe in self.stripes.iter() {
            let mut st = stripe.lock();
            let k = &mut st.counters;
            k.total_items = 0;
            k.evictions = 0;
            k.reclaimed = 0;
            k.expired_unfetched = 0;
            k.evicted_unfetched = 0;
            k.crawler_reclaimed = 0;
            k.slabs_moved = 0;
            for class in st.mem.classes.iter_mut() {
                class.counters = Default::default();
            }
        }
    }

    /// Counters summed over stripes (one stripe lock at a time).
    pub fn stats(&self) -> StoreStats {
        let ctx = self.ctx();
        let geo = &self.geo;
        let mut classes: Vec<ClassStats> = (0..geo.sizes.len())
            .map(|id| ClassStats {
                id: id as u8,
                chunk_size: geo.sizes[id],
                chunks_per_page: geo.per_page[id],
                ..ClassStats::default()
            })
            .collect();
        let mut s = StoreStats::default();
        for stripe in self.stripes.iter() {
            let st = stripe.lock();
            let k = &st.counters;
            s.curr_items += k.curr_items;
            s.total_items += k.total_items;
            s.bytes += k.bytes;
            s.evictions += k.evictions;
            s.reclaimed += k.reclaimed;
            s.expired_unfetched += k.expired_unfetched;
            s.evicted_unfetched += k.evicted_unfetched;
            s.crawler_reclaimed += k.crawler_reclaimed;
            s.slabs_moved += k.slabs_moved;
            for (id, class) in st.mem.classes.iter().enumerate().skip(1) {
                let out = &mut classes[id];
                let pages = class.pages.len() as u64;
                out.total_pages += pages;
                out.total_chunks += pages * geo.per_page[id] as u64;
                out.free_chunks += class.free_count;
                out.items += class.items;
                out.mem_requested += class.mem_requested;
                let c = &class.counters;
                out.evicted += c.evicted;
                out.evicted_nonzero += c.evicted_nonzero;
                out.evicted_time = out.evicted_time.max(c.evicted_time);
                out.outofmemory += c.outofmemory;
                out.reclaimed += c.reclaimed;
                out.expired_unfetched += c.expired_unfetched;
                out.evicted_unfetched += c.evicted_unfetched;
                out.crawler_reclaimed += c.crawler_reclaimed;
                if let Some(r) = st.mem.peek_hand(id as u8, 0) {
                    if st.mem.tag(r) == item::TAG_HEAD {
                        let atime = item::head::atime(st.mem.chunk(r));
                        out.age = out.age.max(ctx.now.saturating_sub(atime));
                    }
                }
            }
        }
        for c in &mut classes {
            c.used_chunks = c.total_chunks - c.free_chunks;
        }
        s.classes = classes
            .into_iter()
            .skip(1)
            .filter(|c| c.total_pages > 0)
            .collect();
        let pages = self.pool.allocated() as u64;
        s.limit_maxbytes = self.memory_limit.load(Ordering::Relaxed) as u64;
        s.total_pages = pages;
        s.total_malloced = pages * self.config.page_size as u64;
        s
    }

    /// `stats sizes`: item total size rounded up to 32-byte buckets → item count, ascending.
    pub fn size_histogram(&self) -> Vec<(usize, u64)> {
        let mut buckets = std::collections::BTreeMap::new();
        for stripe in self.stripes.iter() {
            let st = stripe.lock();
            for &h in st.index.iter() {
                let size = ItemRef {
                    mem: &st.mem,
                    head: h,
                }
                .total_size();
                *buckets.entry(size.div_ceil(32) * 32).or_insert(0u64) += 1;
            }
        }
        buckets.into_iter().collect()
    }
}
