//! The global segment budget and the pool of empty segments every stripe may take from:
//! one atomic counter against `memory_limit / page_size` and a lock-free queue, no lock.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crossbeam::queue::SegQueue;

use super::page::PageBuf;

/// The global segment budget and the pool of empty segments shared by all stripes.
#[derive(Debug)]
pub(crate) struct PagePool {
    free: SegQueue<Arc<PageBuf>>,
    allocated: AtomicUsize,
    limit: AtomicUsize,
    page_size: usize,
    /// Segments each stripe holds (written by the stripe under its lock, read by any).
    held: Box<[AtomicUsize]>,
}

impl PagePool {
    /// A pool allowing `limit` segments of `page_size` bytes, shared by `stripes` stripes.
    pub fn new(page_size: usize, limit: usize, stripes: usize) -> PagePool {
        PagePool {
            free: SegQueue::new(),
            allocated: AtomicUsize::new(0),
            limit: AtomicUsize::new(limit),
            page_size,
            held: (0..stripes).map(|_| AtomicUsize::new(0)).collect(),
        }
    }

    /// A segment from the pool, or a new one if the budget allows; None when it is spent.
    pub fn take(&self) -> Option<Arc<PageBuf>> {
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
        Some(Arc::new(PageBuf::zeroed(self.page_size)))
    }

    /// Returns a whole segment; it is dropped instead of pooled while over the limit, and
    /// when readers still share it (a flush_all while a slow client is sent a large value):
    /// then it leaves the budget at once and its memory is freed when the last reader is
    /// done (that memory is the one outside `-m`, bounded like all output held for slow
    /// readers: `server/conn.rs`).
    pub fn give(&self, page: Arc<PageBuf>) {
        if self.over_limit() || Arc::strong_count(&page) > 1 {
            self.allocated.fetch_sub(1, Ordering::AcqRel);
        } else {
            self.free.push(page);
        }
    }

    /// Drops pooled segments while more exist than the limit allows.
    pub fn trim(&self) {
        while self.over_limit() {
            if self.free.pop().is_none() {
                break;
            }
            self.allocated.fetch_sub(1, Ordering::AcqRel);
        }
    }

    /// Are more segments allocated than the budget allows (after the limit was lowered)?
    pub fn over_limit(&self) -> bool {
        self.allocated.load(Ordering::Acquire) > self.limit.load(Ordering::Relaxed)
    }

    /// Sets the budget in segments.
    pub fn set_limit(&self, pages: usize) {
        self.limit.store(pages, Ordering::Relaxed);
    }

    /// The budget in segments.
    pub fn limit(&self) -> usize {
        self.limit.load(Ordering::Relaxed)
    }

    /// Segments in existence (in stripes or pooled).
    pub fn allocated(&self) -> usize {
        self.allocated.load(Ordering::Acquire)
    }

    /// Records how many segments stripe `id` holds.
    pub fn set_held(&self, id: usize, n: usize) {
        self.held[id].store(n, Ordering::Relaxed);
    }

    /// Segments stripe `id` holds (as last recorded).
    pub fn held(&self, id: usize) -> usize {
        self.held[id].load(Ordering::Relaxed)
    }

    /// The stripe holding the most segments, other than `except`.
    pub fn richest(&self, except: usize) -> Option<(usize, usize)> {
        (0..self.held.len())
            .filter(|&i| i != except)
            .map(|i| (i, self.held(i)))
            .max_by_key(|&(_, n)| n)
    }

    /// An even split of the budget over the stripes, in segments.
    pub fn fair_share(&self) -> usize {
        self.limit() / self.held.len()
    }

    /// Empty segments waiting in the pool.
    pub fn pooled(&self) -> usize {
        self.free.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_never_exceeds_its_budget() {
        let pool = PagePool::new(1024, 3, 1);
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
}
