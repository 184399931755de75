//! Loading a snapshot file: one thread reads and verifies blocks (header, CRC-32, record
//! bounds), asking the kernel to read ahead of it; import threads hand verified blocks to
//! the store as batches. A file that is not a snapshot, is from a newer format, or is cut
//! short or corrupt loads the verified blocks before the damage and logs one line. The
//! file is read, not mapped: a mapped file truncated meanwhile would be SIGBUS (a crash)
//! where `read` gives a short read that is refused.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::store::{ImportItem, ImportScratch, ImportTally, Store};

/// The first 8 bytes of every snapshot file.
use super::*;

/// What loading a snapshot did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Loaded {
    /// Items stored.
    pub items: u64,
    /// Items whose expiry time passed while larder was down.
    pub expired: u64,
    /// Items larger than this larder's `-I` (or with an invalid key).
    pub too_large: u64,
    /// Items left out because memory was full (the coldest).
    pub no_memory: u64,
    /// Bytes of the file read.
    pub bytes: u64,
    /// Time taken.
    pub duration: Duration,
    /// Why the file (or its rest) was refused; `None` if it was read to its end.
    pub problem: Option<String>,
}

/// Loads the snapshot at `path` into `store` (which should be empty). A missing file is
/// `Ok(None)`. A file refused in whole or in part is `Ok(Some(..))` with `problem` set: the
/// items of the verified blocks before the damage are loaded (blocks are checked before any
/// of their items is used, so no damaged byte is ever stored).
///
/// One thread reads and verifies blocks; import threads (up to 4, as the cores allow)
/// store their items, so reading, checksums and inserting overlap.
///
/// # Errors
/// Only when the file exists but cannot be opened.
pub fn load(store: &Store, path: &Path) -> io::Result<Option<Loaded>> {
    let started = Instant::now();
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let shared = LoadShared::default();
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 4);
    let (tx, rx) = crossbeam::channel::bounded::<(Vec<u8>, u32, bool)>(workers * 2);
    let (back_tx, back_rx) = crossbeam::channel::unbounded::<Vec<u8>>();
    let mut out = Loaded::default();
    std::thread::scope(|scope| {
        for _ in 0..workers {
            let rx = rx.clone();
            let back_tx = back_tx.clone();
            let shared = &shared;
            scope.spawn(move || {
                let mut scratch = ImportScratch::default();
                let mut spare = Vec::new();
                for (payload, count, use_cas) in rx {
                    let mut items = recycle(spare);
                    let r = load_block(
                        store,
                        &payload,
                        count,
                        use_cas,
                        shared,
                        &mut scratch,
                        &mut items,
                    );
                    if let Err(e) = r {
                        shared.fail(e);
                    }
                    spare = recycle(items);
                    let _ = back_tx.send(payload);
                }
            });
        }
        drop(rx);
        let mut reader = Reader {
            file: &mut file,
            tx,
            back: back_rx,
            shared: &shared,
            bytes: 0,
            advised: 0,
        };
        let problem = reader.run(store);
        out.bytes = reader.bytes;
        drop(reader);
        if let Some(p) = problem {
            shared.fail(p);
        }
    });
    let max_cas = shared.max_cas.load(Ordering::Relaxed);
    store.raise_cas_above(max_cas);
    out.items = shared.items.load(Ordering::Relaxed);
    out.expired = shared.expired.load(Ordering::Relaxed);
    out.too_large = shared.too_large.load(Ordering::Relaxed);
    out.no_memory = shared.no_memory.load(Ordering::Relaxed);
    out.problem = shared.problem.lock().take();
    out.duration = started.elapsed();
    Ok(Some(out))
}

/// Counters and flags the reader and the import threads share.
#[derive(Default)]
struct LoadShared {
    items: AtomicU64,
    expired: AtomicU64,
    too_large: AtomicU64,
    no_memory: AtomicU64,
    max_cas: AtomicU64,
    /// Memory is full: the rest is counted, not stored.
    full: AtomicBool,
    /// The first problem found (the reader stops at it).
    problem: Mutex<Option<String>>,
    failed: AtomicBool,
}

impl LoadShared {
    fn fail(&self, why: String) {
        let mut p = self.problem.lock();
        if p.is_none() {
            *p = Some(why);
        }
        self.failed.store(true, Ordering::Release);
    }
}

/// How far ahead of the reader the file is asked into the page cache
/// ([`advise_willneed`]), and in steps of how much.
const READ_AHEAD: u64 = 64 << 20;
const READ_AHEAD_STEP: u64 = 16 << 20;

/// Asks the kernel to start reading `len` bytes of `file` at `offset` into the page cache
/// now (`posix_fadvise(WILLNEED)`), without waiting for them. The reader thread shares the
/// cores with the import threads; the kernel's own read-ahead is only triggered by its
/// `read` calls, so whenever it waits for a core the disk would sit idle. Advice only:
/// errors are ignored (the reads that follow work without it).
#[allow(unsafe_code)] // posix_fadvise(2); the crate root denies unsafe elsewhere
fn advise_willneed(file: &File, offset: u64, len: u64) {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let (Ok(offset), Ok(len)) = (i64::try_from(offset), i64::try_from(len)) else {
            return;
        };
        // SAFETY: posix_fadvise reads its integer arguments only; the descriptor is open
        // for as long as `file` is borrowed.
        let _ = unsafe {
            libc::posix_fadvise(file.as_raw_fd(), offset, len, libc::POSIX_FADV_WILLNEED)
        };
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (file, offset, len);
}

/// Reads exactly `buf.len()` bytes; `Ok(false)` at a clean end of file before any byte.
fn read_full(file: &mut File, buf: &mut [u8]) -> Result<bool, String> {
    let mut n = 0;
    while n < buf.len() {
        match file.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("read error: {e}")),
        }
    }
    match n {
        0 if !buf.is_empty() => Ok(false),
        n if n == buf.len() => Ok(true),
        _ => Err("truncated".to_string()),
    }
}

/// The reading side of a load: header, then blocks, each verified before it is handed to
/// the import threads.
struct Reader<'a> {
    file: &'a mut File,
    tx: crossbeam::channel::Sender<(Vec<u8>, u32, bool)>,
    back: crossbeam::channel::Receiver<Vec<u8>>,
    shared: &'a LoadShared,
    bytes: u64,
    /// The file is asked into the page cache up to here ([`advise_willneed`]).
    advised: u64,
}

impl Reader<'_> {
    /// Reads the whole file; the reason it stopped early, if it did.
    fn run(&mut self, store: &Store) -> Option<String> {
        self.blocks(store).err()
    }

    fn blocks(&mut self, store: &Store) -> Result<(), String> {
        let mut h = [0u8; HEADER_LEN];
        let mut n = 0;
        while n < HEADER_LEN {
            match self.file.read(&mut h[n..]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(format!("read error: {e}")),
            }
        }
        if n == 0 {
            return Err("empty file, not a snapshot".into());
        }
        let m = n.min(MAGIC.len());
        if h[..m] != MAGIC[..m] {
            return Err(format!("{FOREIGN} (wrong magic bytes)"));
        }
        if n < HEADER_LEN {
            return Err("too short to be a snapshot (truncated header)".into());
        }
        let version = le32(&h, 8);
        if version > VERSION {
            return Err(format!(
                "{NEWER}: format version {version}, this larder reads up to version {VERSION}"
            ));
        }
        if version == 0 || le32(&h, 60) != crc32fast::hash(&h[..60]) {
            return Err("corrupt header (checksum mismatch)".into());
        }
        let header_len = le32(&h, 12) as usize;
        if header_len != HEADER_LEN {
            return Err(format!("corrupt header (header length {header_len})"));
        }
        let use_cas = le32(&h, 24) & H_CAS != 0;
        store.reserve_for_import(le64(&h, 28), le64(&h, 36));
        self.bytes = HEADER_LEN as u64;
        let mut block_no = 0u64;
        let mut seen = 0u64;
        loop {
            if self.shared.failed.load(Ordering::Acquire) {
                // An import thread found a bad record: its problem is the one reported.
                return Ok(());
            }
            let at = self.bytes;
            if at + READ_AHEAD > self.advised {
                advise_willneed(self.file, self.advised, READ_AHEAD_STEP);
                self.advised += READ_AHEAD_STEP;
            }
            let mut bh = [0u8; BLOCK_HDR];
            match read_full(self.file, &mut bh) {
                Ok(true) => {}
                Ok(false) => {
                    return Err(format!(
                        "truncated after {block_no} blocks (no end block at offset {at})"
                    ))
                }
                Err(e) => return Err(format!("block {block_no} at offset {at}: {e}")),
            }
            let kind = le32(&bh, 0);
            let len = le32(&bh, 4) as usize;
            let count = le32(&bh, 8);
            if !(kind == BLOCK_ITEMS || kind == BLOCK_END) || len > MAX_PAYLOAD {
                return Err(format!(
                    "block {block_no} at offset {at}: corrupt block header"
                ));
            }
            if kind == BLOCK_ITEMS && self.shared.full.load(Ordering::Acquire) {
                // Memory is full: the rest (colder items) is counted, not read.
                self.file
                    .seek(SeekFrom::Current(len as i64))
                    .map_err(|e| format!("seek: {e}"))?;
                self.bytes += (BLOCK_HDR + len) as u64;
                self.shared
                    .no_memory
                    .fetch_add(u64::from(count), Ordering::Relaxed);
                seen += u64::from(count);
                block_no += 1;
                continue;
            }
            let mut payload = self.back.try_recv().unwrap_or_default();
            payload.resize(len, 0);
            match read_full(self.file, &mut payload) {
                Ok(true) => {}
                Ok(false) if len == 0 => {}
                _ => {
                    return Err(format!(
                        "block {block_no} at offset {at}: truncated ({len} bytes announced)"
                    ))
                }
            }
            let mut crc = crc32fast::Hasher::new();
            crc.update(&bh[0..12]);
            crc.update(&payload);
            if crc.finalize() != le32(&bh, 12) {
                return Err(format!(
                    "block {block_no} at offset {at}: checksum mismatch (corrupt)"
                ));
            }
            self.bytes += (BLOCK_HDR + len) as u64;
            if kind == BLOCK_END {
                if len < 8 || le64(&payload, 0) != seen {
                    return Err(format!(
                        "end block at offset {at}: item count does not match the blocks"
                    ));
                }
                return Ok(());
            }
            seen += u64::from(count);
            block_no += 1;
            if self.tx.send((payload, count, use_cas)).is_err() {
                return Err("import threads ended".into());
            }
        }
    }
}

/// An empty vector with `v`'s allocation, for items borrowing another block: the items of
/// a block borrow its buffer, so the vector cannot be kept as it is from one block to the
/// next, but its memory can (a collect from a vector's own iterator into elements of the
/// same layout reuses the allocation). Without it every block allocated ~0.5 MiB afresh,
/// which the daemon's allocator (its mmap threshold is 128 KiB) maps, faults in page by
/// page and unmaps again.
#[allow(clippy::unnecessary_filter_map)] // it changes the items' lifetime, the point here
fn recycle<'b>(mut v: Vec<ImportItem<'_>>) -> Vec<ImportItem<'b>> {
    v.clear();
    v.into_iter().filter_map(|_| None).collect()
}

/// Loads the records of one verified block: parses them all into `items` (empty, reused
/// from block to block), then hands them to [`Store::import_batch`] at once (one stripe
/// lock hold per stripe, not one per item).
fn load_block<'p>(
    store: &Store,
    p: &'p [u8],
    count: u32,
    use_cas: bool,
    sh: &LoadShared,
    scratch: &mut ImportScratch,
    items: &mut Vec<ImportItem<'p>>,
) -> Result<(), String> {
    let mut off = 0;
    items.reserve((count as usize).min(p.len() / RECORD_HDR + 1));
    while off < p.len() {
        if p.len() - off < RECORD_HDR {
            return Err("a record header is cut short in a verified block".into());
        }
        let r = &p[off..];
        let klen = r[0] as usize;
        let vlen = le32(r, 8) as usize;
        if klen == 0 || RECORD_HDR + klen + vlen > r.len() {
            return Err("a record length is out of bounds in a verified block".into());
        }
        let bits = r[1];
        let cas = if use_cas { le64(r, 12) } else { 0 };
        items.push(ImportItem {
            key: &r[RECORD_HDR..RECORD_HDR + klen],
            value: &r[RECORD_HDR + klen..RECORD_HDR + klen + vlen],
            flags: le32(r, 4),
            cas,
            exptime_unix: le64(r, 20),
            atime_unix: le64(r, 28),
            use_count: r[2].min(3),
            main: bits & R_MAIN != 0,
            fetched: bits & R_FETCHED != 0,
            stale: bits & R_STALE != 0,
            win_sent: bits & R_WIN_SENT != 0,
            key_binary: bits & R_KEY_BINARY != 0,
        });
        off += RECORD_HDR + klen + vlen;
    }
    if items.len() as u64 != u64::from(count) {
        return Err(format!(
            "a verified block holds {} records, its header says {count}",
            items.len()
        ));
    }
    let mut t = ImportTally::default();
    if sh.full.load(Ordering::Relaxed) {
        t.full = items.len() as u64;
    } else {
        store.import_batch(items, scratch, &mut t);
        if t.full > 0 {
            sh.full.store(true, Ordering::Release);
        }
    }
    sh.items.fetch_add(t.loaded, Ordering::Relaxed);
    sh.expired.fetch_add(t.expired, Ordering::Relaxed);
    sh.too_large.fetch_add(t.too_large, Ordering::Relaxed);
    sh.no_memory.fetch_add(t.full, Ordering::Relaxed);
    sh.max_cas.fetch_max(t.max_cas, Ordering::Relaxed);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recycle_keeps_the_allocation() {
        let block = vec![0u8; 64];
        let mut items = Vec::with_capacity(1000);
        items.push(ImportItem {
            key: &block[..8],
            value: &block[8..],
            main: true,
            ..ImportItem::default()
        });
        let at = items.as_ptr() as usize;
        let again = recycle(items);
        drop(block);
        assert!(again.is_empty());
        assert_eq!(again.capacity(), 1000);
        assert_eq!(again.as_ptr() as usize, at);
    }
}
