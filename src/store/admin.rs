//! Whole-store operations: `flush_all`, prefix deletes, the maintenance round the
//! background thread runs, and the memory limit (`cache_memlimit`). Each visits stripes one
//! at a time, one stripe lock at a time (the locking rules are in `store.rs`); `flush_all 0`
//! holds a stripe's lock only to move its index, page table and ghost out (constant time),
//! and hands the segments back after unlocking; the maintenance round a bounded slice per
//! stripe.

use super::*;

impl Store {
    /// flush_all: with 0 every item goes now (stripe by stripe, pages back to the pool);
    /// with a delay, items last stored or used before `now + delay` become invalid at that
    /// moment, and items stored from then on survive.
    pub fn flush_all(&self, delay_secs: u32) {
        let now = self.clock.now();
        let pending = self.flush_pending.load(Ordering::Relaxed);
        if pending != 0 && pending <= now {
            self.flush_passed.fetch_max(pending, Ordering::Relaxed);
        }
        if delay_secs == 0 {
            self.flush_pending.store(0, Ordering::Relaxed);
            self.flush_passed.fetch_max(now, Ordering::Relaxed);
            for stripe in self.stripes.iter() {
                let flushed = stripe.lock().flush();
                flushed.release(&self.pool);
            }
        } else {
            self.flush_pending
                .store(now.saturating_add(delay_secs), Ordering::Relaxed);
        }
    }

    /// memcached's `oldest` (`settings.oldest_live`): one second before the moment of the
    /// last `flush_all`, in the clock's relative seconds, from which items stored or used
    /// earlier are invalid (in the future while a delayed flush is pending); 0 before any.
    pub fn oldest_live(&self) -> u32 {
        let pending = self.flush_pending.load(Ordering::Relaxed);
        let boundary = if pending != 0 {
            pending
        } else {
            self.flush_passed.load(Ordering::Relaxed)
        };
        boundary.saturating_sub(1)
    }

    /// Delete by prefix: every item whose key starts with `prefix` and that was stored
    /// before this call stops being returned at once; items stored from now on are kept.
    /// O(stripes), whatever the number of items: nothing is walked; the hidden items are
    /// reclaimed lazily and by the crawl (see `store/tombstone.rs`).
    ///
    /// # Errors
    /// [`PrefixDeleteError::NoCas`] without CAS (`-C`), [`PrefixDeleteError::TooMany`]
    /// when too many prefix deletes are still pending.
    pub fn flush_prefix(&self, prefix: &[u8]) -> Result<(), PrefixDeleteError> {
        if !self.config.use_cas {
            return Err(PrefixDeleteError::NoCas);
        }
        let mut floors = Vec::with_capacity(self.stripes.len());
        let mut laps = Vec::with_capacity(self.stripes.len());
        for stripe in self.stripes.iter() {
            let st = stripe.lock();
            floors.push(st.cas_floor());
            laps.push(st.crawl_laps);
        }
        if self.tombstones.add(prefix, floors, laps) {
            Ok(())
        } else {
            Err(PrefixDeleteError::TooMany)
        }
    }

    /// Prefix deletes whose items may not all be reclaimed yet.
    pub fn pending_prefix_deletes(&self) -> usize {
        self.tombstones.len()
    }

    /// One bounded round of background upkeep: each stripe in turn crawls up to a fixed
    /// number of chunks (reclaiming expired and flushed items, giving whole free pages to the
    /// shared pool), and gives back one page if the memory limit was lowered below use.
    pub fn maintain(&self) {
        let ctx = self.ctx();
        if ctx.flush_before > self.flush_passed.load(Ordering::Relaxed) {
            self.flush_passed
                .fetch_max(ctx.flush_before, Ordering::Relaxed);
            let _ = self.flush_pending.compare_exchange(
                ctx.flush_before,
                0,
                Ordering::Relaxed,
                Ordering::Relaxed,
            );
        }
        self.pool.trim();
        let mut laps = Vec::new();
        for stripe in self.stripes.iter() {
            let mut st = stripe.lock();
            if st.crawl_round() {
                // The round's budget in slices, the lock handed to any waiting worker in
                // between (`unlock_fair`), so no request waits for more than one slice.
                for _ in 0..CRAWL_BUDGET / CRAWL_SLICE {
                    st.crawl_step(&ctx, CRAWL_SLICE);
                    if st.crawl_rest > 0 {
                        break;
                    }
                    MutexGuard::unlock_fair(st);
                    st = stripe.lock();
                }
            }
            st.return_spares();
            if self.pool.over_limit() {
                st.release_page(&ctx);
            }
            laps.push(st.crawl_laps);
        }
        self.tombstones.retire(&laps);
        self.pool.trim();
    }

    /// `lru_crawler crawl`: every stripe's crawler ends its back-off (see `Stripe::crawl`),
    /// so the next maintenance round starts crawling at once.
    pub fn crawl_soon(&self) {
        for stripe in self.stripes.iter() {
            let mut st = stripe.lock();
            st.crawl_rest = 0;
            st.crawl_backoff = 0;
        }
    }

    /// cache_memlimit: sets the page budget. Raising takes effect at once; lowering stops
    /// new pages at once and `maintain()` gives pages back until usage fits.
    pub fn set_memory_limit(&self, bytes: usize) {
        let pages = (bytes / self.config.page_size).max(1);
        self.memory_limit.store(bytes, Ordering::Relaxed);
        self.pool.set_limit(pages);
        self.pool.trim();
    }

    /// The memory limit in bytes: `-m`, or what `cache_memlimit` last set.
    pub fn memory_limit(&self) -> usize {
        self.memory_limit.load(Ordering::Relaxed)
    }
}
