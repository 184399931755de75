//! Store statistics: counters summed over stripes for `stats`, `stats slabs`, `stats items`
//! and `stats sizes`. Visits one stripe lock at a time (never two), so the sums are not a
//! consistent snapshot across stripes, like memcached's.

use super::{ItemRef, Store};

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
    /// Segments in the small (probationary) queues.
    pub small_segments: u64,
    /// Segments in the main queues.
    pub main_segments: u64,
    /// Bytes of the ghosts' fingerprint tables (outside the limit).
    pub ghost_bytes: u64,
    /// Per reporting class (items grouped by size), only classes holding or having held
    /// items.
    pub classes: Vec<ClassStats>,
}

/// Per-class counters, summed over stripes. Classes only group items by size for reporting
/// (memory is shared by all sizes): `total_pages` is the segments the class's items fill.
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
        let page_size = geo.page_size;
        let mut classes: Vec<ClassStats> = (0..geo.sizes.len())
            .map(|id| ClassStats {
                id: id as u8,
                chunk_size: geo.sizes[id],
                chunks_per_page: page_size.checked_div(geo.sizes[id]).unwrap_or(0),
                ..ClassStats::default()
            })
            .collect();
        let mut s = StoreStats::default();
        let mut oldest_age = 0u32;
        for stripe in self.stripes.iter() {
            let mut st = stripe.lock();
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
            s.small_segments += st.mem.small.segs as u64;
            s.main_segments += st.mem.main.segs as u64;
            s.ghost_bytes += st.ghost.bytes() as u64;
            for (id, class) in st.mem.classes.iter().enumerate().skip(1) {
                let out = &mut classes[id];
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
            }
            if let Some(atime) = st.oldest_atime() {
                oldest_age = oldest_age.max(ctx.now.saturating_sub(atime));
            }
        }
        // Memory is not divided by class: a class is shown with the segments its items fill.
        for c in &mut classes {
            c.total_pages = c.mem_requested.div_ceil(page_size as u64);
            c.total_chunks = c.total_pages * c.chunks_per_page as u64;
            c.used_chunks = c.items.min(c.total_chunks);
            c.free_chunks = c.total_chunks - c.used_chunks;
            c.age = oldest_age;
        }
        s.classes = classes
            .into_iter()
            .skip(1)
            .filter(|c| c.total_pages > 0 || c.outofmemory > 0 || c.evicted > 0)
            .collect();
        let pages = self.pool.allocated() as u64;
        s.limit_maxbytes = self.memory_limit() as u64;
        s.total_pages = pages;
        s.total_malloced = pages * self.config.page_size as u64;
        s
    }

    /// `stats sizes`: item total size rounded up to 32-byte buckets → item count, ascending.
    /// Walks each stripe one index sub-table per lock hold (a few hundred items), so the
    /// lock is never held for a time that grows with the cache; items that move between
    /// sub-tables meanwhile (a split) may be counted twice or not at all.
    pub fn size_histogram(&self) -> Vec<(usize, u64)> {
        let mut buckets = std::collections::BTreeMap::new();
        for stripe in self.stripes.iter() {
            let mut i = 0;
            loop {
                let st = stripe.lock();
                if i >= st.index.tables() {
                    break;
                }
                for &h in st.index.iter_table(i) {
                    let size = ItemRef {
                        mem: &st.mem,
                        head: h,
                    }
                    .total_size();
                    *buckets.entry(size.div_ceil(32) * 32).or_insert(0u64) += 1;
                }
                i += 1;
            }
        }
        buckets.into_iter().collect()
    }
}
