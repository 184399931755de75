//! Memory follows the data: after a mixed-size cache-aside trace fills the cache, live items
//! (header + key + value, memcached's `bytes`) fill at least 80% of the limit, whatever the
//! number of stripes and the size mix (issue: pages stranded per stripe and size class held
//! a quarter of `-m 16`).

use larder::clock::Clock;
use larder::store::{SetMode, Store, StoreConfig};

/// A value size drawn from a log-normal around 300 bytes, 32 B..16 KiB, fixed per key.
fn size_of(key: u64) -> usize {
    let mut x = key.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x ^= x >> 29;
    x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^= x >> 32;
    let u1 = ((x >> 11) as f64 + 1.0) / (1u64 << 53) as f64;
    let u2 = (x & 0xFFFF) as f64 / 65536.0;
    let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
    ((300f64.ln() + 1.2 * z).exp() as usize).clamp(32, 16384)
}

fn fill(memory_limit: usize, stripes: usize, requests: u64) -> (f64, u64) {
    let store = Store::new(
        StoreConfig {
            memory_limit,
            stripes,
            ..StoreConfig::default()
        },
        Clock::manual(),
    )
    .expect("valid config");
    let value = vec![b'v'; 16384];
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    for _ in 0..requests {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        // Skewed keys: most requests go to few keys, many keys are seen once.
        let key = (x % 1000) * (x >> 40 & 0x3FF);
        let k = format!("key:{key}");
        if store.get(k.as_bytes(), |_| ()).is_err() {
            store
                .store(SetMode::Set, k.as_bytes(), &value[..size_of(key)], 0, 0)
                .expect("an evicting store always stores a value that fits");
        }
    }
    let st = store.stats();
    assert!(st.total_malloced as usize <= memory_limit);
    (st.bytes as f64 / memory_limit as f64, st.evictions)
}

#[test]
fn live_bytes_fill_most_of_a_small_cache_at_any_stripe_count() {
    for stripes in [1, 8, 32, 128] {
        let (ratio, evictions) = fill(8 << 20, stripes, 120_000);
        assert!(evictions > 0, "the trace must overflow the cache");
        println!(
            "-m 8, {stripes} stripes configured: bytes = {:.1}% of -m",
            ratio * 100.0
        );
        assert!(
            ratio >= 0.80,
            "{stripes} stripes: bytes {ratio:.3} of the limit"
        );
    }
}

#[test]
fn live_bytes_fill_most_of_a_larger_cache() {
    let (ratio, evictions) = fill(64 << 20, 64, 500_000);
    assert!(evictions > 0, "the trace must overflow the cache");
    println!("-m 64, 64 stripes: bytes = {:.1}% of -m", ratio * 100.0);
    assert!(ratio >= 0.80, "bytes {ratio:.3} of the limit");
}
