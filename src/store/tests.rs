//! Unit tests of the store through its public door (plus a few internals).

use super::*;

fn cfg(memory_limit: usize, stripes: usize, page_size: usize) -> StoreConfig {
    StoreConfig {
        memory_limit,
        stripes,
        page_size,
        ..StoreConfig::default()
    }
}

fn new_store(c: StoreConfig) -> Store {
    Store::new(c, Clock::manual()).expect("valid config")
}

fn value_of(s: &Store, key: &[u8]) -> Result<Vec<u8>, Miss> {
    s.get(key, |it| it.value().flatten().copied().collect())
}

fn set(s: &Store, key: &[u8], value: &[u8]) -> u64 {
    match s.store(SetMode::Set, key, value, 0, 0) {
        Ok(SetOutcome::Stored { cas }) => cas,
        other => panic!("set failed: {other:?}"),
    }
}

#[test]
fn config_validation() {
    let ok = StoreConfig::default();
    assert!(Store::new(ok.clone(), Clock::manual()).is_ok());
    for bad in [
        StoreConfig {
            stripes: 3,
            ..ok.clone()
        },
        StoreConfig {
            growth_factor: 1.0,
            ..ok.clone()
        },
        StoreConfig {
            chunk_size_min: 8,
            ..ok.clone()
        },
        StoreConfig {
            item_size_max: 512,
            ..ok.clone()
        },
        StoreConfig {
            memory_limit: 1000,
            ..ok.clone()
        },
        StoreConfig {
            page_size: 100,
            ..ok.clone()
        },
    ] {
        let err = Store::new(bad, Clock::manual()).unwrap_err();
        assert!(err.to_string().starts_with("invalid store configuration"));
    }
}

#[test]
fn set_get_flags_and_unique_cas() {
    let s = new_store(StoreConfig::default());
    assert_eq!(s.item_header_len(), 18);
    let c1 = s.store(SetMode::Set, b"a", b"one", 7, 0).unwrap();
    let c2 = s.store(SetMode::Set, b"b", b"two", 8, 0).unwrap();
    let c3 = s.store(SetMode::Set, b"a", b"uno", 9, 0).unwrap();
    let cas: Vec<u64> = [c1, c2, c3]
        .iter()
        .map(|o| match o {
            SetOutcome::Stored { cas } => *cas,
            _ => panic!("not stored"),
        })
        .collect();
    assert!(cas.iter().all(|&c| c != 0));
    assert_ne!(cas[0], cas[1]);
    assert_ne!(cas[0], cas[2]);
    assert_ne!(cas[1], cas[2]);
    let got = s
        .get(b"a", |it| {
            (
                it.value().flatten().copied().collect::<Vec<u8>>(),
                it.flags(),
                it.cas(),
                it.key().to_vec(),
                it.fetched(),
            )
        })
        .unwrap();
    assert_eq!(got, (b"uno".to_vec(), 9, cas[2], b"a".to_vec(), false));
    assert!(s.get(b"a", |it| it.fetched()).unwrap());
    assert_eq!(value_of(&s, b"zz"), Err(Miss::Absent));
    assert_eq!(value_of(&s, b""), Err(Miss::Absent));
    assert_eq!(value_of(&s, &[b'k'; 300]), Err(Miss::Absent));
    let st = s.stats();
    assert_eq!(st.curr_items, 2);
    assert_eq!(st.total_items, 3);
    // 18-byte header + 4 bytes of flags (7 and 9: not 0) + key + value.
    assert_eq!(st.bytes, 2 * (18 + 4 + 1 + 3));
}

#[test]
fn cas_uniques_are_unique_across_stripes_and_never_reused() {
    let s = new_store(cfg(8 << 20, 8, 16 << 10));
    let mut seen = std::collections::HashSet::new();
    for i in 0..2000u32 {
        let key = format!("k{}", i % 300);
        assert!(seen.insert(set(&s, key.as_bytes(), b"v")));
    }
    s.flush_all(0);
    for i in 0..300u32 {
        assert!(seen.insert(set(&s, format!("k{i}").as_bytes(), b"v")));
    }
}

#[test]
fn storage_modes() {
    let s = new_store(StoreConfig::default());
    assert_eq!(
        s.store(SetMode::Replace, b"k", b"x", 0, 0),
        Ok(SetOutcome::NotStored)
    );
    assert_eq!(
        s.store(SetMode::Append, b"k", b"x", 0, 0),
        Ok(SetOutcome::NotStored)
    );
    assert_eq!(
        s.store(SetMode::Prepend, b"k", b"x", 0, 0),
        Ok(SetOutcome::NotStored)
    );
    assert_eq!(
        s.store(SetMode::Cas(1), b"k", b"x", 0, 0),
        Ok(SetOutcome::NotFound)
    );
    assert!(matches!(
        s.store(SetMode::Add, b"k", b"mid", 5, 0),
        Ok(SetOutcome::Stored { .. })
    ));
    assert_eq!(
        s.store(SetMode::Add, b"k", b"y", 0, 0),
        Ok(SetOutcome::NotStored)
    );
    s.store(SetMode::Append, b"k", b">>", 0, 0).unwrap();
    s.store(SetMode::Prepend, b"k", b"<<", 99, 0).unwrap();
    assert_eq!(value_of(&s, b"k").unwrap(), b"<<mid>>");
    assert_eq!(
        s.get(b"k", |it| it.flags()).unwrap(),
        5,
        "concat keeps flags"
    );
    let cas = s.get(b"k", |it| it.cas()).unwrap();
    assert_eq!(
        s.store(SetMode::Cas(cas + 1), b"k", b"no", 0, 0),
        Ok(SetOutcome::Exists)
    );
    let out = s.store(SetMode::Cas(cas), b"k", b"yes", 1, 0).unwrap();
    assert!(matches!(out, SetOutcome::Stored { cas: c } if c != cas));
    assert_eq!(value_of(&s, b"k").unwrap(), b"yes");
    assert_eq!(
        s.store(SetMode::Replace, b"k", b"r", 2, 0).map(|_| ()),
        Ok(())
    );
    assert_eq!(value_of(&s, b"k").unwrap(), b"r");
    assert!(s.delete(b"k"));
    assert!(!s.delete(b"k"));
    assert_eq!(s.stats().curr_items, 0);
}

#[test]
fn append_crossing_a_class_and_a_page() {
    let s = new_store(cfg(4 << 20, 1, 4096));
    set(&s, b"k", &[b'a'; 40]);
    let c1 = s.get(b"k", |it| it.class_id()).unwrap();
    s.store(SetMode::Append, b"k", &[b'b'; 100], 0, 0).unwrap();
    let c2 = s.get(b"k", |it| it.class_id()).unwrap();
    assert!(c2 > c1);
    let mut want = vec![b'a'; 40];
    want.extend([b'b'; 100]);
    assert_eq!(value_of(&s, b"k").unwrap(), want);
    // Grow past one page: the item becomes chained; prepend to a chained item.
    let big: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
    s.store(SetMode::Append, b"k", &big, 0, 0).unwrap();
    s.store(SetMode::Prepend, b"k", b"HEAD", 0, 0).unwrap();
    let mut want2 = b"HEAD".to_vec();
    want2.extend(&want);
    want2.extend(&big);
    assert_eq!(value_of(&s, b"k").unwrap(), want2);
    assert!(s.get(b"k", |it| it.value().count()).unwrap() > 1);
    assert_eq!(s.get(b"k", |it| it.value_len()).unwrap(), 4 + 140 + 10_000);
    assert_eq!(s.stats().curr_items, 1);
}

#[test]
fn large_items_are_chained_and_bounded_by_item_size_max() {
    let s = new_store(StoreConfig {
        item_size_max: 2 << 20,
        ..cfg(16 << 20, 2, 64 << 10)
    });
    let big: Vec<u8> = (0..(1 << 20) + 777).map(|i| (i * 7 % 256) as u8).collect();
    set(&s, b"big", &big);
    assert_eq!(value_of(&s, b"big").unwrap(), big);
    let total = s.get(b"big", |it| it.total_size()).unwrap();
    // A chained item's head always has the exptime field: 18 + 4.
    assert_eq!(total, 22 + 3 + big.len());
    assert_eq!(s.stats().bytes, total as u64);
    let too_big = vec![0u8; 2 << 20];
    assert_eq!(
        s.store(SetMode::Set, b"big", &too_big, 0, 0),
        Err(StoreError::TooLarge)
    );
    assert_eq!(
        value_of(&s, b"big"),
        Err(Miss::Absent),
        "a failed set removes the old item"
    );
    set(&s, b"big", &big);
    s.delete(b"big");
    let st = s.stats();
    assert_eq!((st.curr_items, st.bytes), (0, 0));
    assert!(st.classes.iter().all(|c| c.used_chunks == 0));
}

#[test]
fn failed_append_keeps_the_old_item() {
    let s = new_store(StoreConfig {
        item_size_max: 1024,
        ..StoreConfig::default()
    });
    set(&s, b"k", &[1u8; 900]);
    assert_eq!(
        s.store(SetMode::Append, b"k", &[2u8; 200], 0, 0),
        Err(StoreError::TooLarge)
    );
    assert_eq!(value_of(&s, b"k").unwrap(), vec![1u8; 900]);
    assert_eq!(
        s.store(SetMode::Replace, b"k", &[2u8; 2000], 0, 0),
        Err(StoreError::TooLarge)
    );
    assert_eq!(value_of(&s, b"k").unwrap(), vec![1u8; 900]);
    assert_eq!(
        s.store(SetMode::Set, b"", b"v", 0, 0),
        Err(StoreError::TooLarge)
    );
}

#[test]
fn incr_decr_edges() {
    let s = new_store(StoreConfig::default());
    assert_eq!(s.arith(b"n", Delta::Incr(1)), Ok(ArithOutcome::NotFound));
    set(&s, b"n", b"18446744073709551615");
    let out = s.arith(b"n", Delta::Incr(1)).unwrap();
    assert!(matches!(out, ArithOutcome::Value { value: 0, cas } if cas != 0));
    assert_eq!(value_of(&s, b"n").unwrap(), b"0                   ");
    set(&s, b"n", b"10");
    assert!(matches!(
        s.arith(b"n", Delta::Decr(1)),
        Ok(ArithOutcome::Value { value: 9, .. })
    ));
    assert_eq!(value_of(&s, b"n").unwrap(), b"9 ");
    assert!(matches!(
        s.arith(b"n", Delta::Decr(100)),
        Ok(ArithOutcome::Value { value: 0, .. })
    ));
    assert_eq!(value_of(&s, b"n").unwrap(), b"0 ");
    set(&s, b"n", b"99");
    assert!(matches!(
        s.arith(b"n", Delta::Incr(1)),
        Ok(ArithOutcome::Value { value: 100, .. })
    ));
    assert_eq!(value_of(&s, b"n").unwrap(), b"100");
    let cas_before = s.get(b"n", |it| it.cas()).unwrap();
    let ArithOutcome::Value { cas, .. } = s.arith(b"n", Delta::Incr(0)).unwrap() else {
        panic!("numeric")
    };
    assert_ne!(cas, cas_before);
    assert_eq!(s.get(b"n", |it| it.cas()).unwrap(), cas);
    for bad in [&b"abc"[..], b"", b"1x", b"123456789012345678901"] {
        set(&s, b"n", bad);
        assert_eq!(s.arith(b"n", Delta::Incr(1)), Ok(ArithOutcome::NonNumeric));
    }
    s.store(SetMode::Set, b"f", b"5", 42, 0).unwrap();
    s.arith(b"f", Delta::Incr(5)).unwrap();
    assert_eq!(s.get(b"f", |it| it.flags()).unwrap(), 42);
    assert_eq!(value_of(&s, b"f").unwrap(), b"10");
}

#[test]
fn expiry_touch_and_gat() {
    let s = new_store(StoreConfig::default());
    let clock = s.clock().clone();
    let exp = clock.expiry(10);
    s.store(SetMode::Set, b"t", b"v", 0, exp).unwrap();
    s.store(SetMode::Set, b"forever", b"v", 0, 0).unwrap();
    s.store(SetMode::Set, b"dead", b"v", 0, clock.expiry(-1))
        .unwrap();
    assert_eq!(value_of(&s, b"dead"), Err(Miss::Expired));
    assert_eq!(value_of(&s, b"dead"), Err(Miss::Absent));
    clock.advance(9);
    assert!(value_of(&s, b"t").is_ok());
    assert!(s.touch(b"t", clock.expiry(5)));
    clock.advance(4);
    assert_eq!(
        s.get_and_touch(b"t", clock.expiry(100), |it| it.exptime())
            .unwrap(),
        clock.now() + 100
    );
    clock.advance(99);
    assert!(value_of(&s, b"t").is_ok());
    clock.advance(1);
    assert_eq!(value_of(&s, b"t"), Err(Miss::Expired));
    assert!(!s.touch(b"t", 0));
    clock.advance(1_000_000);
    assert!(value_of(&s, b"forever").is_ok());
    assert_eq!(s.stats().curr_items, 1);
}

#[test]
fn last_access_seen_before_bump() {
    let s = new_store(StoreConfig::default());
    let clock = s.clock().clone();
    set(&s, b"k", b"v");
    let t0 = clock.now();
    clock.advance(5);
    assert_eq!(s.get(b"k", |it| it.last_access()).unwrap(), t0);
    assert_eq!(s.get(b"k", |it| it.last_access()).unwrap(), t0 + 5);
}

#[test]
fn flush_all_now_and_delayed() {
    let s = new_store(cfg(8 << 20, 4, 16 << 10));
    let clock = s.clock().clone();
    for i in 0..100 {
        set(&s, format!("k{i}").as_bytes(), b"v");
    }
    assert!(s.stats().total_pages > 0);
    s.flush_all(0);
    let st = s.stats();
    assert_eq!(st.curr_items, 0);
    assert!(st.classes.is_empty(), "pages went back to the pool");
    assert!(value_of(&s, b"k1").is_err());
    set(&s, b"after", b"v");
    assert!(value_of(&s, b"after").is_ok(), "stored after the flush");

    // Delayed: items stored before the moment vanish when it comes, later ones survive.
    set(&s, b"old", b"v");
    s.flush_all(10);
    clock.advance(5);
    set(&s, b"mid", b"v");
    assert!(value_of(&s, b"old").is_ok());
    clock.advance(5);
    set(&s, b"new", b"v");
    assert_eq!(value_of(&s, b"old"), Err(Miss::Flushed));
    assert_eq!(value_of(&s, b"mid"), Err(Miss::Flushed));
    assert!(value_of(&s, b"new").is_ok());
    // A later flush_all does not bring back items an earlier one invalidated.
    clock.advance(5);
    s.flush_all(100);
    assert_eq!(value_of(&s, b"after"), Err(Miss::Flushed));
    assert!(value_of(&s, b"new").is_ok());
}

#[test]
fn items_used_while_new_survive_a_flood_of_one_hit_keys() {
    // One stripe of 16 segments of 4 KiB; 18 + 9 + 40 = 67-byte items, 61 per segment.
    let s = new_store(cfg(16 * 4096, 1, 4096));
    let key = |i: usize| format!("key:{i:05}");
    let val = [b'x'; 40];
    let mut n = 0;
    while s.stats().evictions == 0 {
        set(&s, key(n).as_bytes(), &val);
        n += 1;
    }
    // Items are evicted oldest first: the first `evictions` keys went.
    let first = s.stats().evictions as usize;
    assert!(first <= 61 && n >= 15 * 61, "n {n}, first evicted {first}");
    let read: Vec<usize> = (first..n).filter(|i| i % 2 == 0).collect();
    for &i in &read {
        assert!(value_of(&s, key(i).as_bytes()).is_ok(), "key {i}");
    }
    // Twice the cache's worth of keys that are never read again.
    for j in 0..2 * n {
        set(&s, format!("new:{j:05}").as_bytes(), &val);
    }
    for &i in &read {
        assert!(
            value_of(&s, key(i).as_bytes()).is_ok(),
            "key {i}, read once, was evicted by one-hit keys"
        );
    }
    let unread_left = (first..n)
        .filter(|i| i % 2 == 1)
        .filter(|&i| value_of(&s, key(i).as_bytes()).is_ok())
        .count();
    assert_eq!(unread_left, 0, "unread old keys are gone");
    let st = s.stats();
    assert!(st.total_pages <= 16);
    assert!(st.main_segments > 0 && st.small_segments > 0);
}

#[test]
fn a_key_evicted_unused_and_asked_for_again_goes_to_the_main_queue() {
    let s = new_store(cfg(16 * 4096, 1, 4096));
    let val = [b'x'; 40];
    let returning: Vec<String> = (0..8).map(|i| format!("returning:{i}")).collect();
    for k in &returning {
        set(&s, k.as_bytes(), &val);
    }
    let mut j = 0;
    while returning.iter().any(|k| value_of_quiet(&s, k.as_bytes())) {
        set(&s, format!("new:{j:05}").as_bytes(), &val);
        j += 1;
    }
    // They were evicted from the small queue without a use; the ghost remembers them, so
    // they come back into the main queue (the ghost forgets the oldest of a bucket of four:
    // four keys evicted later into the same bucket would push a returning key out, rarely).
    let mut in_main = Vec::new();
    for k in &returning {
        set(&s, k.as_bytes(), &val);
        let st = s.stripes[0].lock();
        let r = st.find(s.hash(k.as_bytes()), k.as_bytes()).unwrap();
        in_main.push(st.mem.pages[st.mem.slot_of(r) as usize].queue == segment::Queue::Main);
    }
    assert!(in_main.iter().filter(|&&m| m).count() >= 6, "{in_main:?}");
    for k in 0..2 * j {
        set(&s, format!("more:{k:05}").as_bytes(), &val);
    }
    for (k, &m) in returning.iter().zip(&in_main) {
        assert_eq!(
            value_of_quiet(&s, k.as_bytes()),
            m,
            "{k}: a ghost hit enters the main queue and outlives one-hit keys; a key the \
             ghost forgot is flooded out with them"
        );
    }
}

/// Is the key present? (without counting a use: looks at the entry only)
fn value_of_quiet(s: &Store, key: &[u8]) -> bool {
    s.entry(key, |e| matches!(e, Entry::Occupied(_)))
}

#[test]
fn no_evict_returns_out_of_memory() {
    let s = new_store(StoreConfig {
        evict: false,
        ..cfg(8192, 1, 4096)
    });
    let mut stored = 0;
    loop {
        match s.store(
            SetMode::Set,
            format!("k{stored:04}").as_bytes(),
            &[1; 40],
            0,
            0,
        ) {
            Ok(_) => stored += 1,
            Err(e) => {
                assert_eq!(e, StoreError::OutOfMemory);
                break;
            }
        }
    }
    assert!(stored > 0);
    for i in 0..stored {
        assert!(value_of(&s, format!("k{i:04}").as_bytes()).is_ok());
    }
    let st = s.stats();
    assert_eq!(st.evictions, 0);
    assert_eq!(st.classes.iter().map(|c| c.outofmemory).sum::<u64>(), 1);
    // Expired memory is still reused without -M's "evict".
    let s = new_store(StoreConfig {
        evict: false,
        ..cfg(8192, 1, 4096)
    });
    let clock = s.clock().clone();
    let mut i = 0;
    while s
        .store(
            SetMode::Set,
            format!("k{i:04}").as_bytes(),
            &[1; 40],
            0,
            clock.expiry(1),
        )
        .is_ok()
    {
        i += 1;
    }
    clock.advance(2);
    assert!(s.store(SetMode::Set, b"fresh", &[1; 40], 0, 0).is_ok());
    assert!(s.stats().reclaimed >= 1);
    assert_eq!(s.stats().evictions, 0);
}

#[test]
fn item_larger_than_memory_is_out_of_memory_not_a_panic() {
    let s = new_store(cfg(8192, 1, 4096));
    assert_eq!(
        s.store(SetMode::Set, b"k", &[0u8; 20_000], 0, 0),
        Err(StoreError::OutOfMemory)
    );
    assert_eq!(s.stats().curr_items, 0);
    // A store with items in it: an item larger than all memory evicts nothing.
    let s = new_store(StoreConfig {
        item_size_max: 64 << 10,
        ..cfg(8192, 1, 4096)
    });
    set(&s, b"a", b"v");
    assert_eq!(
        s.store(SetMode::Set, b"k", &[0u8; 20_000], 0, 0),
        Err(StoreError::OutOfMemory)
    );
    assert_eq!(s.stats().evictions, 0);
    set(&s, b"small", b"v");
    assert_eq!(value_of(&s, b"small").unwrap(), b"v");
}

#[test]
fn expired_items_are_reclaimed_before_live_ones_are_evicted() {
    let s = new_store(cfg(16 * 4096, 1, 4096));
    let clock = s.clock().clone();
    // 22 + 9 + 44 = 75-byte items: 54 per segment, an even number, so that every segment
    // is exactly half dead once the odd ones expire.
    let val = [b'x'; 44];
    // Half of the items expire, interleaved with live ones; fill the cache exactly.
    let n = 16 * (4096 / 75);
    for i in 0..n {
        let exp = if i % 2 == 0 { clock.expiry(5) } else { 0 };
        s.store(SetMode::Set, format!("key:{i:05}").as_bytes(), &val, 0, exp)
            .unwrap();
    }
    assert_eq!(s.stats().evictions, 0);
    clock.advance(10);
    // The maintenance thread's crawl finds them (the server runs it every 100 ms).
    for _ in 0..4 {
        s.maintain();
    }
    for j in 0..n / 2 {
        set(&s, format!("new:{j:05}").as_bytes(), &val);
    }
    let st = s.stats();
    assert_eq!(st.evictions, 0);
    assert_eq!(st.reclaimed + st.crawler_reclaimed, n as u64 / 2);
    for i in (1..n).step_by(2) {
        assert!(value_of(&s, format!("key:{i:05}").as_bytes()).is_ok());
    }
}

#[test]
fn crawler_reclaims_expired_items_and_returns_free_pages() {
    let s = new_store(cfg(1 << 20, 2, 4096));
    let clock = s.clock().clone();
    for i in 0..500 {
        s.store(
            SetMode::Set,
            format!("k{i}").as_bytes(),
            &[0; 100],
            0,
            clock.expiry(3),
        )
        .unwrap();
    }
    set(&s, b"live", b"v");
    let pages = s.stats().total_pages;
    clock.advance(4);
    for _ in 0..4 {
        s.maintain();
    }
    let st = s.stats();
    assert_eq!(st.crawler_reclaimed, 500);
    assert_eq!(st.expired_unfetched, 500);
    assert_eq!(st.curr_items, 1);
    assert_eq!(st.total_pages, pages, "pages stay allocated, in the pool");
    assert_eq!(st.classes.iter().map(|c| c.total_pages).sum::<u64>(), 1);
    assert!(value_of(&s, b"live").is_ok());
}

#[test]
fn lowering_the_memory_limit_gives_pages_back() {
    let s = new_store(cfg(64 * 4096, 2, 4096));
    for i in 0..2500 {
        set(&s, format!("k{i}").as_bytes(), &[0; 100]);
    }
    assert_eq!(s.stats().total_pages, 64);
    s.set_memory_limit(16 * 4096);
    for _ in 0..64 {
        s.maintain();
    }
    let st = s.stats();
    assert_eq!(st.total_pages, 16);
    assert_eq!(st.limit_maxbytes, 16 * 4096);
    assert!(st.curr_items > 0);
    for i in 0..500 {
        set(&s, format!("n{i}").as_bytes(), &[0; 100]);
    }
    assert_eq!(s.stats().total_pages, 16);
    s.set_memory_limit(32 * 4096);
    for i in 0..2000 {
        set(&s, format!("m{i}").as_bytes(), &[0; 100]);
    }
    assert_eq!(s.stats().total_pages, 32);
}

#[test]
fn without_cas_items_are_8_bytes_smaller_and_cas_reads_0() {
    let s = new_store(StoreConfig {
        use_cas: false,
        ..StoreConfig::default()
    });
    assert_eq!(s.item_header_len(), 10);
    assert_eq!(set(&s, b"k", b"v"), 0);
    assert_eq!(
        s.get(b"k", |it| (it.cas(), it.total_size())).unwrap(),
        (0, 12)
    );
    assert!(matches!(
        s.store(SetMode::Cas(12345), b"k", b"w", 0, 0),
        Ok(SetOutcome::Stored { cas: 0 })
    ));
    set(&s, b"n", b"1");
    assert_eq!(
        s.arith(b"n", Delta::Incr(1)),
        Ok(ArithOutcome::Value { value: 2, cas: 0 })
    );
}

#[test]
fn entry_api() {
    let s = new_store(StoreConfig::default());
    let cas = s.entry(b"m", |e| match e {
        Entry::Vacant(v) => {
            assert_eq!(v.key(), b"m");
            assert_eq!(v.miss(), Miss::Absent);
            let o = v
                .insert(NewItem {
                    value: b"1",
                    flags: 3,
                    exptime: 0,
                    cas: Some(777),
                })
                .unwrap();
            o.item().cas()
        }
        Entry::Occupied(_) => panic!("empty store"),
    });
    assert_eq!(cas, 777);
    s.entry(b"m", |e| {
        let Entry::Occupied(mut o) = e else {
            panic!("stored")
        };
        assert!(!o.item().fetched() && !o.item().stale() && !o.item().win_token_sent());
        o.set_stale(true);
        o.set_win_token_sent(true);
        o.bump();
        assert!(o.item().fetched());
        o.set_fetched(false);
        assert!(!o.item().fetched());
        o.set_exptime(12345);
        assert_eq!(o.item().exptime(), 12345);
        let fresh = o.set_cas(None);
        assert!(fresh != 0 && fresh != 777);
        assert_eq!(o.set_cas(Some(5)), 5);
        assert_eq!(o.number(), Some(1));
        let o = o.write_number(1000).unwrap();
        assert_eq!(o.item().value().next().unwrap(), b"1000");
        let o = o.concat(b"!", false).unwrap();
        assert_eq!(o.item().flags(), 3);
        assert_eq!(o.item().exptime(), 12345);
        let o = o
            .replace(NewItem {
                value: b"new",
                flags: 1,
                exptime: 0,
                cas: None,
            })
            .unwrap();
        assert!(!o.item().stale(), "a replaced item has fresh bits");
        o.remove();
    });
    assert_eq!(value_of(&s, b"m"), Err(Miss::Absent));
    // A failed replace removes the old item.
    set(&s, b"m", b"v");
    s.entry(b"m", |e| {
        let Entry::Occupied(o) = e else {
            panic!("stored")
        };
        let big = vec![0u8; 2 << 20];
        let r = o.replace(NewItem {
            value: &big,
            flags: 0,
            exptime: 0,
            cas: None,
        });
        assert_eq!(r.err(), Some(StoreError::TooLarge));
    });
    assert_eq!(value_of(&s, b"m"), Err(Miss::Absent));
    let clock = s.clock().clone();
    s.store(SetMode::Set, b"e", b"v", 0, clock.expiry(1))
        .unwrap();
    clock.advance(1);
    s.entry(b"e", |e| {
        assert!(matches!(e, Entry::Vacant(ref v) if v.miss() == Miss::Expired));
    });
    s.entry(&[b'x'; 300], |e| {
        let Entry::Vacant(v) = e else { panic!() };
        let r = v.insert(NewItem {
            value: b"v",
            flags: 0,
            exptime: 0,
            cas: None,
        });
        assert_eq!(r.err(), Some(StoreError::TooLarge));
    });
}

#[test]
fn stats_and_size_histogram() {
    let s = new_store(cfg(4 << 20, 4, 16 << 10));
    for i in 0..10 {
        set(&s, format!("k{i}").as_bytes(), &[0; 100]); // 18 + 2 + 100 = 120
    }
    // 18 + 4 (flags) + 4 (exptime) + 3 + 1000 = 1029
    let exp = s.clock().expiry(100);
    s.store(SetMode::Set, b"big", &[0; 1000], 3, exp).unwrap();
    assert_eq!(s.size_histogram(), vec![(128, 10), (1056, 1)]);
    let st = s.stats();
    assert_eq!(st.curr_items, 11);
    assert_eq!(st.bytes, 10 * 120 + 1029);
    let items: u64 = st.classes.iter().map(|c| c.items).sum();
    assert_eq!(items, 11);
    let used: u64 = st.classes.iter().map(|c| c.used_chunks).sum();
    assert_eq!(used, 11);
    let req: u64 = st.classes.iter().map(|c| c.mem_requested).sum();
    assert_eq!(req, st.bytes);
    for c in &st.classes {
        assert_eq!(c.total_chunks, c.total_pages * c.chunks_per_page as u64);
        assert!(c.chunk_size * c.chunks_per_page <= 16 << 10);
    }
    assert_eq!(st.limit_maxbytes, 4 << 20);
    assert_eq!(st.total_malloced, st.total_pages * (16 << 10));
}

#[test]
fn store_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Store>();
}

#[test]
fn boundaries_empty_value_longest_key_and_page_edges() {
    let s = new_store(cfg(4 << 20, 2, 4096));
    set(&s, b"empty", b"");
    assert_eq!(value_of(&s, b"empty").unwrap(), b"");
    assert_eq!(s.get(b"empty", |it| it.value().count()).unwrap(), 1);
    let long = [b'k'; MAX_KEY_LEN];
    set(&s, &long, b"v");
    assert_eq!(s.get(&long, |it| it.key().len()).unwrap(), MAX_KEY_LEN);
    assert_eq!(
        s.store(SetMode::Set, &[b'k'; MAX_KEY_LEN + 1], b"v", 0, 0),
        Err(StoreError::TooLarge)
    );
    // Exactly one page (18 + 1 + 4077 = 4096) is one chunk; one byte more is chained.
    let fits = vec![7u8; 4096 - 19];
    set(&s, b"p", &fits);
    assert_eq!(s.get(b"p", |it| it.value().count()).unwrap(), 1);
    assert_eq!(value_of(&s, b"p").unwrap(), fits);
    let over = vec![8u8; 4096 - 18];
    set(&s, b"q", &over);
    assert_eq!(s.get(b"q", |it| it.value().count()).unwrap(), 2);
    assert_eq!(value_of(&s, b"q").unwrap(), over);
    // Client flags other than 0 and an exptime take 4 bytes more each: the same edge that
    // much earlier, and a chained item keeps both (its next reference follows them).
    let exp = s.clock().expiry(1000);
    for (flags, exptime, extra) in [(0xfeed_f00d, 0, 4), (0xfeed_f00d, exp, 8), (0, exp, 4)] {
        for (len, parts) in [
            (4096 - 19 - extra, 1),
            (4096 - 18 - extra, 2),
            (4096 * 3, 4),
        ] {
            let v: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            s.store(SetMode::Set, b"f", &v, flags, exptime).unwrap();
            let got = s
                .get(b"f", |it| (it.flags(), it.exptime(), it.value().count()))
                .unwrap();
            assert_eq!(got, (flags, exptime, parts), "value of {len} bytes");
            assert_eq!(value_of(&s, b"f").unwrap(), v);
        }
    }
    // Many chunks: every part is the right length and the value is intact.
    let many: Vec<u8> = (0..50_000u32).map(|i| (i % 253) as u8).collect();
    set(&s, b"r", &many);
    let parts: Vec<usize> = s
        .get(b"r", |it| it.value().map(<[u8]>::len).collect())
        .unwrap();
    assert_eq!(parts.iter().sum::<usize>(), many.len());
    assert!(parts.len() >= 13);
    assert_eq!(value_of(&s, b"r").unwrap(), many);
}

#[test]
fn tiny_caches_get_fewer_stripes() {
    let s = new_store(cfg(1 << 20, 16, 64 << 10));
    assert_eq!(s.config().stripes, 1);
    let s = new_store(cfg(8 << 20, 16, 64 << 10));
    assert_eq!(s.config().stripes, 4);
    let s = new_store(cfg(64 << 20, 16, 64 << 10));
    assert_eq!(s.config().stripes, 16);
    let s = new_store(cfg(64 << 10, 16, 64 << 10));
    assert_eq!(s.config().stripes, 1);
}

#[test]
fn huge_caches_get_more_stripes() {
    // 64 GiB over 2 stripes: a stripe addresses 4 GiB, so each gets at most 2 GiB.
    let s = new_store(cfg(64 << 30, 2, 64 << 10));
    assert_eq!(s.config().stripes, 32);
    assert!(s.geo.max_slots as usize * s.config().page_size >= 2 * (2 << 30) - (64 << 10));
}

#[test]
fn a_stripe_takes_memory_from_others_at_once() {
    // 64 segments over 2 stripes; stripe 0's keys take every segment first.
    let s = new_store(cfg(64 * 4096, 2, 4096));
    assert_eq!(s.config().stripes, 2);
    let stripe_of = |k: &[u8]| (s.hash(k) >> 40) as usize & s.stripe_mask;
    let keys = |stripe: usize| {
        (0..)
            .map(|i| format!("key{i}"))
            .filter(move |k| stripe_of(k.as_bytes()) == stripe)
    };
    for k in keys(0).take(400) {
        set(&s, k.as_bytes(), &[1u8; 1000]);
    }
    assert_eq!(s.stripes[0].lock().mem.page_count(), 64);
    // A small item in the other stripe: stored at once.
    let k1 = keys(1).next().unwrap();
    set(&s, k1.as_bytes(), b"v");
    assert_eq!(value_of(&s, k1.as_bytes()).unwrap(), b"v");
    // A large one (40 segments' worth) too.
    let k2 = keys(1).nth(1).unwrap();
    let big = vec![9u8; 40 * 4000];
    set(&s, k2.as_bytes(), &big);
    assert_eq!(value_of(&s, k2.as_bytes()).unwrap(), big);
    assert!(s.stripes[1].lock().mem.page_count() >= 40);
    assert!(s.stats().total_pages <= 64);
}

#[test]
fn large_values_one_after_another_are_all_stored() {
    // The issue's sequence: 550 KB - 1 MB values one after another at -m 48, 16 stripes.
    let s = new_store(StoreConfig {
        memory_limit: 48 << 20,
        stripes: 16,
        ..StoreConfig::default()
    });
    let mut x = 12345u64;
    for i in 0..300 {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let len = 550_000 + (x >> 33) as usize % 450_000;
        let key = format!("big:{}", i % 97);
        assert!(
            matches!(
                s.store(SetMode::Set, key.as_bytes(), &vec![b'v'; len], 0, 0),
                Ok(SetOutcome::Stored { .. })
            ),
            "set {i} of {len} bytes refused"
        );
    }
    assert!(s.stats().total_pages as usize <= (48 << 20) / (64 << 10));
}

#[test]
fn reset_stats_zeroes_event_counters_and_keeps_gauges() {
    let clock = Clock::manual();
    let store = Store::new(
        StoreConfig {
            memory_limit: 1 << 20,
            stripes: 1,
            ..StoreConfig::default()
        },
        clock,
    )
    .unwrap();
    for i in 0..20_000u32 {
        let _ = store.store(SetMode::Set, format!("k{i}").as_bytes(), &[b'v'; 100], 0, 0);
    }
    let before = store.stats();
    assert!(before.evictions > 0 && before.total_items > 0);
    store.reset_stats();
    let after = store.stats();
    assert_eq!(after.evictions, 0);
    assert_eq!(after.total_items, 0);
    assert!(after.classes.iter().all(|c| c.evicted == 0));
    assert_eq!(after.curr_items, before.curr_items);
    assert_eq!(after.bytes, before.bytes);
}

/// The crawler backs off while its laps find nothing (no TTL due), never for more than
/// 64 rounds, and `crawl_soon` (`lru_crawler crawl`) ends the back-off at once.
#[test]
fn crawler_backs_off_while_laps_find_nothing() {
    let s = new_store(cfg(16 << 20, 1, 64 << 10));
    let clock = s.clock().clone();
    for i in 0..100 {
        set(&s, format!("forever{i}").as_bytes(), b"v");
    }
    // Empty laps: the rest doubles up to its cap.
    for _ in 0..200 {
        s.maintain();
    }
    let exp = clock.expiry(1);
    for i in 0..100 {
        s.store(SetMode::Set, format!("brief{i}").as_bytes(), b"v", 0, exp)
            .unwrap();
    }
    clock.advance(2);
    let crawled = |s: &Store| s.stats().crawler_reclaimed;
    s.maintain();
    assert_eq!(crawled(&s), 0, "resting crawler crawled");
    // Within the cap (64 rounds), it crawls again on its own.
    for _ in 0..64 {
        s.maintain();
    }
    assert_eq!(crawled(&s), 100);

    // Back to resting after empty laps; `crawl_soon` ends the rest.
    for _ in 0..200 {
        s.maintain();
    }
    let exp = clock.expiry(1);
    for i in 0..50 {
        s.store(SetMode::Set, format!("again{i}").as_bytes(), b"v", 0, exp)
            .unwrap();
    }
    clock.advance(2);
    s.maintain();
    assert_eq!(crawled(&s), 100, "resting crawler crawled");
    s.crawl_soon();
    s.maintain();
    assert_eq!(crawled(&s), 150);
}

#[test]
fn an_exptime_set_on_an_item_without_the_field_copies_it_and_keeps_the_rest() {
    let s = new_store(cfg(4 << 20, 2, 4096));
    let clock = s.clock().clone();
    s.store(SetMode::Set, b"t", b"value", 42, 0).unwrap();
    let cas = s.get(b"t", |it| it.cas()).unwrap(); // marks it fetched
    let before = s.stats();
    assert_eq!(before.bytes, 18 + 4 + 1 + 5, "no exptime field yet");
    // 0 on a record without the field: nothing to write, nothing moves.
    assert!(s.touch(b"t", 0));
    assert_eq!(s.stats().bytes, before.bytes);
    let exp = clock.expiry(10);
    assert!(s.touch(b"t", exp));
    let after = s.stats();
    assert_eq!(
        after.bytes,
        before.bytes + 4,
        "copied with an exptime field"
    );
    assert_eq!(after.curr_items, 1);
    assert_eq!(
        after.total_items, before.total_items,
        "the same item, moved"
    );
    let got = s
        .get(b"t", |it| {
            let v: Vec<u8> = it.value().flatten().copied().collect();
            (v, it.flags(), it.cas(), it.exptime(), it.fetched())
        })
        .unwrap();
    assert_eq!(got, (b"value".to_vec(), 42, cas, exp, true));
    // From now on in place, 0 included.
    assert!(s.touch(b"t", 0));
    assert_eq!(s.get(b"t", |it| it.exptime()).unwrap(), 0);
    assert!(s.touch(b"t", clock.expiry(5)));
    assert_eq!(s.stats().bytes, after.bytes);
    clock.advance(6);
    assert_eq!(value_of(&s, b"t"), Err(Miss::Expired));
    // gat copies the same way and hands `f` the moved item, with the use count and the
    // last access of the record it replaced.
    set(&s, b"g", b"gv");
    s.get(b"g", |_| ()).unwrap();
    s.get(b"g", |_| ()).unwrap();
    let use_count = |s: &Store, k: &[u8]| {
        let (st, _, _, h) = s.find_locked(k).unwrap();
        item::head::freq(st.mem.chunk(h))
    };
    assert_eq!(use_count(&s, b"g"), 2);
    let last = s.get(b"g", |it| it.last_access()).unwrap();
    clock.advance(3);
    let exp = clock.expiry(100);
    let got = s
        .get_and_touch(b"g", exp, |it| {
            (
                it.exptime(),
                it.value().flatten().copied().collect::<Vec<u8>>(),
                it.last_access(),
            )
        })
        .unwrap();
    assert_eq!(got, (exp, b"gv".to_vec(), last));
    assert_eq!(s.get(b"g", |it| it.exptime()).unwrap(), exp);
    assert_eq!(use_count(&s, b"g"), 3, "kept across the copy, then counted");
}

#[test]
fn without_eviction_every_record_has_the_exptime_field() {
    let s = new_store(StoreConfig {
        evict: false,
        ..cfg(4 << 20, 2, 4096)
    });
    set(&s, b"k", b"v");
    assert_eq!(s.get(b"k", |it| it.total_size()).unwrap(), 18 + 4 + 1 + 1);
    let before = s.stats().bytes;
    assert!(s.touch(b"k", s.clock().expiry(10)));
    assert_eq!(
        s.stats().bytes,
        before,
        "set in place: a touch never needs memory"
    );
}
