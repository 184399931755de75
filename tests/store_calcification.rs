//! No slab calcification: after the size mix shifts (100-byte values, then 10 KB values),
//! pages move to the class that needs them and the hit ratio of the new workload recovers
//! to what a fresh cache of the same size gets.

use larder::clock::Clock;
use larder::store::{SetMode, Store, StoreConfig};

/// Requests per simulated second (the manual clock advances by 1 s every this many ops).
const OPS_PER_SEC: usize = 200;

fn config() -> StoreConfig {
    StoreConfig {
        memory_limit: 4 << 20,
        stripes: 2,
        ..StoreConfig::default()
    }
}

/// xorshift64*: a deterministic key stream.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

struct Sim {
    store: Store,
    clock: Clock,
    ops: usize,
}

impl Sim {
    fn new() -> Sim {
        let clock = Clock::manual();
        let store = Store::new(config(), clock.clone()).expect("valid config");
        Sim {
            store,
            clock,
            ops: 0,
        }
    }

    fn tick(&mut self) {
        self.ops += 1;
        if self.ops % OPS_PER_SEC == 0 {
            self.clock.advance(1);
        }
    }

    /// Phase 1: fill the cache with 100-byte values, well past its capacity.
    fn fill_small(&mut self, n: usize) {
        let v = [b's'; 100];
        for i in 0..n {
            self.store
                .store(SetMode::Set, format!("small:{i:08}").as_bytes(), &v, 0, 0)
                .expect("evicting store");
            self.tick();
        }
    }

    /// Read-through workload of 10 KB values over `keys` keys; returns the hit ratio over the
    /// second half of `requests`.
    fn big_workload(&mut self, keys: u64, requests: usize) -> f64 {
        let v = vec![b'B'; 10_000];
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let mut hits = 0usize;
        for r in 0..requests {
            let key = format!("big:{:06}", rng.next() % keys);
            let hit = self.store.get(key.as_bytes(), |it| it.value_len()).is_ok();
            if !hit {
                self.store
                    .store(SetMode::Set, key.as_bytes(), &v, 0, 0)
                    .expect("evicting store");
            }
            if r >= requests / 2 && hit {
                hits += 1;
            }
            self.tick();
        }
        hits as f64 / (requests - requests / 2) as f64
    }
}

#[test]
fn hit_ratio_recovers_after_the_size_mix_shifts() {
    // 4 MiB = 64 pages of 64 KiB; a 10 KB item takes a 10214-byte chunk, 6 per page, so the
    // whole cache holds at most 384 of them. The working set is 480 keys.
    let (keys, requests) = (480, 16_000);

    let mut fresh = Sim::new();
    let fresh_ratio = fresh.big_workload(keys, requests);

    let mut shifted = Sim::new();
    shifted.fill_small(40_000);
    let before = shifted.store.stats();
    assert!(
        before.classes.iter().all(|c| c.chunk_size < 1000),
        "phase 1 put every page in small classes"
    );
    let shifted_ratio = shifted.big_workload(keys, requests);
    let after = shifted.store.stats();

    println!(
        "fresh hit ratio {fresh_ratio:.3}, after shift {shifted_ratio:.3}, pages moved {}",
        after.slabs_moved
    );
    assert!(fresh_ratio > 0.6, "the reference workload fits mostly");
    assert!(
        shifted_ratio >= fresh_ratio - 0.05,
        "calcified: {shifted_ratio:.3} vs fresh {fresh_ratio:.3}"
    );
    let big_pages: u64 = after
        .classes
        .iter()
        .filter(|c| c.chunk_size > 10_000)
        .map(|c| c.total_pages)
        .sum();
    // Memory is not divided by size class (segments hold any size); a class reports the
    // segments its items fill. At least 7/8 of memory now holds the new size.
    assert!(big_pages >= 56, "memory followed the new size: {big_pages}");
    assert!(after.total_pages <= 64);
}
