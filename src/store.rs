//! The cache: a lock-striped, log-structured cache with S3-FIFO eviction, TTLs, CAS and a
//! hard memory ceiling. [`Store`] is the only door.
//!
//! Owns keys ↔ items. Must not know: sockets, the protocol, the server's config (it gets a
//! [`StoreConfig`]). Private submodules:
//! - `item`: byte layout of records; `view`: [`ItemRef`] and the value iterators;
//! - `segment`: a stripe's segments and queues, the only access to segment bytes;
//! - `page`: segment memory shared with readers of large values ([`ValuePart`]);
//! - `pool`, `geometry`: the global segment budget and pool; the shape of segments;
//! - `stripe`: one lock's worth of cache (index, write/link/unlink, counters);
//! - `index`: a stripe's hash index, grown one bounded sub-table split at a time;
//! - `evict`: making room, the eviction policy's queue work, the crawler;
//! - `policy`: the eviction policies by name ([`Eviction`]);
//! - `ghost`: fingerprints of keys recently evicted from the small queue;
//! - `ops`: compound read-modify-write operations (replace, append, incr/decr);
//! - `entry`: the meta protocol's entry API;
//! - `stats`: counters summed over stripes;
//! - `scan`: bounded, resumable walks over live items (key listings);
//! - `tombstone`: pending prefix deletes (`flush_prefix`);
//! - `snapshot`: copying items out in bounded batches and loading them back (the file
//!   format and its I/O are `crate::snapshot`'s).
//!
//! docs/STORE.md describes the memory layout and the policies in full.
//!
//! # Locking rules (complete)
//!
//! 1. There is one lock level: the stripe locks. `stripes` (a power of two) stripes, each a
//!    `CachePadded<parking_lot::Mutex<Stripe>>`. A key belongs to the stripe picked by bits
//!    40.. of its ahash (the hash table itself uses the low bits and the top 7 bits, so the
//!    stripe choice does not weaken it).
//! 2. No code ever *waits* for a second stripe lock while holding one. Operations on one key (get, gat, set and friends,
//!    delete, touch, incr/decr, entry) lock exactly the key's stripe, once, for the whole
//!    operation, including the caller's closure in `get`/`entry` (values are copied out of
//!    segment memory while the lock is held, or, from 16 KiB, taken as `ValuePart`s that pin
//!    their segment: `page.rs`; there are no item refcounts). That single hold is
//!    what makes every per-key operation atomic: incr and cas loops cannot lose updates.
//!    The one exception to "one lock": a stripe that needs memory and holds less than its
//!    share (or has nothing left to evict) may `try_lock` another stripe to make it give a
//!    segment to the pool (`evict.rs`, `Stripe::steal`). It never blocks on that lock
//!    (a failed try moves on; a last round waits at most 1 ms per stripe and gives up), so
//!    two stripes taking from each other cannot deadlock; the stripe that gives runs its own
//!    eviction and tries no further lock.
//! 3. Whole-store operations (`flush_all`, `maintain`, `stats`, `size_histogram`) visit
//!    stripes one at a time, taking and releasing each lock in turn; they never see a
//!    consistent snapshot across stripes and do not need one.
//! 4. Everything a stripe owns (index, segments, queues, ghost, counters, CAS counter)
//!    is only touched with its lock held: a `&mut Stripe` is the proof.
//! 5. State shared between stripes is lock-free and never held across anything: the segment
//!    budget (`AtomicUsize` of segments in existence, compare-and-swap against the limit), the
//!    pool of empty segments (`crossbeam::queue::SegQueue`), the per-stripe segment counts,
//!    the flush times and the clock
//!    (relaxed `AtomicU32` loads). They are read or updated while a stripe lock is held,
//!    which is safe because they never block.
//! 6. Eviction upkeep takes no extra lock and moves nothing on a hit: a read counts a use
//!    (2 bits) and sets the access time in the item header under the stripe lock the read
//!    already holds. Queue work happens only when memory is needed, one segment at a time.
//! 7. Closures passed to `get`, `get_and_touch` and `entry` run with the stripe lock held:
//!    they must not call back into the same `Store` (parking_lot mutexes are not reentrant;
//!    doing so deadlocks) and should only copy bytes out.
//!
//! There is no `unsafe` in the store: segments are `Box<[u8]>` and fields are read with
//! `from_le_bytes` on slices.

mod admin;
mod entry;
mod evict;
mod geometry;
mod ghost;
mod index;
mod item;
mod ops;
mod outcome;
mod page;
mod policy;
mod pool;
mod scan;
mod segment;
mod snapshot;
mod stats;
mod stripe;
mod tombstone;
mod view;

use std::fmt;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::Arc;

use crossbeam::utils::CachePadded;
use parking_lot::{Mutex, MutexGuard};

use crate::clock::{Clock, RelTime};
pub use entry::{Entry, NewItem, OccupiedEntry, VacantEntry};
pub use outcome::{ArithOutcome, Delta, Miss, PrefixDeleteError, SetMode, SetOutcome, StoreError};
pub use page::{ValuePart, BY_REF_MIN};
pub use policy::Eviction;
pub use scan::{ScanCursor, Scanned};
use segment::{Geometry, Mem, PagePool};
pub use snapshot::{ExportCursor, ExportMeta, ImportItem, ImportScratch, ImportTally, Imported};
pub use stats::{ClassStats, StoreStats};
use stripe::{Exit, Moment, Stripe};
use tombstone::Tombstones;
pub use view::{ItemRef, ValueChunks, ValueParts};

/// Longest key the store accepts (memcached's KEY_MAX_LENGTH).
pub const MAX_KEY_LEN: usize = 250;

/// Fewest segments per stripe (on average) that `Store::new` keeps by lowering `stripes`:
/// each stripe keeps two segments open, so fewer stripes waste less of a small cache.
const MIN_PAGES_PER_STRIPE: usize = 32;

/// The most memory an even share gives one stripe (half of what a stripe can address).
const MAX_STRIPE_SHARE: usize = 2 << 30;

/// Records the crawler visits per stripe per `maintain()` round.
const CRAWL_BUDGET: usize = 4096;
/// Records the crawler visits per stripe lock hold (a quarter of the round's budget: about
/// 0.1 ms of cache misses).
const CRAWL_SLICE: usize = 1024;

/// The stripes, shared with each stripe (weakly) so that one can take memory from another.
pub(crate) struct Stripes(Box<[CachePadded<Mutex<Stripe>>]>);

impl std::ops::Deref for Stripes {
    type Target = [CachePadded<Mutex<Stripe>>];

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

/// Store parameters (memcached flags in brackets).
#[derive(Debug, Clone, PartialEq)]
pub struct StoreConfig {
    /// Hard ceiling on item memory in bytes (-m).
    pub memory_limit: usize,
    /// Largest item: header + key + value (-I); 1 KiB ..= 1 GiB.
    pub item_size_max: usize,
    /// Smallest chunk in bytes (-n).
    pub chunk_size_min: usize,
    /// Size growth factor between reporting classes (-f), > 1.
    pub growth_factor: f64,
    /// Bytes per segment; larger items are chained over several.
    pub page_size: usize,
    /// Keep a CAS unique per item (-C turns it off and saves 8 bytes per item).
    pub use_cas: bool,
    /// Evict live items when memory is full (-M turns it off: OutOfMemory instead).
    pub evict: bool,
    /// Which items to evict (-o eviction=).
    pub eviction: Eviction,
    /// Lock stripes (a power of two), scaled with the worker count by the server. `Store::new`
    /// halves it while the budget would give a stripe fewer than 32 segments on average
    /// (each stripe keeps segments open, so a tiny cache works better with fewer stripes),
    /// and doubles it while an even share would exceed 2 GiB (a stripe addresses 4 GiB).
    pub stripes: usize,
}

impl Default for StoreConfig {
    fn default() -> StoreConfig {
        StoreConfig {
            memory_limit: 64 << 20,
            item_size_max: 1 << 20,
            chunk_size_min: 48,
            growth_factor: 1.25,
            page_size: 64 << 10,
            use_cas: true,
            evict: true,
            eviction: Eviction::S3Fifo,
            stripes: 16,
        }
    }
}

/// A rejected [`StoreConfig`], with the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreConfigError(pub String);

impl fmt::Display for StoreConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid store configuration: {}", self.0)
    }
}

impl std::error::Error for StoreConfigError {}

/// What [`Store::find_locked`] finds: the locked stripe, the moment, the key's hash and the
/// item's head record.
type Found<'s> = (MutexGuard<'s, Stripe>, Moment, u64, u32);

/// The cache. `Send + Sync`; share it as `Arc<Store>`.
pub struct Store {
    config: StoreConfig,
    clock: Clock,
    stripes: Arc<Stripes>,
    hasher: ahash::RandomState,
    pool: Arc<PagePool>,
    geo: Arc<Geometry>,
    stripe_mask: usize,
    memory_limit: AtomicUsize,
    /// Items last accessed before this time are flushed.
    flush_passed: AtomicU32,
    /// A delayed flush_all: when it comes (0: none).
    flush_pending: AtomicU32,
    /// Pending prefix deletes (`flush_prefix`).
    tombstones: Arc<Tombstones>,
}

/// Checks that the size `name` (the page, the largest item) is 1 KiB ..= 1 GiB.
fn size_kib_to_gib(name: &str, v: usize) -> Result<(), StoreConfigError> {
    if (1024..=1 << 30).contains(&v) {
        Ok(())
    } else {
        Err(StoreConfigError(format!(
            "{name} must be 1 KiB ..= 1 GiB, got {v}"
        )))
    }
}

fn validate(c: &StoreConfig) -> Result<(), StoreConfigError> {
    let err = |s: String| Err(StoreConfigError(s));
    if !c.stripes.is_power_of_two() || c.stripes > 1 << 16 {
        return err(format!(
            "stripes must be a power of two up to 65536, got {}",
            c.stripes
        ));
    }
    size_kib_to_gib("page_size", c.page_size)?;
    if c.chunk_size_min < 16 || c.chunk_size_min >= c.page_size {
        return err(format!(
            "chunk_size_min must be at least 16 and below page_size, got {}",
            c.chunk_size_min
        ));
    }
    if c.page_size / c.chunk_size_min > 1 << 20 {
        return err("page_size / chunk_size_min must not exceed 2^20".into());
    }
    if !(c.growth_factor.is_finite() && c.growth_factor > 1.0) {
        return err(format!(
            "growth_factor must be greater than 1, got {}",
            c.growth_factor
        ));
    }
    size_kib_to_gib("item_size_max", c.item_size_max)?;
    if c.memory_limit < c.page_size {
        return err(format!(
            "memory_limit ({}) must hold at least one page ({})",
            c.memory_limit, c.page_size
        ));
    }
    Ok(())
}

impl Store {
    /// Builds an empty store. No memory is taken until items arrive.
    ///
    /// # Errors
    /// A [`StoreConfigError`] naming the first invalid parameter.
    pub fn new(mut config: StoreConfig, clock: Clock) -> Result<Store, StoreConfigError> {
        validate(&config)?;
        let budget_pages = config.memory_limit / config.page_size;
        while config.stripes > 1 && budget_pages / config.stripes < MIN_PAGES_PER_STRIPE {
            config.stripes /= 2;
        }
        // A stripe addresses at most 4 GiB (32-bit references to byte offsets): huge caches
        // get more stripes, so that each could hold twice an even share.
        while config.memory_limit / config.stripes > MAX_STRIPE_SHARE && config.stripes < 1 << 16 {
            config.stripes *= 2;
        }
        let geo = Arc::new(Geometry::new(
            config.page_size,
            config.chunk_size_min,
            config.growth_factor,
            item::Layout::new(config.use_cas, !config.evict),
            config.item_size_max,
            config.evict,
        ));
        let pool = Arc::new(PagePool::new(
            config.page_size,
            config.memory_limit / config.page_size,
            config.stripes,
        ));
        let hasher = ahash::RandomState::new();
        let n = config.stripes as u64;
        let params = config.eviction.params();
        let tombstones = Arc::new(Tombstones::default());
        let stripes = Arc::new_cyclic(|weak| {
            Stripes(
                (0..n)
                    .map(|id| {
                        let mut st = Stripe::new(
                            id,
                            n,
                            Mem::new(geo.clone()),
                            hasher.clone(),
                            pool.clone(),
                            weak.clone(),
                            params,
                        );
                        st.tombstones = tombstones.clone();
                        CachePadded::new(Mutex::new(st))
                    })
                    .collect(),
            )
        });
        Ok(Store {
            stripe_mask: config.stripes - 1,
            memory_limit: AtomicUsize::new(config.memory_limit),
            config,
            clock,
            stripes,
            hasher,
            pool,
            geo,
            flush_passed: AtomicU32::new(0),
            flush_pending: AtomicU32::new(0),
            tombstones,
        })
    }

    /// The configuration the store was built with (`stripes` as adjusted by `new`).
    pub fn config(&self) -> &StoreConfig {
        &self.config
    }

    /// The clock the store reads.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// The eviction policy in force.
    pub fn eviction(&self) -> Eviction {
        self.config.eviction
    }

    /// Fixed header bytes per item (18 with CAS, 10 without; 4 more each for an exptime
    /// and for client flags other than 0); see `store/item.rs`.
    pub fn item_header_len(&self) -> usize {
        self.geo.layout.hdr
    }

    /// Size of every reporting class, by id (index 0 unused).
    pub fn class_sizes(&self) -> &[usize] {
        &self.geo.sizes
    }

    fn ctx(&self) -> Moment {
        let now = self.clock.now();
        let passed = self.flush_passed.load(Ordering::Relaxed);
        let pending = self.flush_pending.load(Ordering::Relaxed);
        let flush_before = if pending != 0 && pending <= now {
            passed.max(pending)
        } else {
            passed
        };
        Moment { now, flush_before }
    }

    fn hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash_one(key)
    }

    fn lock(&self, hash: u64) -> MutexGuard<'_, Stripe> {
        self.stripes[(hash >> 40) as usize & self.stripe_mask].lock()
    }

    /// Finds the live item of `key`: its stripe, locked, the moment of the lookup (read
    /// before the lock is taken), the key's hash and the item's head. A key no item can have
    /// (empty or longer than [`MAX_KEY_LEN`]) is [`Miss::Absent`] without taking a lock.
    #[inline]
    fn find_locked(&self, key: &[u8]) -> Result<Found<'_>, Miss> {
        if key.is_empty() || key.len() > MAX_KEY_LEN {
            return Err(Miss::Absent);
        }
        let hash = self.hash(key);
        let ctx = self.ctx();
        let mut st = self.lock(hash);
        let h = st.lookup(&ctx, hash, key)?;
        Ok((st, ctx, hash, h))
    }

    /// Looks `key` up and runs `f` on the item with its stripe lock held, then bumps it
    /// (ACCESSED, last access, FETCHED): `f` sees the bits and access time from before.
    ///
    /// # Errors
    /// The [`Miss`] reason when there is no live item.
    pub fn get<R>(&self, key: &[u8], f: impl FnOnce(&ItemRef<'_>) -> R) -> Result<R, Miss> {
        let (mut st, ctx, _, h) = self.find_locked(key)?;
        let r = f(&ItemRef {
            mem: &st.mem,
            head: h,
        });
        st.bump(h, ctx.now);
        Ok(r)
    }

    /// Like [`Store::get`], setting the item's exptime first (gat / gats).
    ///
    /// # Errors
    /// The [`Miss`] reason when there is no live item.
    pub fn get_and_touch<R>(
        &self,
        key: &[u8],
        exptime: RelTime,
        f: impl FnOnce(&ItemRef<'_>) -> R,
    ) -> Result<R, Miss> {
        let (mut st, ctx, hash, h) = self.find_locked(key)?;
        // Gone only if the item had to be copied to take an exptime and found no room.
        let h = st
            .set_item_exptime(&ctx, hash, h, exptime)
            .ok_or(Miss::Absent)?;
        let r = f(&ItemRef {
            mem: &st.mem,
            head: h,
        });
        st.bump(h, ctx.now);
        Ok(r)
    }

    /// set / add / replace / append / prepend / cas.
    ///
    /// # Errors
    /// `TooLarge` or `OutOfMemory`. A failed `Set` also removes the existing item (no stale
    /// data, as memcached); other modes leave it.
    pub fn store(
        &self,
        mode: SetMode,
        key: &[u8],
        value: &[u8],
        flags: u32,
        exptime: RelTime,
    ) -> Result<SetOutcome, StoreError> {
        if key.is_empty() || key.len() > MAX_KEY_LEN {
            return Err(StoreError::TooLarge);
        }
        let hash = self.hash(key);
        let ctx = self.ctx();
        let mut guard = self.lock(hash);
        let st = &mut *guard;
        let found = st.lookup(&ctx, hash, key).ok();
        let stored = |st: &mut Stripe, h: u32| SetOutcome::Stored {
            cas: ItemRef {
                mem: &st.mem,
                head: h,
            }
            .cas(),
        };
        match (mode, found) {
            (SetMode::Set | SetMode::Add, None) => {
                let h = st.insert(&ctx, hash, key, value, flags, exptime, None)?;
                Ok(stored(st, h))
            }
            (SetMode::Set, Some(old)) => {
                match st.replace(&ctx, hash, old, value, flags, exptime, None) {
                    Ok(h) => Ok(stored(st, h)),
                    Err(e) => {
                        st.unlink(old, Exit::Removed, &ctx);
                        Err(e)
                    }
                }
            }
            (SetMode::Add, Some(old)) => {
                st.touch_lru(old, ctx.now);
                Ok(SetOutcome::NotStored)
            }
            (SetMode::Replace | SetMode::Append | SetMode::Prepend, None) => {
                Ok(SetOutcome::NotStored)
            }
            (SetMode::Cas(_), None) => Ok(SetOutcome::NotFound),
            (SetMode::Replace, Some(old)) => {
                let h = st.replace(&ctx, hash, old, value, flags, exptime, None)?;
                Ok(stored(st, h))
            }
            (SetMode::Append | SetMode::Prepend, Some(old)) => {
                let h = st.concat(&ctx, hash, old, value, mode == SetMode::Prepend)?;
                Ok(stored(st, h))
            }
            (SetMode::Cas(cas), Some(old)) => {
                let current = ItemRef {
                    mem: &st.mem,
                    head: old,
                }
                .cas();
                // Without CAS (-C) every item reads as 0 and memcached lets any cas through.
                if self.config.use_cas && current != cas {
                    return Ok(SetOutcome::Exists);
                }
                let h = st.replace(&ctx, hash, old, value, flags, exptime, None)?;
                Ok(stored(st, h))
            }
        }
    }

    /// Removes `key`; false if there was no live item.
    pub fn delete(&self, key: &[u8]) -> bool {
        self.remove(key).is_some()
    }

    /// Removes `key` and returns the reporting class the item was in (for per-class
    /// counters); `None` if there was no live item.
    pub fn remove(&self, key: &[u8]) -> Option<u8> {
        let (mut st, ctx, _, h) = self.find_locked(key).ok()?;
        let class = st.mem.class_of(h);
        st.unlink(h, Exit::Removed, &ctx);
        Some(class)
    }

    /// Sets a live item's exptime (and marks it used); false if there was no live item.
    pub fn touch(&self, key: &[u8], exptime: RelTime) -> bool {
        self.touch_item(key, exptime).is_some()
    }

    /// [`Store::touch`], returning the item's reporting class; `None` if there was no
    /// live item.
    pub fn touch_item(&self, key: &[u8], exptime: RelTime) -> Option<u8> {
        let (mut st, ctx, hash, h) = self.find_locked(key).ok()?;
        let h = st.set_item_exptime(&ctx, hash, h, exptime)?;
        st.touch_lru(h, ctx.now);
        Some(st.mem.class_of(h))
    }

    /// The reporting class an item with this key and value length falls in (by its total
    /// size; the largest class for chained items).
    pub fn class_for(&self, key_len: usize, value_len: usize) -> u8 {
        let total = self.geo.layout.total(key_len, value_len, 0, 0);
        self.geo.class_for(total).unwrap_or(self.geo.largest())
    }

    /// incr / decr: incr wraps at 2^64, decr floors at 0.
    ///
    /// # Errors
    /// `OutOfMemory` when the longer number needs a new item and none can be allocated
    /// (the old item stays).
    pub fn arith(&self, key: &[u8], delta: Delta) -> Result<ArithOutcome, StoreError> {
        if key.is_empty() || key.len() > MAX_KEY_LEN {
            return Ok(ArithOutcome::NotFound);
        }
        let hash = self.hash(key);
        let ctx = self.ctx();
        let mut guard = self.lock(hash);
        let st = &mut *guard;
        let Ok(old) = st.lookup(&ctx, hash, key) else {
            return Ok(ArithOutcome::NotFound);
        };
        let Some(n) = st.read_number(old) else {
            return Ok(ArithOutcome::NonNumeric);
        };
        let value = match delta {
            Delta::Incr(d) => n.wrapping_add(d),
            Delta::Decr(d) => n.saturating_sub(d),
        };
        let h = st.write_number(&ctx, hash, old, value)?;
        st.touch_lru(h, ctx.now);
        let cas = ItemRef {
            mem: &st.mem,
            head: h,
        }
        .cas();
        Ok(ArithOutcome::Value { value, cas })
    }

    /// The meta protocol's door: runs `f` on the key's [`Entry`] with its stripe lock held.
    pub fn entry<R>(&self, key: &[u8], f: impl FnOnce(Entry<'_>) -> R) -> R {
        let hash = self.hash(key);
        let ctx = self.ctx();
        let mut guard = self.lock(hash);
        let st = &mut *guard;
        let found = if key.is_empty() || key.len() > MAX_KEY_LEN {
            Err(Miss::Absent)
        } else {
            st.lookup(&ctx, hash, key)
        };
        match found {
            Ok(head) => f(Entry::Occupied(OccupiedEntry {
                st,
                ctx,
                hash,
                head,
            })),
            Err(miss) => f(Entry::Vacant(VacantEntry {
                st,
                ctx,
                hash,
                key,
                miss,
            })),
        }
    }
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests;
