//! In-process hit-ratio simulation of the store (no sockets): a cache-aside trace (get, set
//! on a miss) for tuning the eviction policy quickly. The request streams are the load
//! generator's (`benches/loadgen/stream.rs`, included here: same keys, sizes and order for the
//! same seed; `matrix.rs` names the workloads as `scripts/bench.sh` does), so a cell's
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

#[path = "../common/args.rs"]
mod args;
mod matrix;
#[allow(dead_code)]
#[path = "../../benches/loadgen/stream.rs"]
mod stream;
#[allow(dead_code)]
#[path = "../../benches/loadgen/workload.rs"]
mod workload;

use args::{arg, flag};
use larder::clock::Clock;
use larder::store::{Eviction, SetMode, Store, StoreConfig};
use matrix::Matrix;
use std::io::Write;
use stream::Stream;

/// Result of one cell: second-half miss ratio, its cold-miss floor, and the store's state.
struct Cell {
    miss: f64,
    floor: f64,
    line: String,
}

fn run(mb: usize, stream: &Stream, policy: Eviction, stripes: usize, page_kb: usize) -> Cell {
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
    let (mut misses, mut gets) = (0u64, 0u64);
    let half = stream.reqs.len() / 2;
    let mut k = Vec::with_capacity(32);
    for (i, r) in stream.reqs.iter().enumerate() {
        if i % 20000 == 0 {
            clock.advance(1);
            store.maintain();
        }
        k.clear();
        write!(k, "key:{}", r.key).unwrap();
        let hit = store.get(&k, |_| ()).is_ok();
        if i >= half {
            gets += 1;
            misses += u64::from(!hit);
        }
        if !hit {
            let _ = store.store(SetMode::Set, &k, &value[..r.size as usize], 0, 0);
        }
    }
    let st = store.stats();
    Cell {
        miss: misses as f64 / gets as f64,
        floor: stream.cold_second_half() as f64 / gets as f64,
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
    let policy: Eviction = arg("--policy", "s3fifo").parse().unwrap();
    let stripes: usize = arg("--stripes", "8").parse().unwrap();
    let page_kb: usize = arg("--page-kb", "64").parse().unwrap();
    let cells = if flag("--matrix") {
        Matrix::from_args()
    } else {
        Matrix::one_cell_from_args()
    };
    cells.run(|cell| {
        let c = run(cell.mb, cell.stream, policy, stripes, page_kb);
        let line = format!(
            "{policy}: miss {:.4} (floor {:.4}) {}",
            c.miss, c.floor, c.line
        );
        (c.miss, line)
    });
}
