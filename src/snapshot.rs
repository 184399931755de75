//! Snapshot files (`-e PATH`): the cache written to a file at a graceful stop (and on
//! demand or every `-o snapshot_interval` seconds while serving), and loaded back at start
//! before any connection is accepted.
//!
//! Owns the file format (docs/SNAPSHOT.md is its specification), writing a file safely
//! (temporary file, fsync, rename, fsync of the directory: a crash or kill -9 at any moment
//! leaves the previous snapshot as it was), reading one defensively (every block has a
//! CRC-32; a file that is not a snapshot, comes from a newer format, is truncated or
//! corrupt is refused with one log line, keeping the verified blocks before the damage),
//! and the snapshot thread with its progress counters for `stats`.
//!
//! The store hands items out in bounded batches (`Store::export_batch`: one stripe lock
//! held for at most a few thousand records) and takes them back without evicting
//! (`Store::import`); this module never holds a store lock itself.
//!
//! Must not know: sockets, the protocol.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use parking_lot::{Condvar, Mutex};

use crate::store::{ExportCursor, ExportMeta, ItemRef, Store};

/// The first 8 bytes of every snapshot file.
pub const MAGIC: &[u8; 8] = b"LARDSNAP";
/// The format version this larder writes, and the newest it reads.
pub const VERSION: u32 = 1;
/// Bytes of the file header.
pub const HEADER_LEN: usize = 64;
/// Bytes of a block header.
pub const BLOCK_HDR: usize = 16;
/// Bytes of an item record's fixed part.
pub const RECORD_HDR: usize = 36;
/// Block kind: item records.
pub const BLOCK_ITEMS: u32 = 1;
/// Block kind: the end of the file (totals).
pub const BLOCK_END: u32 = 2;
/// Payload size a writer aims for (a single larger record makes a larger block).
const BLOCK_TARGET: usize = 1 << 20;
/// Largest payload a reader accepts: one 1 GiB value with its key and header.
const MAX_PAYLOAD: usize = (1 << 30) + (1 << 16);
/// Keys and values copied per store lock hold (`Store::export_batch`).
const BATCH_BYTES: usize = 256 << 10;
/// The snapshot thread's nice value (see [`Snapshots::run`]).
const SNAPSHOT_NICE: i32 = 10;

/// Record bits (byte 1 of a record).
const R_FETCHED: u8 = 1;
const R_STALE: u8 = 1 << 1;
const R_WIN_SENT: u8 = 1 << 2;
const R_KEY_BINARY: u8 = 1 << 3;
const R_MAIN: u8 = 1 << 4;

/// How a load refusing a file that is not a snapshot begins its reason.
const FOREIGN: &str = "not a larder snapshot";
/// How a load refusing a newer format begins its reason.
const NEWER: &str = "written by a newer larder";

/// Header flag: CAS values are meaningful (the writer ran with CAS).
const H_CAS: u32 = 1;

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn le32(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(b[off..off + 4].try_into().expect("4 bytes"))
}

fn le64(b: &[u8], off: usize) -> u64 {
    u64::from_le_bytes(b[off..off + 8].try_into().expect("8 bytes"))
}

/// The file header for a snapshot written now, of about `items` items holding `bytes`
/// bytes of keys and values (the store's figures when it starts: a hint for the loader).
fn header(use_cas: bool, items: u64, bytes: u64) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[0..8].copy_from_slice(MAGIC);
    h[8..12].copy_from_slice(&VERSION.to_le_bytes());
    h[12..16].copy_from_slice(&(HEADER_LEN as u32).to_le_bytes());
    h[16..24].copy_from_slice(&unix_now().to_le_bytes());
    let flags = if use_cas { H_CAS } else { 0 };
    h[24..28].copy_from_slice(&flags.to_le_bytes());
    h[28..36].copy_from_slice(&items.to_le_bytes());
    h[36..44].copy_from_slice(&bytes.to_le_bytes());
    let crc = crc32fast::hash(&h[..60]);
    h[60..64].copy_from_slice(&crc.to_le_bytes());
    h
}

/// A block being filled: header space, then records.
struct Block {
    buf: Vec<u8>,
    count: u32,
}

impl Block {
    fn new() -> Block {
        let mut buf = Vec::with_capacity(BLOCK_TARGET + (64 << 10));
        buf.resize(BLOCK_HDR, 0);
        Block { buf, count: 0 }
    }

    fn payload_len(&self) -> usize {
        self.buf.len() - BLOCK_HDR
    }

    /// Fills in the header (kind, length, count, CRC) and returns the whole block.
    fn seal(&mut self, kind: u32) -> &[u8] {
        let len = self.payload_len() as u32;
        self.buf[0..4].copy_from_slice(&kind.to_le_bytes());
        self.buf[4..8].copy_from_slice(&len.to_le_bytes());
        self.buf[8..12].copy_from_slice(&self.count.to_le_bytes());
        let mut h = crc32fast::Hasher::new();
        h.update(&self.buf[0..12]);
        h.update(&self.buf[BLOCK_HDR..]);
        let crc = h.finalize();
        self.buf[12..16].copy_from_slice(&crc.to_le_bytes());
        &self.buf
    }

    fn clear(&mut self) {
        self.buf.truncate(BLOCK_HDR);
        self.count = 0;
    }

    /// Appends one item record.
    fn push(&mut self, store: &Store, it: &ItemRef<'_>, meta: ExportMeta) {
        let clock = store.clock();
        let key = it.key();
        let mut bits = 0u8;
        for (on, bit) in [
            (it.fetched(), R_FETCHED),
            (it.stale(), R_STALE),
            (it.win_token_sent(), R_WIN_SENT),
            (it.key_binary(), R_KEY_BINARY),
            (meta.main, R_MAIN),
        ] {
            if on {
                bits |= bit;
            }
        }
        let exptime = match it.exptime() {
            0 => 0,
            rel => clock.unix_time(rel),
        };
        let b = &mut self.buf;
        b.reserve(RECORD_HDR + key.len() + it.value_len());
        b.extend_from_slice(&[key.len() as u8, bits, meta.use_count, 0]);
        b.extend_from_slice(&it.flags().to_le_bytes());
        b.extend_from_slice(&(it.value_len() as u32).to_le_bytes());
        b.extend_from_slice(&it.cas().to_le_bytes());
        b.extend_from_slice(&exptime.to_le_bytes());
        b.extend_from_slice(&clock.unix_time(it.last_access()).to_le_bytes());
        b.extend_from_slice(key);
        for part in it.value() {
            b.extend_from_slice(part);
        }
        self.count += 1;
    }
}

/// What a finished snapshot wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    /// Items written.
    pub items: u64,
    /// Bytes of the file.
    pub bytes: u64,
    /// From start to rename.
    pub duration: Duration,
}

/// Counters of the snapshot being written (or the last one), for `stats`.
#[derive(Debug, Default)]
pub struct Progress {
    in_progress: AtomicBool,
    items: AtomicU64,
    bytes: AtomicU64,
}

fn temp_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push(".tmp");
    PathBuf::from(s)
}

/// Writes every live item of `store` to `path`: a temporary file next to it, fsync, rename,
/// fsync of the directory. `abort` is checked between batches (the temporary file is then
/// removed and the previous snapshot stays).
///
/// # Errors
/// Any I/O error (the previous snapshot, if any, is untouched), or `Interrupted` on abort.
pub fn write(
    store: &Store,
    path: &Path,
    progress: &Progress,
    abort: &AtomicBool,
) -> io::Result<Written> {
    let started = Instant::now();
    let tmp = temp_path(path);
    progress.items.store(0, Ordering::Relaxed);
    progress.bytes.store(0, Ordering::Relaxed);
    let result = write_to(store, &tmp, progress, abort);
    let result = result.and_then(|(items, bytes)| {
        fs::rename(&tmp, path)?;
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        File::open(dir)?.sync_all()?;
        Ok(Written {
            items,
            bytes,
            duration: started.elapsed(),
        })
    });
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

fn write_to(
    store: &Store,
    tmp: &Path,
    progress: &Progress,
    abort: &AtomicBool,
) -> io::Result<(u64, u64)> {
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(tmp)?;
    let now = store.stats();
    let kv_bytes = now
        .bytes
        .saturating_sub(now.curr_items * store.item_header_len() as u64);
    file.write_all(&header(store.config().use_cas, now.curr_items, kv_bytes))?;
    let mut bytes = HEADER_LEN as u64;
    let mut items = 0u64;
    let mut block = Block::new();
    let mut cur = ExportCursor::new();
    let mut flush = |block: &mut Block, kind: u32, items: u64| -> io::Result<()> {
        let data = block.seal(kind);
        file.write_all(data)?;
        bytes += data.len() as u64;
        progress.items.store(items, Ordering::Relaxed);
        progress.bytes.store(bytes, Ordering::Relaxed);
        block.clear();
        Ok(())
    };
    loop {
        if abort.load(Ordering::Relaxed) {
            return Err(io::Error::new(io::ErrorKind::Interrupted, "aborted"));
        }
        let more = store.export_batch(&mut cur, BATCH_BYTES, |it, meta| {
            block.push(store, it, meta);
        });
        if block.payload_len() >= BLOCK_TARGET || (!more && block.count > 0) {
            items += u64::from(block.count);
            flush(&mut block, BLOCK_ITEMS, items)?;
        }
        if !more {
            break;
        }
    }
    block.buf.extend_from_slice(&items.to_le_bytes());
    flush(&mut block, BLOCK_END, items)?;
    file.sync_all()?;
    Ok((items, bytes))
}

mod load;
pub use load::{load, Loaded};

/// The answer to a snapshot request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// The snapshot thread will start one now.
    Started,
    /// One is being written (or already requested).
    Busy,
}

#[derive(Debug, Default)]
struct Ctl {
    requested: bool,
    stop: bool,
}

/// The last finished snapshot, for `stats`.
#[derive(Debug, Clone, Default)]
struct Last {
    result: &'static str,
    duration: Duration,
    time: u64,
    completed: u64,
    failed: u64,
}

/// The snapshot file of a server: the snapshot thread's controls and every counter
/// `stats` shows. Shared by the server (thread, load, final write) and the command layer
/// (`snapshot`, `stats`).
#[derive(Debug)]
pub struct Snapshots {
    path: PathBuf,
    interval: Option<Duration>,
    progress: Progress,
    abort: AtomicBool,
    ctl: Mutex<Ctl>,
    cond: Condvar,
    last: Mutex<Last>,
    loaded: Mutex<Loaded>,
    /// Serializes writers (the thread and the final write).
    writing: Mutex<()>,
    /// The file found at start is not a snapshot this larder can read (another program's
    /// file, or a newer larder's): never written over.
    keep_existing: AtomicBool,
}

impl Snapshots {
    /// The snapshot file `path`, written every `interval_secs` while serving (0: only on
    /// request and at stop).
    pub fn new(path: PathBuf, interval_secs: u32) -> Snapshots {
        Snapshots {
            path,
            interval: (interval_secs > 0).then(|| Duration::from_secs(u64::from(interval_secs))),
            progress: Progress::default(),
            abort: AtomicBool::new(false),
            ctl: Mutex::new(Ctl::default()),
            cond: Condvar::new(),
            last: Mutex::new(Last {
                result: "none",
                ..Last::default()
            }),
            loaded: Mutex::new(Loaded::default()),
            writing: Mutex::new(()),
            keep_existing: AtomicBool::new(false),
        }
    }

    /// The snapshot file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Loads the snapshot file into `store` at start and logs one line saying what
    /// happened (at warning level when the file was refused in whole or in part).
    pub fn load(&self, store: &Store) {
        let shown = self.path.display();
        match load(store, &self.path) {
            Ok(None) => log::info!("snapshot {shown}: no such file, starting empty"),
            Err(e) => log::warn!("snapshot {shown}: cannot open ({e}), starting empty"),
            Ok(Some(l)) => {
                let secs = l.duration.as_secs_f64();
                let skipped = format!(
                    "{} expired, {} larger than -I, {} left out for lack of memory",
                    l.expired, l.too_large, l.no_memory
                );
                match &l.problem {
                    None => log::info!(
                        "snapshot {shown}: loaded {} items in {secs:.3} s ({skipped})",
                        l.items
                    ),
                    Some(p) if p.starts_with(FOREIGN) || p.starts_with(NEWER) => {
                        self.keep_existing.store(true, Ordering::Release);
                        log::warn!(
                            "snapshot {shown} refused: {p}; starting empty, and the file will \
                             not be written over (move it away to let larder write snapshots)"
                        )
                    }
                    Some(p) if l.items == 0 && l.expired + l.too_large + l.no_memory == 0 => {
                        log::warn!("snapshot {shown} refused: {p}; starting empty")
                    }
                    Some(p) => log::warn!(
                        "snapshot {shown} refused from the damage on: {p}; kept the {} items \
                         of the verified blocks before it ({skipped})",
                        l.items
                    ),
                }
                *self.loaded.lock() = l;
            }
        }
    }

    /// Asks the snapshot thread for a snapshot now (the `snapshot` command).
    pub fn request(&self) -> Request {
        let mut ctl = self.ctl.lock();
        if ctl.requested || self.progress.in_progress.load(Ordering::Acquire) {
            return Request::Busy;
        }
        ctl.requested = true;
        self.cond.notify_all();
        Request::Started
    }

    /// The snapshot thread: writes a snapshot when asked and every interval, until
    /// [`Snapshots::stop_thread`].
    /// It runs at nice 10: on a core it shares with a worker, requests go first (measured
    /// with `scripts/bench.sh --background`: docs/bench/background/background.md).
    pub fn run(&self, store: &Store) {
        if let Err(e) = crate::process::lower_thread_priority(SNAPSHOT_NICE) {
            log::warn!("snapshot thread keeps its priority: {e}");
        }
        let mut next = self.interval.map(|i| Instant::now() + i);
        loop {
            {
                let mut ctl = self.ctl.lock();
                loop {
                    if ctl.stop {
                        return;
                    }
                    if ctl.requested {
                        break;
                    }
                    match next {
                        Some(t) if Instant::now() >= t => break,
                        Some(t) => {
                            self.cond.wait_until(&mut ctl, t);
                        }
                        None => self.cond.wait(&mut ctl),
                    }
                }
            }
            self.write_logged(store);
            self.ctl.lock().requested = false;
            next = self.interval.map(|i| Instant::now() + i);
        }
    }

    /// Makes [`Snapshots::run`] return, aborting a snapshot in progress (the stop path
    /// writes a complete one right after).
    pub fn stop_thread(&self) {
        self.abort.store(true, Ordering::Release);
        self.ctl.lock().stop = true;
        self.cond.notify_all();
    }

    /// Writes a snapshot now, logs the outcome and records it for `stats`.
    pub fn write_logged(&self, store: &Store) -> Option<Written> {
        let _one = self.writing.lock();
        if self.keep_existing.load(Ordering::Acquire) {
            let mut last = self.last.lock();
            last.result = "failed";
            last.failed += 1;
            log::error!(
                "snapshot {}: not written: the file there is not one this larder wrote (see the \
                 start-up log); move it away",
                self.path.display()
            );
            return None;
        }
        self.progress.in_progress.store(true, Ordering::Release);
        let result = write(store, &self.path, &self.progress, &self.abort);
        self.progress.in_progress.store(false, Ordering::Release);
        let mut last = self.last.lock();
        last.time = unix_now();
        let shown = self.path.display();
        match result {
            Ok(w) => {
                last.result = "ok";
                last.duration = w.duration;
                last.completed += 1;
                log::info!(
                    "snapshot {shown}: wrote {} items, {} bytes in {:.3} s",
                    w.items,
                    w.bytes,
                    w.duration.as_secs_f64()
                );
                Some(w)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                last.result = "aborted";
                log::info!("snapshot {shown}: aborted (stopping), the previous file is kept");
                None
            }
            Err(e) => {
                last.result = "failed";
                last.failed += 1;
                log::error!("snapshot {shown}: writing failed ({e}), the previous file is kept");
                None
            }
        }
    }

    /// The snapshot written at a graceful stop, once nothing changes the cache any more
    /// (after [`Snapshots::stop_thread`] and the thread's end).
    pub fn write_final(&self, store: &Store) -> Option<Written> {
        self.abort.store(false, Ordering::Release);
        self.write_logged(store)
    }

    /// The `stats` rows (name, value).
    pub fn stats_rows(&self) -> Vec<(&'static str, String)> {
        let last = self.last.lock().clone();
        let l = self.loaded.lock().clone();
        let in_progress = self.progress.in_progress.load(Ordering::Acquire);
        vec![
            ("snapshot_in_progress", u8::from(in_progress).to_string()),
            (
                "snapshot_items_written",
                self.progress.items.load(Ordering::Relaxed).to_string(),
            ),
            (
                "snapshot_bytes_written",
                self.progress.bytes.load(Ordering::Relaxed).to_string(),
            ),
            ("snapshots_completed", last.completed.to_string()),
            ("snapshots_failed", last.failed.to_string()),
            ("snapshot_last_result", last.result.to_string()),
            (
                "snapshot_last_duration",
                format!("{:.6}", last.duration.as_secs_f64()),
            ),
            ("snapshot_last_time", last.time.to_string()),
            ("snapshot_loaded_items", l.items.to_string()),
            ("snapshot_load_expired", l.expired.to_string()),
            ("snapshot_load_too_large", l.too_large.to_string()),
            ("snapshot_load_no_memory", l.no_memory.to_string()),
            (
                "snapshot_load_duration",
                format!("{:.6}", l.duration.as_secs_f64()),
            ),
        ]
    }
}

#[cfg(test)]
mod tests;
