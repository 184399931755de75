//! Snapshot and restore speed of the store, in process (no sockets): fills a store with
//! `--bytes` of values of `--value` bytes, writes a snapshot into `--dir`, then loads it
//! into a fresh store, once with the file in the page cache and once cold (the file's
//! pages dropped with posix_fadvise(DONTNEED), as after a reboot).
//!
//! `cargo run --release --example snapshot_speed -- --dir /var/tmp --value 100 --bytes 1g`
//! prints one line per phase; scripts/snapshot_bench.sh runs it next to `dd` and memcached.
//! `--cache warm|cold` runs one of the two loads only; `--rounds N` repeats them N times. `--keep` leaves the snapshot file in `--dir`; `--load-only` skips filling and writing
//! and loads the file a `--keep` run left (same `--value` and `--bytes`), so that a
//! profiler (`perf record`) or repeated runs see the restore alone.

#[path = "common/args.rs"]
mod args;

use args::{arg, flag};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use larder::clock::Clock;
use larder::snapshot::{self, Progress};
use larder::store::{SetMode, Store, StoreConfig};

fn size(text: &str) -> usize {
    let (digits, mult) = match text.as_bytes().last() {
        Some(b'g' | b'G') => (&text[..text.len() - 1], 1 << 30),
        Some(b'm' | b'M') => (&text[..text.len() - 1], 1 << 20),
        Some(b'k' | b'K') => (&text[..text.len() - 1], 1 << 10),
        _ => (text, 1),
    };
    digits.parse::<usize>().expect("a size") * mult
}

fn new_store(memory: usize) -> Store {
    Store::new(
        StoreConfig {
            memory_limit: memory,
            stripes: 16,
            ..StoreConfig::default()
        },
        Clock::system(),
    )
    .expect("store config")
}

/// Drops the file's pages from the page cache (it was fsynced, so they are clean).
fn drop_cache(path: &Path) {
    use std::os::fd::AsRawFd;
    let f = std::fs::File::open(path).expect("open snapshot");
    // SAFETY: posix_fadvise only reads its integer arguments; the descriptor is open.
    let rc = unsafe { libc::posix_fadvise(f.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
    assert_eq!(rc, 0, "posix_fadvise");
}

/// CPU seconds (user + system) this process has used: on a shared machine, wall time
/// includes waiting for a core; this does not.
fn cpu_secs() -> f64 {
    let ru = rusage();
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// Page faults (without I/O) this process has taken: unlike time, the same on a busy
/// machine as on an idle one.
fn minor_faults() -> i64 {
    rusage().ru_minflt
}

fn rusage() -> libc::rusage {
    // SAFETY: getrusage writes into the zeroed struct we pass; no other memory is involved.
    unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut ru);
        ru
    }
}

fn main() {
    // The allocator settings of the daemon (main.rs), so that loading allocates as there.
    larder::process::return_large_buffers();
    let dir = PathBuf::from(arg("--dir", "/var/tmp"));
    let value_len = size(&arg("--value", "100"));
    let bytes = size(&arg("--bytes", "1g"));
    let items = bytes / value_len;
    // Header + 16-byte key + value per item, and a margin for open segments.
    let memory = (items * (18 + 16 + value_len)) / 100 * 108 + (64 << 20);
    let path = dir.join(format!("larder-speed-{value_len}.snap"));
    if !flag("--load-only") {
        fill_and_write(&path, memory, value_len, items);
    }
    let rounds: usize = arg("--rounds", "1").parse().expect("--rounds N");
    let caches: &[bool] = match arg("--cache", "both").as_str() {
        "warm" => &[false],
        "cold" => &[true],
        _ => &[false, true],
    };
    for &cold in (0..rounds).flat_map(|_| caches) {
        if cold {
            drop_cache(&path);
        }
        let store = new_store(memory);
        let cpu = cpu_secs();
        let faults = minor_faults();
        let l = snapshot::load(&store, &path)
            .expect("open")
            .expect("snapshot exists");
        assert_eq!(l.problem, None);
        let secs = l.duration.as_secs_f64();
        println!(
            "load value={value_len} cache={} items={} file_bytes={} secs={secs:.3} GB/s={:.3} items/s={:.0} cpu_secs={:.3} minor_faults={}",
            if cold { "cold" } else { "warm" },
            l.items,
            l.bytes,
            l.bytes as f64 / secs / 1e9,
            l.items as f64 / secs,
            cpu_secs() - cpu,
            minor_faults() - faults
        );
        drop(store);
    }
    if !flag("--keep") {
        let _ = std::fs::remove_file(&path);
    }
}

/// Fills a store with `items` values of `value_len` bytes and writes its snapshot to `path`.
fn fill_and_write(path: &Path, memory: usize, value_len: usize, items: usize) {
    let store = new_store(memory);
    let value = vec![b'v'; value_len];
    let t = Instant::now();
    for i in 0..items {
        let key = format!("key:{i:012}");
        store
            .store(SetMode::Set, key.as_bytes(), &value, i as u32, 0)
            .expect("fill");
        if i % 10 == 0 {
            let _ = store.get(key.as_bytes(), |_| ());
        }
    }
    let s = store.stats();
    println!(
        "fill value={value_len} items={} value_bytes={} evictions={} secs={:.2}",
        s.curr_items,
        s.curr_items * value_len as u64,
        s.evictions,
        t.elapsed().as_secs_f64()
    );

    let cpu = cpu_secs();
    let w = snapshot::write(&store, path, &Progress::default(), &AtomicBool::new(false))
        .expect("write snapshot");
    let secs = w.duration.as_secs_f64();
    println!(
        "write value={value_len} items={} file_bytes={} secs={secs:.3} GB/s={:.3} items/s={:.0} cpu_secs={:.3}",
        w.items,
        w.bytes,
        w.bytes as f64 / secs / 1e9,
        w.items as f64 / secs,
        cpu_secs() - cpu
    );
}
