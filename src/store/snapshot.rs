//! Snapshots, the store's side: copying live items out in bounded batches, and loading
//! them back. The file format, checksums and I/O are `crate::snapshot`'s; the store only
//! hands out items (under their stripe lock, briefly) and takes them in.
//!
//! # Export
//! [`Store::export_batch`] walks the stripes one at a time, segment by segment, record by
//! record, from a saved [`ExportCursor`]. One call holds one stripe lock and visits at most
//! [`EXPORT_RECORDS_PER_HOLD`] records or copies about `max_bytes` of keys and values (one
//! item at least: a chained item is copied whole), then releases it, so a snapshot taken
//! while serving never stalls a stripe for longer than that slice. Between calls the stripe
//! changes: the cursor keeps the segment's generation and the stripe's memory epoch, and a
//! segment that was evicted or compacted meanwhile (its generation moved on) is left for
//! the next one; its surviving items were copied to the main queue's open segment, which a
//! later visit may or may not reach. So a live snapshot is fuzzy: every item it holds is a
//! value that was stored at some moment during the snapshot, items changed meanwhile may be
//! missing or appear twice (the loader keeps the later one). A snapshot taken at a stop
//! (no requests run any more) holds every live item exactly once.
//!
//! Items are exported in three passes, most valuable first, so that a loader that runs out
//! of memory keeps the hot set: items used since they entered their queue or were last passed
//! over by eviction (use count ≥ 1, either queue), then unused items of the main queue, then
//! unused items of the small queue.
//!
//! # Import
//! [`Store::import`] stores an item with the CAS, flags, expiry (absolute unix seconds),
//! meta bits, queue and use count it had. It never evicts: when no free memory is left it
//! answers [`Imported::Full`], so what was loaded first (the hot items) stays.
//! [`Store::import_batch`] does the same for a block's items at once, grouped by stripe
//! (one lock hold per stripe per block, ≤ [`IMPORT_ITEMS_PER_HOLD`] items), looking the
//! index slots of each run of 16 items up before storing them, and linking a run's records
//! into the index after writing them all when they fit the open segments
//! (docs/SNAPSHOT.md, "Speed").
//! [`Store::raise_cas_above`] then makes every new CAS greater than the loaded ones.

use super::item::{self, head, CONT_HDR};
use super::segment::{Queue, NIL};
use super::stripe::{Exit, Moment, Stripe};
use super::{ItemRef, Store, StoreError, MAX_KEY_LEN};
use parking_lot::MutexGuard;

/// Most records one [`Store::export_batch`] call visits under one stripe lock.
pub const EXPORT_RECORDS_PER_HOLD: usize = 2048;

/// Most items [`Store::import_batch`] stores under one stripe lock hold.
pub const IMPORT_ITEMS_PER_HOLD: usize = 1024;

/// Items of a hold whose index slots are looked up ahead of storing them
/// ([`Store::import_batch`]); their cache lines stay well within L1.
const IMPORT_TOUCH_RUN: usize = 16;

/// Export passes, most valuable items first (module doc).
const PASSES: u8 = 3;

/// Eviction state of an exported item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExportMeta {
    /// Uses counted since the item entered its queue or was last passed over (0..=3).
    pub use_count: u8,
    /// In the main queue (else the small, probationary one).
    pub main: bool,
}

/// Where an export stands (between [`Store::export_batch`] calls).
#[derive(Debug, Clone, Default)]
pub struct ExportCursor {
    pass: u8,
    stripe: usize,
    slot: u32,
    off: u32,
    gen: u32,
    epoch: u64,
    in_page: bool,
}

impl ExportCursor {
    /// A cursor at the start of the first pass.
    pub fn new() -> ExportCursor {
        ExportCursor::default()
    }

    fn next_slot(&mut self) {
        self.slot += 1;
        self.off = 0;
        self.in_page = false;
    }

    fn next_stripe(&mut self) {
        self.stripe += 1;
        self.slot = 0;
        self.off = 0;
        self.in_page = false;
    }
}

/// Which pass exports an item.
fn pass_of(use_count: u8, main: bool) -> u8 {
    match (use_count, main) {
        (1.., _) => 0,
        (0, true) => 1,
        (0, false) => 2,
    }
}

/// One item to load. (`Default` is an empty, never-used item with every flag off, for
/// building items field by field.)
#[derive(Debug, Clone, Copy, Default)]
pub struct ImportItem<'a> {
    /// The key (1..=250 bytes).
    pub key: &'a [u8],
    /// The whole value.
    pub value: &'a [u8],
    /// Client flags.
    pub flags: u32,
    /// CAS unique (ignored without CAS).
    pub cas: u64,
    /// Expiry as unix seconds, 0 for never.
    pub exptime_unix: u64,
    /// Last access as unix seconds.
    pub atime_unix: u64,
    /// Use count (capped by the policy).
    pub use_count: u8,
    /// In the main queue (else the small one).
    pub main: bool,
    /// Fetched since stored (meta `h`).
    pub fetched: bool,
    /// Marked stale (meta `I`).
    pub stale: bool,
    /// A win token was handed out (meta `W`).
    pub win_sent: bool,
    /// The key was given in base64 (meta `b`).
    pub key_binary: bool,
}

/// What [`Store::import_batch`] did with its items: how many of each outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportTally {
    /// Stored.
    pub loaded: u64,
    /// Expired before loading: not stored.
    pub expired: u64,
    /// Larger than this store's `-I` (or an invalid key): not stored.
    pub too_large: u64,
    /// Not stored for want of memory (nothing was evicted).
    pub full: u64,
    /// The highest CAS among the stored items.
    pub max_cas: u64,
}

impl ImportTally {
    /// Counts one item's outcome; `cas` is the item's (for `max_cas`, when it was stored).
    fn count(&mut self, outcome: Imported, cas: u64) {
        match outcome {
            Imported::Loaded => {
                self.loaded += 1;
                self.max_cas = self.max_cas.max(cas);
            }
            Imported::Expired => self.expired += 1,
            Imported::TooLarge => self.too_large += 1,
            Imported::Full => self.full += 1,
        }
    }
}

/// Working memory of [`Store::import_batch`], kept by the caller from batch to batch so
/// that a load allocates it once.
#[derive(Debug, Default)]
pub struct ImportScratch {
    /// (position in the batch, key hash) of each item to store, in batch order.
    order: Vec<(u32, u64)>,
    /// The same, grouped by stripe.
    sorted: Vec<(u32, u64)>,
    /// Where each stripe's group starts in `sorted` (one more entry: the end).
    groups: Vec<u32>,
    /// Stripes found locked on the first pass, visited on the second.
    busy: Vec<u32>,
}

/// What [`Store::import`] did with an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Imported {
    /// Stored.
    Loaded,
    /// Its expiry time has passed: not stored.
    Expired,
    /// Larger than this store's `-I` (or an invalid key): not stored.
    TooLarge,
    /// No free memory is left: not stored (and nothing was evicted).
    Full,
}

impl Store {
    /// Copies out the next batch of live items: runs `f` on each with its stripe lock held
    /// (at most one stripe lock, at most `EXPORT_RECORDS_PER_HOLD` records visited, and
    /// about `max_bytes` of keys and values). False once the export is complete.
    pub fn export_batch(
        &self,
        cur: &mut ExportCursor,
        max_bytes: usize,
        mut f: impl FnMut(&ItemRef<'_>, ExportMeta),
    ) -> bool {
        while cur.stripe >= self.stripes.len() {
            if cur.pass + 1 >= PASSES {
                cur.pass = PASSES;
                return false;
            }
            cur.pass += 1;
            cur.stripe = 0;
            cur.slot = 0;
            cur.off = 0;
            cur.in_page = false;
        }
        if cur.pass >= PASSES {
            return false;
        }
        let ctx = self.ctx();
        let guard = self.stripes[cur.stripe].lock();
        let st: &Stripe = &guard;
        let mem = &st.mem;
        if cur.epoch != mem.epoch {
            // flush_all released every segment since the last visit: start the stripe over.
            cur.epoch = mem.epoch;
            cur.slot = 0;
            cur.off = 0;
            cur.in_page = false;
        }
        let (mut visited, mut bytes) = (0usize, 0usize);
        while visited < EXPORT_RECORDS_PER_HOLD && bytes < max_bytes {
            let Some(page) = mem.pages.get(cur.slot as usize) else {
                cur.next_stripe();
                break;
            };
            let queued = matches!(page.queue, Queue::Small | Queue::Main) && page.mem.is_some();
            if !cur.in_page {
                if !queued {
                    cur.next_slot();
                    continue;
                }
                cur.gen = page.gen;
                cur.off = 0;
                cur.in_page = true;
            } else if !queued || page.gen != cur.gen {
                // Evicted or compacted since the last visit: its records moved.
                cur.next_slot();
                continue;
            }
            if cur.off >= page.used {
                cur.next_slot();
                continue;
            }
            let r = mem.make_ref(cur.slot, cur.off as usize);
            cur.off += mem.record_len(r) as u32;
            visited += 1;
            if mem.tag(r) != item::TAG_HEAD || st.validity(r, &ctx).is_err() {
                continue;
            }
            let c = mem.chunk(r);
            let meta = ExportMeta {
                use_count: head::freq(c),
                main: page.queue == Queue::Main,
            };
            if pass_of(meta.use_count, meta.main) != cur.pass {
                continue;
            }
            bytes += head::key_len(c) + head::value_len(c);
            f(&ItemRef { mem, head: r }, meta);
        }
        true
    }

    /// Stores one item from a snapshot (module doc). Never evicts anything.
    pub fn import(&self, it: &ImportItem<'_>) -> Imported {
        let mut tally = ImportTally::default();
        self.import_batch(
            std::slice::from_ref(it),
            &mut ImportScratch::default(),
            &mut tally,
        );
        if tally.loaded == 1 {
            Imported::Loaded
        } else if tally.expired == 1 {
            Imported::Expired
        } else if tally.too_large == 1 {
            Imported::TooLarge
        } else {
            Imported::Full
        }
    }

    /// Stores a batch of items from a snapshot (one verified block), as [`Store::import`]
    /// does one, counting the outcomes into `tally`. The items are grouped by stripe first
    /// (a stable counting sort: of two records of a key the later wins), then each stripe
    /// lock is taken once per `IMPORT_ITEMS_PER_HOLD` (1024) items instead of once per
    /// item, and the clock is read once per batch. Stripes whose lock is free are visited
    /// first and the busy ones after, so that import threads working on blocks at the same
    /// time do not queue behind each other stripe after stripe. Once memory is full
    /// (`tally.full > 0`) the rest of the batch is counted as full, not stored: nothing is
    /// evicted, so what was loaded first (the hot items) stays.
    pub fn import_batch(
        &self,
        items: &[ImportItem<'_>],
        scratch: &mut ImportScratch,
        tally: &mut ImportTally,
    ) {
        let clock = &self.clock;
        let start = clock.process_start();
        let now = clock.now();
        let now_unix = clock.unix_time(now);
        let ImportScratch {
            order,
            sorted,
            groups,
            busy,
        } = scratch;
        order.clear();
        groups.clear();
        groups.resize(self.stripes.len() + 1, 0);
        for (i, it) in items.iter().enumerate() {
            if it.key.is_empty() || it.key.len() > MAX_KEY_LEN {
                tally.too_large += 1;
                continue;
            }
            if it.exptime_unix != 0 && it.exptime_unix <= now_unix {
                tally.expired += 1;
                continue;
            }
            let total = self.record_total(it);
            if total > self.geo.item_size_max || it.value.len() >= 1 << 30 {
                tally.too_large += 1;
                continue;
            }
            // One hash per item: it picks the stripe here and is the index's hash below.
            let hash = self.hash(it.key);
            let stripe = (hash >> 40) as usize & self.stripe_mask;
            groups[stripe + 1] += 1;
            order.push((i as u32, hash));
        }
        // Counting sort by stripe (stable, O(n)): `groups[s]..groups[s + 1]` is stripe s's
        // range of `sorted`, in batch order.
        for s in 1..groups.len() {
            groups[s] += groups[s - 1];
        }
        sorted.clear();
        sorted.resize(order.len(), (0, 0));
        for &(i, hash) in order.iter() {
            let stripe = (hash >> 40) as usize & self.stripe_mask;
            sorted[groups[stripe] as usize] = (i, hash);
            groups[stripe] += 1;
        }
        // Each `groups[s]` moved to the end of stripe s's range, the start of s + 1's.
        groups.copy_within(..self.stripes.len(), 1);
        groups[0] = 0;
        let ctx = self.ctx();
        busy.clear();
        let mut import = |guard, stripe: usize| {
            let range = groups[stripe] as usize..groups[stripe + 1] as usize;
            self.import_group(
                guard,
                stripe,
                &sorted[range],
                items,
                &ctx,
                (start, now),
                tally,
            );
        };
        for stripe in 0..self.stripes.len() {
            if groups[stripe] == groups[stripe + 1] {
                continue;
            }
            match self.stripes[stripe].try_lock() {
                Some(guard) => import(guard, stripe),
                None => busy.push(stripe as u32),
            }
        }
        for &stripe in busy.iter() {
            import(self.stripes[stripe as usize].lock(), stripe as usize);
        }
    }

    /// Imports one stripe's items of a batch, `guard` being its lock: at most
    /// `IMPORT_ITEMS_PER_HOLD` items per hold (the lock is released and taken again between
    /// holds). Within a hold the items go in runs of [`IMPORT_TOUCH_RUN`]: first each item's
    /// index slot is looked up alone (`Stripe::find`, result unused), then the items are
    /// stored. On a large index nearly every lookup misses the CPU caches twice (the
    /// sub-table's header, then its control bytes), and the store that follows is too
    /// long for the processor to start the next item's lookup meanwhile; the short lookups
    /// of a run, one after the other, overlap their misses, and the stores find the lines
    /// cached (measured in docs/bench/snapshot.md: the misses were most of the import).
    /// When the run fits the open segments and has no key twice ([`Store::run_fits`]), its
    /// records are all written first and then linked into the index back to back, so that
    /// the inserts' misses (on the entry each writes) overlap too; otherwise the items go
    /// one by one.
    #[allow(clippy::too_many_arguments)]
    fn import_group<'s>(
        &'s self,
        mut guard: MutexGuard<'s, Stripe>,
        stripe: usize,
        group: &[(u32, u64)],
        items: &[ImportItem<'_>],
        ctx: &Moment,
        (start, now): (u64, u32),
        tally: &mut ImportTally,
    ) {
        for (n, hold) in group.chunks(IMPORT_ITEMS_PER_HOLD).enumerate() {
            if n > 0 {
                drop(guard);
                guard = self.stripes[stripe].lock();
            }
            if tally.full > 0 {
                tally.full += hold.len() as u64;
                continue;
            }
            let st = &mut *guard;
            for run in hold.chunks(IMPORT_TOUCH_RUN) {
                for &(i, hash) in run {
                    std::hint::black_box(st.find(hash, items[i as usize].key));
                }
                if tally.full == 0 && self.run_fits(st, run, items) {
                    // The run's records first, then their index inserts back to back: each
                    // insert's write of its entry misses the cache, and short inserts in a
                    // row overlap those misses as the lookups above do.
                    let mut written = [(0u64, NIL); IMPORT_TOUCH_RUN];
                    let mut n = 0;
                    for &(i, hash) in run {
                        if tally.full > 0 {
                            tally.full += 1;
                            continue;
                        }
                        let it = &items[i as usize];
                        match self.import_write(st, ctx, hash, it, start, now) {
                            Ok(h) => {
                                written[n] = (hash, h);
                                n += 1;
                                tally.count(Imported::Loaded, it.cas);
                            }
                            Err(outcome) => tally.count(outcome, it.cas),
                        }
                    }
                    for &(hash, h) in &written[..n] {
                        st.link(hash, h);
                    }
                    continue;
                }
                for &(i, hash) in run {
                    if tally.full > 0 {
                        tally.full += 1;
                        continue;
                    }
                    let it = &items[i as usize];
                    let outcome = self.import_locked(st, ctx, hash, it, start, now);
                    tally.count(outcome, it.cas);
                }
            }
        }
    }

    /// One item of [`Store::import_batch`], its stripe lock held; `start` and `now` are
    /// the clock's, read once per batch.
    fn import_locked(
        &self,
        st: &mut Stripe,
        ctx: &Moment,
        hash: u64,
        it: &ImportItem<'_>,
        start: u64,
        now: u32,
    ) -> Imported {
        let total = self.record_total(it);
        if !has_room(st, self.queue_of(st, it), total) {
            return Imported::Full;
        }
        match self.import_write(st, ctx, hash, it, start, now) {
            Ok(h) => {
                st.link(hash, h);
                Imported::Loaded
            }
            Err(outcome) => outcome,
        }
    }

    /// The queue an imported item enters.
    fn queue_of(&self, st: &Stripe, it: &ImportItem<'_>) -> Queue {
        if it.main || st.policy.small_percent == 0 || !self.geo.evict {
            Queue::Main
        } else {
            Queue::Small
        }
    }

    /// Bytes of the record an imported item becomes (unchained). Its exptime field is there
    /// exactly when the file gives an expiry: a non-zero unix time that has not passed
    /// (passed ones are skipped) is a non-zero relative time.
    fn record_total(&self, it: &ImportItem<'_>) -> usize {
        let has_exptime = u32::from(it.exptime_unix != 0);
        self.geo
            .layout
            .total(it.key.len(), it.value.len(), it.flags, has_exptime)
    }

    /// [`Store::import_locked`] but for the link: replaces an older item of the key, writes
    /// the record with its meta bits, use count and access time, and returns it (not yet
    /// in the index).
    fn import_write(
        &self,
        st: &mut Stripe,
        ctx: &Moment,
        hash: u64,
        it: &ImportItem<'_>,
        start: u64,
        now: u32,
    ) -> Result<u32, Imported> {
        let exptime = if it.exptime_unix == 0 {
            0
        } else {
            u32::try_from(it.exptime_unix - start).unwrap_or(u32::MAX)
        };
        let atime = u32::try_from(it.atime_unix.saturating_sub(start))
            .unwrap_or(u32::MAX)
            .clamp(2, now.max(2));
        let q = self.queue_of(st, it);
        if let Ok(old) = st.lookup(ctx, hash, it.key) {
            st.unlink(old, Exit::Removed, ctx);
        }
        let cas = if self.config.use_cas { it.cas } else { 0 };
        let h = match st.write_item(ctx, q, it.key, &[it.value], it.flags, exptime, cas, NIL) {
            Ok(h) => h,
            Err(StoreError::TooLarge) => return Err(Imported::TooLarge),
            Err(StoreError::OutOfMemory) => return Err(Imported::Full),
        };
        let cap = st.policy.freq_cap;
        let c = st.mem.header_mut(h);
        // `link` sets the tag bits only: these stay.
        let mut bits = head::bits(c);
        for (on, bit) in [
            (it.fetched, item::FETCHED),
            (it.stale, item::STALE),
            (it.win_sent, item::WIN_SENT),
            (it.key_binary, item::KEY_BINARY),
        ] {
            if on {
                bits |= bit;
            }
        }
        head::set_bits(c, bits);
        head::set_freq(c, it.use_count.min(cap));
        head::set_atime(c, atime);
        Ok(h)
    }

    /// Can a run's records all be written with their links deferred? Only if each queue's
    /// open segment has room for the run's records of that queue (so no record of the run
    /// waits unlinked while a segment is taken, evicted or compacted) and no two of them
    /// have the same key hash (so a later copy of a key is looked up after the earlier one
    /// is linked, as in the one-by-one path).
    fn run_fits(&self, st: &Stripe, run: &[(u32, u64)], items: &[ImportItem<'_>]) -> bool {
        let mut want = [0usize; 2];
        for (k, &(i, hash)) in run.iter().enumerate() {
            if run[..k].iter().any(|&(_, h)| h == hash) {
                return false;
            }
            let it = &items[i as usize];
            let main = self.queue_of(st, it) == Queue::Main;
            want[usize::from(main)] += self.record_total(it);
        }
        [(Queue::Small, want[0]), (Queue::Main, want[1])]
            .into_iter()
            .all(|(q, n)| {
                let open = st.mem.log(q).open;
                n == 0 || (open != NIL && st.mem.room(open) >= n)
            })
    }

    /// Sizes every stripe's index for a snapshot of about `items` items holding `bytes`
    /// bytes of keys and values (as many as fit the memory limit), so that loading does not
    /// rehash the tables over and over as they grow.
    pub fn reserve_for_import(&self, items: u64, bytes: u64) {
        if items == 0 {
            return;
        }
        let per_item = self.geo.layout.hdr as u64 + bytes / items;
        let limit = self.memory_limit() as u64;
        let fits = limit / per_item.max(1);
        let per_stripe = (items.min(fits) / self.stripes.len() as u64) as usize;
        let per_stripe = per_stripe + per_stripe / 16;
        for stripe in self.stripes.iter() {
            let mut guard = stripe.lock();
            let Stripe {
                index, mem, hasher, ..
            } = &mut *guard;
            let layout = mem.geo.layout;
            let want = per_stripe.saturating_sub(index.len());
            index.reserve(want, |&r| hasher.hash_one(head::key(mem.chunk(r), &layout)));
        }
    }

    /// Makes every CAS unique handed out from now on greater than `cas` (after an import).
    pub fn raise_cas_above(&self, cas: u64) {
        for stripe in self.stripes.iter() {
            stripe.lock().raise_cas_above(cas);
        }
    }
}

/// Can an item of `total` bytes be written into queue `q` without evicting anything?
fn has_room(st: &Stripe, q: Queue, total: usize) -> bool {
    let mem = &st.mem;
    let page_size = mem.geo.page_size;
    let free =
        mem.spare.len() + st.pool.pooled() + st.pool.limit().saturating_sub(st.pool.allocated());
    if total > page_size {
        // A chained item: whole segments for all parts but the last, which may need one more.
        return free > total.div_ceil(page_size - CONT_HDR);
    }
    let open = mem.log(q).open;
    (open != NIL && mem.room(open) >= total) || free > 0
}

#[cfg(test)]
mod tests;
