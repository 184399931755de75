//! Expiry reclaim: a cache full of expired items never evicts live ones, whether the memory
//! comes back through the crawler (`maintain`) or through allocation-time reclaim.

use larder::clock::Clock;
use larder::store::{SetMode, Store, StoreConfig};

const LIVE: usize = 200;

/// A full 4 MiB store: expiring 100-byte items until the first eviction, then `LIVE` live
/// items. Returns the store, its clock and the number of expiring items stored.
fn full_of_expiring() -> (Store, Clock, usize) {
    let clock = Clock::manual();
    let store = Store::new(
        StoreConfig {
            memory_limit: 4 << 20,
            stripes: 2,
            ..StoreConfig::default()
        },
        clock.clone(),
    )
    .expect("valid config");
    let v = [b'e'; 100];
    let mut n = 0;
    while store.stats().evictions == 0 {
        store
            .store(
                SetMode::Set,
                format!("exp:{n:08}").as_bytes(),
                &v,
                0,
                clock.expiry(10),
            )
            .expect("evicting store");
        n += 1;
    }
    for i in 0..LIVE {
        store
            .store(SetMode::Set, format!("live:{i:04}").as_bytes(), &v, 0, 0)
            .expect("evicting store");
    }
    assert_eq!(store.stats().total_pages, 64);
    (store, clock, n)
}

fn assert_live_items_present(store: &Store) {
    for i in 0..LIVE {
        assert!(
            store.get(format!("live:{i:04}").as_bytes(), |_| ()).is_ok(),
            "live item {i} was evicted"
        );
    }
}

#[test]
fn crawler_returns_expired_memory_for_items_of_any_size() {
    let (store, clock, n) = full_of_expiring();
    let evictions = store.stats().evictions;
    clock.advance(11);
    for _ in 0..20 {
        store.maintain();
    }
    let st = store.stats();
    assert_eq!(st.curr_items as usize, LIVE);
    assert!(st.crawler_reclaimed as usize >= n - evictions as usize - LIVE);
    // New workload of a different size: 10 KB items fill most of the memory again.
    let big = vec![b'B'; 10_000];
    for i in 0..300 {
        store
            .store(SetMode::Set, format!("big:{i:04}").as_bytes(), &big, 0, 0)
            .expect("memory was reclaimed");
    }
    assert_eq!(store.stats().evictions, evictions);
    assert_live_items_present(&store);
    assert!(store.stats().total_pages <= 64);
}

#[test]
fn allocation_reclaims_expired_items_before_evicting_live_ones() {
    let (store, clock, n) = full_of_expiring();
    let evictions = store.stats().evictions;
    clock.advance(11);
    // No maintain(): every store must find expired memory on its own.
    let v = [b'n'; 100];
    let fresh = (n - evictions as usize - LIVE) * 9 / 10;
    for i in 0..fresh {
        store
            .store(SetMode::Set, format!("new:{i:08}").as_bytes(), &v, 0, 0)
            .expect("evicting store");
    }
    let st = store.stats();
    assert_eq!(st.evictions, evictions, "a live item was evicted");
    // Evicting a segment reclaims every expired item in it: at least as many items as the
    // new ones took the memory of (less the room still free in the other stripe).
    assert!(
        st.reclaimed as usize >= fresh * 3 / 4,
        "{} reclaimed for {fresh} new items",
        st.reclaimed
    );
    assert_live_items_present(&store);
}
