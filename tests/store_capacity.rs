//! Items held per 64 MiB until the first eviction, compared with memcached 1.6.18.
//!
//! memcached figures were measured by filling `memcached -m 64` over TCP with keys
//! "key:%08d" and values of 32, 100 and 1000 bytes, reading `curr_items` from `stats` when
//! `evictions` first became non-zero (see docs/STORE.md for the method).

use larder::clock::Clock;
use larder::store::{SetMode, Store, StoreConfig};

/// (value bytes, memcached 1.6.18 curr_items at first eviction with -m 64).
const MEMCACHED: [(usize, u64); 3] = [(32, 559_232), (100, 349_504), (1000, 56_640)];

/// (curr_items at the first eviction, curr_items after storing twice that many keys;
/// the second is skipped, to keep the suite fast, unless `fill_on`).
fn items_held(value_len: usize, fill_on: bool) -> (u64, u64) {
    let store = Store::new(StoreConfig::default(), Clock::manual()).expect("default config");
    let value = vec![b'x'; value_len];
    let mut i = 0u64;
    loop {
        for _ in 0..256 {
            let key = format!("key:{i:08}");
            store
                .store(SetMode::Set, key.as_bytes(), &value, 0, 0)
                .expect("evicting store never fails");
            i += 1;
        }
        let st = store.stats();
        if st.evictions > 0 {
            assert!(st.total_malloced <= 64 << 20);
            let first = st.curr_items;
            if !fill_on {
                return (first, first);
            }
            let more = i;
            for _ in 0..more {
                let key = format!("key:{i:08}");
                store
                    .store(SetMode::Set, key.as_bytes(), &value, 0, 0)
                    .expect("evicting store never fails");
                i += 1;
            }
            let st = store.stats();
            assert!(st.total_malloced <= 64 << 20);
            return (first, st.curr_items);
        }
    }
}

#[test]
fn items_held_per_64_mib_beat_memcached() {
    for (value_len, memcached) in MEMCACHED {
        let (first, full) = items_held(value_len, value_len != 32);
        let r_first = first as f64 / memcached as f64;
        let r_full = full as f64 / memcached as f64;
        println!(
            "value {value_len:>4} B: memcached {memcached}; larder {first} at first eviction \
             ({r_first:.3}x), {full} when full ({r_full:.3}x)"
        );
        // At the first eviction each stripe still has part of its last page free (about
        // stripes * chunks_per_page / 2 items); once full, every page is used.
        // 100 B: 1.45x since records carry no flags or exptime field for 0 (1.37x with both).
        let want = if value_len == 100 { 1.42 } else { 1.0 };
        assert!(r_full >= want, "value {value_len}: {r_full:.3}x < {want}x");
        assert!(r_first >= want - 0.02, "value {value_len}: {r_first:.3}x");
    }
}
