//! In-process hit-ratio simulation of the store (no sockets): a cache-aside trace (get, set
//! on a miss) with Zipf-distributed keys and per-key value sizes. For tuning the eviction
//! policy quickly; the side-by-side comparison with memcached is `scripts/bench.sh --hitratio`.
//!
//! `cargo run --release --example hitsim -- [-m MB] [-a ALPHA] [-k KEYS] [-n REQUESTS]
//!  [--sizes fixed|mixed] [--onehit FRACTION] [--policy s3fifo|lru|lfu] [--stripes N]`

use larder::clock::Clock;
use larder::store::{Eviction, SetMode, Store, StoreConfig};

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn mix(mut x: u64) -> u64 {
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51afd7ed558ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ceb9fe1a85ec53);
    x ^ (x >> 33)
}

fn size_of(key: u64, mixed: bool) -> usize {
    if !mixed {
        return 100;
    }
    let h = mix(key);
    let u1 = ((h >> 11) as f64 + 1.0) / (1u64 << 53) as f64;
    let u2 = (mix(h) >> 11) as f64 / (1u64 << 53) as f64;
    let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
    ((300f64.ln() + 1.2 * z).exp() as usize).clamp(32, 16384)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let get = |name: &str, default: &str| -> String {
        args.iter()
            .position(|a| a == name)
            .map(|i| args[i + 1].clone())
            .unwrap_or_else(|| default.to_string())
    };
    let mb: usize = get("-m", "64").parse().unwrap();
    let alpha: f64 = get("-a", "0.99").parse().unwrap();
    let keys: usize = get("-k", "2000000").parse().unwrap();
    let requests: usize = get("-n", "4000000").parse().unwrap();
    let mixed = get("--sizes", "mixed") == "mixed";
    let onehit: f64 = get("--onehit", "0").parse().unwrap();
    let policy: Eviction = get("--policy", "s3fifo").parse().unwrap();
    let stripes: usize = get("--stripes", "32").parse().unwrap();
    let shift = args.iter().any(|a| a == "--shift");

    let mut cdf = Vec::with_capacity(keys);
    let mut acc = 0.0;
    for r in 1..=keys {
        acc += 1.0 / (r as f64).powf(alpha);
        cdf.push(acc);
    }
    let store = Store::new(
        StoreConfig {
            memory_limit: mb << 20,
            stripes,
            eviction: policy,
            ..StoreConfig::default()
        },
        Clock::manual(),
    )
    .unwrap();
    let clock = store.clock().clone();
    let mut rng = Rng(0x1234_5678_9abc_def1);
    let (mut hits, mut gets) = (0u64, 0u64);
    let value = vec![b'v'; 16384];
    let mut fresh = 1u64 << 40;
    for i in 0..requests {
        if i % 20000 == 0 {
            clock.advance(1);
            store.maintain();
        }
        let key = if onehit > 0.0 && rng.unit() < onehit {
            fresh += 1;
            fresh
        } else {
            let u = rng.unit() * acc;
            let rank = cdf.partition_point(|&c| c < u) as u64;
            if shift && i >= requests / 2 {
                mix(rank ^ 0xabcdef) % keys as u64
            } else {
                rank
            }
        };
        let k = format!("key:{key}");
        let hit = store.get(k.as_bytes(), |_| ()).is_ok();
        if i >= requests / 2 {
            gets += 1;
            hits += u64::from(hit);
        }
        if !hit {
            let _ = store.store(
                SetMode::Set,
                k.as_bytes(),
                &value[..size_of(key, mixed)],
                0,
                0,
            );
        }
    }
    let st = store.stats();
    println!(
        "m={mb} alpha={alpha} sizes={} onehit={onehit} shift={shift} policy={policy} stripes={}: hit {:.4} items {} bytes {:.1}% of -m, pages {} small {} main {} evictions {}",
        if mixed { "mixed" } else { "100" },
        store.config().stripes,
        hits as f64 / gets as f64,
        st.curr_items,
        st.bytes as f64 * 100.0 / (mb << 20) as f64,
        st.total_pages,
        st.small_segments,
        st.main_segments,
        st.evictions
    );
}
