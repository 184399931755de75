//! In-process hit-ratio simulation of the store (no sockets): a cache-aside trace (get, set
//! on a miss) for tuning the eviction policy quickly. The request streams are the load
//! generator's (`stream.rs`: same keys, sizes and order for the same seed), so a cell's
//! second-half miss ratio and cold-miss floor come out within about 1% of what
//! `scripts/bench.sh --hitratio` measures on the real server (docs/STORE.md); that script
//! remains the side-by-side comparison with memcached. One `--stripes 8` run is `-t 1`'s store.
//!
//! `cargo run --release --example hitsim -- [-m MB] [-k KEYS] [-n REQUESTS]
//!  [--workload zipf99|zipf80|onehit|scan|shift] [--sizes fixed|mixed] [--policy s3fifo|lru|lfu]
//!  [--stripes N] [--page-kb KB] [--seed S]`
//!
//! `--matrix` runs every workload × size at `--mems "16 64"` instead (one line per cell) and
//! prints the geometric mean of the second-half miss ratios, to compare two builds.

mod stream;

use larder::clock::Clock;
use larder::store::{Eviction, SetMode, Store, StoreConfig};
use std::io::Write;
use stream::{size_of, Workload};

/// Result of one cell: second-half miss ratio, its cold-miss floor, and the store's state.
struct Cell {
    miss: f64,
    floor: f64,
    line: String,
}

fn run(
    mb: usize,
    stream: &[u64],
    mixed: bool,
    policy: Eviction,
    stripes: usize,
    page_kb: usize,
    seed: u64,
) -> Cell {
    let store = Store::new(
        StoreConfig {
            memory_limit: mb << 20,
            stripes,
            eviction: policy,
            page_size: page_kb << 10,
            ..StoreConfig::default()
        },
        Clock::manual(),
    )
    .unwrap();
    let clock = store.clock().clone();
    let value = vec![b'v'; 16384];
    let mut seen = std::collections::HashSet::new();
    let (mut misses, mut cold, mut gets) = (0u64, 0u64, 0u64);
    let half = stream.len() / 2;
    let mut k = Vec::with_capacity(32);
    for (i, &key) in stream.iter().enumerate() {
        if i % 20000 == 0 {
            clock.advance(1);
            store.maintain();
        }
        k.clear();
        write!(k, "key:{key}").unwrap();
        let hit = store.get(&k, |_| ()).is_ok();
        let first = seen.insert(key);
        if i >= half {
            gets += 1;
            misses += u64::from(!hit);
            cold += u64::from(first);
        }
        if !hit {
            let _ = store.store(SetMode::Set, &k, &value[..size_of(key, mixed, seed)], 0, 0);
        }
    }
    let st = store.stats();
    Cell {
        miss: misses as f64 / gets as f64,
        floor: cold as f64 / gets as f64,
        line: format!(
            "items {} bytes {:.1}% of -m, small {} main {} evictions {} stripes {}",
            st.curr_items,
            st.bytes as f64 * 100.0 / (mb << 20) as f64,
            st.small_segments,
            st.main_segments,
            st.evictions,
            store.config().stripes,
        ),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let get = |name: &str, default: &str| -> String {
        args.iter()
            .position(|a| a == name)
            .map(|i| args[i + 1].clone())
            .unwrap_or_else(|| default.to_string())
    };
    let keys: u64 = get("-k", "2000000").parse().unwrap();
    let requests: u64 = get("-n", "2000000").parse().unwrap();
    let policy: Eviction = get("--policy", "s3fifo").parse().unwrap();
    let stripes: usize = get("--stripes", "8").parse().unwrap();
    let seed: u64 = get("--seed", "1").parse().unwrap();
    let page_kb: usize = get("--page-kb", "64").parse().unwrap();
    let matrix = args.iter().any(|a| a == "--matrix");
    let (mems, workloads, sizes) = if matrix {
        (
            get("--mems", "16 64"),
            get("--workloads", "zipf99 zipf80 onehit scan shift"),
            get("--sizes", "fixed mixed"),
        )
    } else {
        (
            get("-m", "64"),
            get("--workload", "zipf99"),
            get("--sizes", "mixed"),
        )
    };
    let mut log_sum = 0.0;
    let mut cells = 0;
    for w in workloads.split_whitespace() {
        let stream = Workload::named(w).stream(keys, requests, seed);
        for s in sizes.split_whitespace() {
            let mixed = match s {
                "mixed" => true,
                "fixed" => false,
                _ => panic!("unknown sizes {s} (fixed or mixed)"),
            };
            for m in mems.split_whitespace() {
                let mb: usize = m.parse().unwrap();
                let c = run(mb, &stream, mixed, policy, stripes, page_kb, seed);
                println!(
                    "{w:<7} {s:<5} -m {mb:<4} {policy}: miss {:.4} (floor {:.4}) {}",
                    c.miss, c.floor, c.line
                );
                log_sum += c.miss.ln();
                cells += 1;
            }
        }
    }
    if cells > 1 {
        println!(
            "geometric mean of second-half miss ratios over {cells} cells: {:.4}",
            (log_sum / cells as f64).exp()
        );
    }
}
