//! What `hitsim` and `hitref` share: their matrix of cells (workload ×
//! sizes × `-m`). The streams are the load generator's (`benches/loadgen/stream.rs`, included
//! by both examples), built from the workload names of `scripts/bench.sh --hitratio`, so a
//! simulated cell sees exactly the keys and sizes the real server sees for the same seed.

use crate::args::arg;
use crate::stream::{generate, Sizes, Stream, Synthetic};

/// The synthetic workload `name` of `scripts/bench.sh --hitratio` (its `hr_workload_args`)
/// with value sizes `sizes` (`fixed`: 100 B; `mixed`: log-normal, median 300 B, σ 1).
fn synthetic(name: &str, sizes: &str, keys: u64, requests: u64, seed: u64) -> Synthetic {
    let (zipf, one_hit, scans, shift) = match name {
        "zipf99" => (0.99, 0.0, false, false),
        "zipf80" => (0.8, 0.0, false, false),
        "onehit" => (0.99, 0.3, false, false),
        "scan" => (0.99, 0.0, true, false),
        "shift" => (0.99, 0.0, false, true),
        _ => panic!("unknown workload {name} (zipf99 zipf80 onehit scan shift)"),
    };
    let sizes = match sizes {
        "fixed" => Sizes::Fixed(100),
        "mixed" => Sizes::parse("mixed").expect("`mixed` is a size distribution"),
        _ => panic!("unknown sizes {sizes} (fixed or mixed)"),
    };
    // 20 scans per run, each over 1% of the key space (cold half), in the request count.
    let (scan_every, scan_len) = if scans {
        (requests / 20, (keys / 100).max(1))
    } else {
        (0, 0)
    };
    Synthetic {
        keys,
        zipf,
        one_hit,
        scan_every,
        scan_len,
        shift_at: shift.then_some(0.5),
        sizes,
        ttl_frac: 0.0,
        ttl: 0,
        requests,
        seed,
    }
}

/// The cells to run and the streams' parameters.
pub struct Matrix {
    /// `-k`: keys of the zipfian key space.
    pub keys: u64,
    /// `-n`: requests per stream.
    pub requests: u64,
    /// `--seed`: seed of the streams.
    pub seed: u64,
    /// Memory limits in MB, space-separated.
    pub mems: String,
    /// Workload names, space-separated.
    pub workloads: String,
    /// `fixed` and/or `mixed`, space-separated.
    pub sizes: String,
}

/// One cell: its names, memory limit and request stream.
pub struct Cell<'a> {
    /// Memory limit in MB.
    pub mb: usize,
    /// The requests, in order.
    pub stream: &'a Stream,
}

impl Matrix {
    /// `-k`, `-n`, `--seed` and the cells `--mems` × `--workloads` × `--sizes` (every workload
    /// and size at 16 and 64 MB unless told otherwise).
    pub fn from_args() -> Matrix {
        Matrix {
            keys: arg("-k", "2000000").parse().unwrap(),
            requests: arg("-n", "2000000").parse().unwrap(),
            seed: arg("--seed", "1").parse().unwrap(),
            mems: arg("--mems", "16 64"),
            workloads: arg("--workloads", "zipf99 zipf80 onehit scan shift"),
            sizes: arg("--sizes", "fixed mixed"),
        }
    }

    /// Like [`Matrix::from_args`], but one cell: `-m`, `--workload`, `--sizes` (64 MB, zipf99,
    /// mixed unless told otherwise).
    pub fn one_cell_from_args() -> Matrix {
        Matrix {
            mems: arg("-m", "64"),
            workloads: arg("--workload", "zipf99"),
            sizes: arg("--sizes", "mixed"),
            ..Matrix::from_args()
        }
    }

    /// Runs `cell` on every cell (one stream per workload × sizes, shared by its memory
    /// limits). `cell` returns the cell's second-half miss ratio and the rest of its line,
    /// printed after the cell's name; with more than one cell the geometric mean of the miss
    /// ratios follows.
    pub fn run(&self, mut cell: impl FnMut(&Cell) -> (f64, String)) {
        let mut log_sum = 0.0;
        let mut cells = 0;
        for w in self.workloads.split_whitespace() {
            for s in self.sizes.split_whitespace() {
                let stream = generate(&synthetic(w, s, self.keys, self.requests, self.seed));
                for m in self.mems.split_whitespace() {
                    let mb: usize = m.parse().unwrap();
                    let (miss, line) = cell(&Cell {
                        mb,
                        stream: &stream,
                    });
                    println!("{w:<7} {s:<5} -m {mb:<4} {line}");
                    log_sum += miss.ln();
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
}
