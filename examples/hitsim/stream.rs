//! The request streams of the load generator's hit-ratio mode (`benches/loadgen/cacheaside.rs`),
//! rebuilt in-process for the simulators: the same Zipf sampler and seed, the same rank → key
//! permutation, one-hit keys, scans over the cold half, the popularity shift and log-normal
//! sizes, so a simulated cell sees exactly the keys and sizes the real server sees.

#[allow(dead_code)]
#[path = "../../benches/loadgen/workload.rs"]
mod workload;

use workload::{Rng, Zipf};

fn mix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// The load generator's seeded bijection rank → key id over `0..n` (`x * a + b mod n`).
fn perm(n: u64, seed: u64) -> impl Fn(u64) -> u64 {
    let mut a = (mix64(seed ^ 0xa11e) % n) | 1;
    while gcd(a, n) != 1 {
        a = (a + 2) % n.max(2);
        if a == 0 {
            a = 1;
        }
    }
    let b = mix64(seed ^ 0xb0b) % n;
    move |x| ((u128::from(x % n) * u128::from(a) + u128::from(b)) % u128::from(n)) as u64
}

/// The value size of key `id`: 100 B, or log-normal (median 300 B, σ 1, 32 B..16 KiB).
pub fn size_of(id: u64, mixed: bool, seed: u64) -> usize {
    if !mixed {
        return 100;
    }
    let h = mix64(id ^ mix64(seed ^ 0x5151));
    let u1 = ((h >> 32) as f64 + 1.0) / 4_294_967_296.0;
    let u2 = (h & 0xffff_ffff) as f64 / 4_294_967_296.0;
    let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
    (300.0 * z.exp()).round().clamp(32.0, 16384.0) as usize
}

/// One cell's trace.
pub struct Workload {
    alpha: f64,
    onehit: f64,
    scans: bool,
    shift: bool,
}

impl Workload {
    pub fn named(name: &str) -> Workload {
        let (alpha, onehit, scans, shift) = match name {
            "zipf99" => (0.99, 0.0, false, false),
            "zipf80" => (0.8, 0.0, false, false),
            "onehit" => (0.99, 0.3, false, false),
            "scan" => (0.99, 0.0, true, false),
            "shift" => (0.99, 0.0, false, true),
            _ => panic!("unknown workload {name} (zipf99 zipf80 onehit scan shift)"),
        };
        Workload {
            alpha,
            onehit,
            scans,
            shift,
        }
    }

    /// The key ids of the stream, as the load generator makes them (one-hit keys above
    /// `1 << 62`).
    pub fn stream(&self, keys: u64, requests: u64, seed: u64) -> Vec<u64> {
        let zipf = Zipf::new(keys, self.alpha);
        let mut rng = Rng::new(seed);
        let (scan_every, scan_len) = if self.scans {
            (requests / 20, (keys / 100).max(1))
        } else {
            (0, 0)
        };
        let cold = keys / 2;
        let (mut since_scan, mut scans, mut one_hits) = (0u64, 0u64, 0u64);
        let mut out = Vec::with_capacity(requests as usize);
        // Keys are ranks permuted into ids, so ids say nothing about popularity.
        let id = perm(keys, seed);
        while (out.len() as u64) < requests {
            let rotate = if self.shift && out.len() as u64 >= requests / 2 {
                keys / 2
            } else {
                0
            };
            if scan_every > 0 && since_scan >= scan_every {
                since_scan = 0;
                let span = (keys - cold).max(1);
                let start = cold + (scans * scan_len) % span;
                scans += 1;
                for j in 0..scan_len {
                    let rank = cold + (start - cold + j) % span;
                    out.push(id(rank + rotate));
                }
                continue;
            }
            since_scan += 1;
            if self.onehit > 0.0 && rng.next_f64() < self.onehit {
                out.push(1 << 62 | one_hits);
                one_hits += 1;
                continue;
            }
            let rank = zipf.sample(&mut rng) - 1;
            out.push(id(rank + rotate));
        }
        out.truncate(requests as usize);
        out
    }
}
