use super::*;
use crate::clock::Clock;
use crate::store::{SetMode, SetOutcome, StoreConfig};
use std::collections::HashMap;
use std::sync::Arc;

fn store_with(mb: usize, item_max: usize, clock: Clock) -> Store {
    Store::new(
        StoreConfig {
            memory_limit: mb << 20,
            item_size_max: item_max,
            stripes: 8,
            ..StoreConfig::default()
        },
        clock,
    )
    .unwrap()
}

fn store(mb: usize) -> Store {
    store_with(mb, 1 << 20, Clock::manual())
}

/// A small deterministic generator (xorshift).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[derive(Debug, Clone, PartialEq)]
struct Expect {
    value: Vec<u8>,
    flags: u32,
    cas: u64,
    exptime: u32,
}

fn read_back(s: &Store, key: &[u8]) -> Option<Expect> {
    s.get(key, |it| Expect {
        value: it.value().flatten().copied().collect(),
        flags: it.flags(),
        cas: it.cas(),
        exptime: it.exptime(),
    })
    .ok()
}

/// Fills `s` with `n` mixed items; returns what each key holds. Every 10th item has a TTL
/// of an hour, every 10th (another) one of 10 days; sizes from 0 bytes to 300 KB (chained).
fn fill(s: &Store, n: usize, seed: u64) -> HashMap<Vec<u8>, Expect> {
    let mut rng = Rng(seed);
    let mut want = HashMap::new();
    let clock = s.clock().clone();
    for i in 0..n {
        let r = rng.next();
        let len = match r % 1000 {
            0 => 100_000 + (r >> 20) as usize % 200_000,
            1..=50 => 2000 + (r >> 20) as usize % 8000,
            _ => (r >> 20) as usize % 200,
        };
        let value: Vec<u8> = (0..len).map(|j| (j as u64 ^ r) as u8).collect();
        let key = format!("key:{i}:{}", r % 97).into_bytes();
        let flags = (r >> 32) as u32;
        let exptime = match i % 10 {
            3 => clock.expiry(3600),
            7 => clock.expiry(10 * 86400),
            _ => 0,
        };
        let cas = match s.store(SetMode::Set, &key, &value, flags, exptime).unwrap() {
            SetOutcome::Stored { cas } => cas,
            other => panic!("{other:?}"),
        };
        want.insert(
            key,
            Expect {
                value,
                flags,
                cas,
                exptime,
            },
        );
    }
    want
}

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

fn write_ok(s: &Store, path: &Path) -> Written {
    write(s, path, &Progress::default(), &AtomicBool::new(false)).unwrap()
}

#[test]
fn round_trip_of_many_mixed_items_is_byte_exact() {
    let src = store(256);
    let want = fill(&src, 200_000, 7);
    assert_eq!(src.stats().evictions, 0);
    let dir = tmp();
    let path = dir.path().join("snap");
    let w = write_ok(&src, &path);
    assert_eq!(w.items, want.len() as u64);
    assert_eq!(w.bytes, fs::metadata(&path).unwrap().len());
    assert!(!temp_path(&path).exists());

    // Same clock time: everything comes back, TTLs at the same wall-clock moment.
    let dst = store(256);
    let l = load(&dst, &path).unwrap().unwrap();
    assert_eq!(l.problem, None);
    assert_eq!(l.items, want.len() as u64);
    let shift = src.clock().process_start() as i64 - dst.clock().process_start() as i64;
    let mut max_cas = 0;
    for (key, e) in &want {
        let got = read_back(&dst, key).unwrap_or_else(|| panic!("lost {key:?}"));
        assert_eq!(got.value, e.value);
        assert_eq!((got.flags, got.cas), (e.flags, e.cas));
        let want_exp = if e.exptime == 0 {
            0
        } else {
            (i64::from(e.exptime) + shift) as u32
        };
        assert_eq!(got.exptime, want_exp);
        max_cas = max_cas.max(e.cas);
    }
    match dst.store(SetMode::Set, b"new", b"x", 0, 0).unwrap() {
        SetOutcome::Stored { cas } => assert!(cas > max_cas),
        other => panic!("{other:?}"),
    }

    // Later (the one-hour TTLs passed while "down"): those are not loaded, the rest are.
    let later = Clock::manual();
    later.advance(7200);
    let dst = store_with(256, 1 << 20, later);
    let l = load(&dst, &path).unwrap().unwrap();
    let short = want
        .values()
        .filter(|e| e.exptime != 0 && e.exptime < 5000)
        .count() as u64;
    assert!(short > 0);
    assert_eq!(l.expired, short);
    assert_eq!(l.items, want.len() as u64 - short);
    for (key, e) in &want {
        let got = read_back(&dst, key);
        assert_eq!(got.is_some(), e.exptime == 0 || e.exptime > 5000, "{key:?}");
    }
}

#[test]
fn smaller_memory_loads_the_hot_items_first() {
    let src = store(64);
    let mut keys = Vec::new();
    for i in 0..200_000u32 {
        let key = format!("k{i:07}").into_bytes();
        src.store(SetMode::Set, &key, &[b'v'; 150], 0, 0).unwrap();
        keys.push(key);
    }
    // Every 10th key is hot (read twice).
    for key in keys.iter().step_by(10) {
        src.get(key, |_| ()).unwrap();
        src.get(key, |_| ()).unwrap();
    }
    let before = src.stats().curr_items;
    let dir = tmp();
    let path = dir.path().join("snap");
    write_ok(&src, &path);
    let dst = store(16);
    let l = load(&dst, &path).unwrap().unwrap();
    assert_eq!(l.problem, None);
    assert!(l.no_memory > 0, "{l:?}");
    assert_eq!(l.items + l.no_memory, before);
    assert_eq!(dst.stats().evictions, 0);
    assert_eq!(dst.stats().curr_items, l.items);
    let hot_kept = keys
        .iter()
        .step_by(10)
        .filter(|k| src.get(k, |_| ()).is_ok())
        .filter(|k| dst.get(k, |_| ()).is_ok())
        .count();
    let hot_src = keys
        .iter()
        .step_by(10)
        .filter(|k| src.get(k, |_| ()).is_ok())
        .count();
    assert_eq!(hot_kept, hot_src, "every hot item is loaded");
}

#[test]
fn items_larger_than_the_new_item_limit_are_skipped_and_counted() {
    let src = store(64);
    src.store(SetMode::Set, b"small", b"v", 0, 0).unwrap();
    src.store(SetMode::Set, b"big", &[1u8; 5000], 0, 0).unwrap();
    let dir = tmp();
    let path = dir.path().join("snap");
    write_ok(&src, &path);
    let dst = store_with(64, 2048, Clock::manual());
    let l = load(&dst, &path).unwrap().unwrap();
    assert_eq!((l.items, l.too_large, l.problem), (1, 1, None));
}

/// Writes a snapshot of 20k items (several blocks) and returns its bytes.
fn sample() -> (tempfile::TempDir, PathBuf, Vec<u8>) {
    let src = store(64);
    for i in 0..20_000u32 {
        src.store(SetMode::Set, format!("k{i}").as_bytes(), &[b'x'; 200], i, 0)
            .unwrap();
    }
    let dir = tmp();
    let path = dir.path().join("snap");
    write_ok(&src, &path);
    let bytes = fs::read(&path).unwrap();
    (dir, path, bytes)
}

fn load_bytes(bytes: &[u8]) -> (Loaded, Store) {
    let dir = tmp();
    let path = dir.path().join("f");
    fs::write(&path, bytes).unwrap();
    let s = store(64);
    let l = load(&s, &path).unwrap().unwrap();
    (l, s)
}

/// Every item a damaged file gave is one the good file holds, byte for byte.
fn all_items_genuine(s: &Store, n: u64) {
    let mut seen = 0;
    for i in 0..20_000u32 {
        if let Some(e) = read_back(s, format!("k{i}").as_bytes()) {
            assert_eq!((e.value, e.flags), (vec![b'x'; 200], i));
            seen += 1;
        }
    }
    assert_eq!(seen, n);
}

#[test]
fn damaged_files_are_refused_keeping_the_verified_prefix() {
    let (_d, path, good) = sample();
    assert!(good.len() > 3 * BLOCK_TARGET);
    let (l, _) = load_bytes(&good);
    assert_eq!((l.items, l.problem), (20_000, None));

    // Missing file.
    let s = store(8);
    assert_eq!(load(&s, &path.with_extension("none")).unwrap(), None);

    // Empty, foreign, future version, corrupt header.
    let (l, s) = load_bytes(b"");
    assert!(l.problem.unwrap().contains("empty"));
    assert_eq!(s.stats().curr_items, 0);
    let (l, _) = load_bytes(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".repeat(10).as_slice());
    assert!(l.problem.unwrap().contains("not a larder snapshot"));
    let mut future = good.clone();
    future[8..12].copy_from_slice(&2u32.to_le_bytes());
    let (l, s) = load_bytes(&future);
    assert!(l.problem.unwrap().contains("newer larder"));
    assert_eq!(s.stats().curr_items, 0);
    let mut bad_header = good.clone();
    bad_header[20] ^= 1;
    let (l, _) = load_bytes(&bad_header);
    assert!(l.problem.unwrap().contains("corrupt header"));

    // A flipped byte in the second block: the first block's items only.
    let first_len = le32(&good, HEADER_LEN + 4) as usize;
    let second = HEADER_LEN + BLOCK_HDR + first_len;
    let mut flipped = good.clone();
    flipped[second + BLOCK_HDR + 1000] ^= 0x40;
    let (l, s) = load_bytes(&flipped);
    assert!(l.problem.as_deref().unwrap().contains("checksum"), "{l:?}");
    let first_count = u64::from(le32(&good, HEADER_LEN + 8));
    assert_eq!(l.items, first_count);
    all_items_genuine(&s, first_count);

    // Truncated at every kind of place: whole blocks before the cut are kept.
    for cut in [
        10,
        HEADER_LEN,
        HEADER_LEN + 7,
        second - 1,
        second,
        second + 100,
        good.len() - 1,
    ] {
        let (l, s) = load_bytes(&good[..cut]);
        assert!(l.problem.is_some(), "cut at {cut}");
        let n = if cut >= second { first_count } else { 0 };
        let n = if cut == good.len() - 1 { 20_000 } else { n };
        assert!(l.items == n || cut >= second + 100, "cut at {cut}: {l:?}");
        all_items_genuine(&s, l.items);
    }
    // Random damage never yields a wrong item.
    let mut rng = Rng(99);
    for _ in 0..30 {
        let mut bad = good.clone();
        let at = HEADER_LEN + (rng.next() as usize % (good.len() - HEADER_LEN));
        bad[at] ^= 1 << (rng.next() % 8);
        let (l, s) = load_bytes(&bad);
        assert!(l.problem.is_some(), "damage at {at} not seen");
        all_items_genuine(&s, l.items);
    }
}

#[test]
fn an_aborted_or_failed_write_keeps_the_previous_snapshot() {
    let (_d, path, good) = sample();
    let s = store(8);
    s.store(SetMode::Set, b"other", b"v", 0, 0).unwrap();
    let err = write(&s, &path, &Progress::default(), &AtomicBool::new(true)).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::Interrupted);
    assert_eq!(fs::read(&path).unwrap(), good);
    assert!(!temp_path(&path).exists());
    // Unwritable place.
    let bad = Path::new("/nonexistent-dir/snap");
    assert!(write(&s, bad, &Progress::default(), &AtomicBool::new(false)).is_err());
    // A temporary file left by a killed writer does not matter.
    fs::write(temp_path(&path), b"half a snapshot").unwrap();
    let (l, _) = load_bytes(&fs::read(&path).unwrap());
    assert_eq!(l.items, 20_000);
}

#[test]
fn a_snapshot_under_concurrent_writes_holds_only_written_values() {
    let s = Arc::new(store(32));
    let value = |key: u32, version: u32| -> Vec<u8> {
        let mut v = format!("{key}:{version}:").into_bytes();
        v.resize(
            50 + (key as usize * 7 + version as usize) % 400,
            b'a' + (version % 26) as u8,
        );
        v
    };
    for k in 0..20_000u32 {
        s.store(SetMode::Set, format!("k{k}").as_bytes(), &value(k, 0), k, 0)
            .unwrap();
    }
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..2u32)
        .map(|t| {
            let s = Arc::clone(&s);
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let mut rng = Rng(u64::from(t) + 5);
                let mut version = 1;
                while !stop.load(Ordering::Relaxed) {
                    let k = (rng.next() % 40_000) as u32;
                    let key = format!("k{k}");
                    match rng.next() % 10 {
                        _ if t == 0 && version % 300_000 == 0 => s.flush_all(0),
                        0 => {
                            s.delete(key.as_bytes());
                        }
                        _ => {
                            let _ = s.store(SetMode::Set, key.as_bytes(), &value(k, version), k, 0);
                        }
                    }
                    version += 1;
                    if rng.next() % 1000 == 0 {
                        std::thread::yield_now();
                    }
                }
            })
        })
        .collect();
    let dir = tmp();
    let path = dir.path().join("snap");
    for _ in 0..5 {
        write_ok(&s, &path);
    }
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.join().unwrap();
    }
    let dst = store(32);
    let l = load(&dst, &path).unwrap().unwrap();
    assert_eq!(l.problem, None);
    let mut n = 0;
    for k in 0..40_000u32 {
        if let Some(e) = read_back(&dst, format!("k{k}").as_bytes()) {
            let text = String::from_utf8_lossy(&e.value).to_string();
            let mut parts = text.splitn(3, ':');
            assert_eq!(parts.next(), Some(k.to_string().as_str()), "{text}");
            let version: u32 = parts.next().unwrap().parse().unwrap();
            assert_eq!(e.value, value(k, version), "k{k}");
            assert_eq!(e.flags, k);
            n += 1;
        }
    }
    assert!(n > 100 && n <= l.items, "{n} items read back, {l:?}");
}

#[test]
fn a_file_that_is_not_a_snapshot_is_never_written_over() {
    let dir = tmp();
    let path = dir.path().join("precious");
    fs::write(&path, b"someone else's data\n").unwrap();
    let snaps = Snapshots::new(path.clone(), 0);
    let s = store(8);
    snaps.load(&s);
    s.store(SetMode::Set, b"k", b"v", 0, 0).unwrap();
    assert_eq!(snaps.write_final(&s), None);
    assert_eq!(fs::read(&path).unwrap(), b"someone else's data\n");
    // A damaged snapshot, on the other hand, is replaced by the next one.
    let (_d, path, good) = sample();
    let mut bad = good.clone();
    bad[HEADER_LEN + 100] ^= 1;
    fs::write(&path, &bad).unwrap();
    let snaps = Snapshots::new(path.clone(), 0);
    let s = store(8);
    snaps.load(&s);
    assert!(snaps.write_final(&s).is_some());
}
