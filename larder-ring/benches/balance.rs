//! Balance and movement of every distribution, printed as the README's table: for N nodes
//! of weight 1, the busiest node's exact share of the hash space times N (`Ring::share`),
//! the busiest node's share of the keys relative to the mean (max/mean, which adds the
//! sampling noise of the key set), the quietest's (min/mean), the keys that move when an (N+1)th node is added (and whether
//! any moved between old nodes), the keys that move when node 0 is ejected, and the time
//! to route one key.
//!
//! `cargo bench -p larder-ring --bench balance` (1,000,000 keys);
//! `-- --test` runs a quick pass (50,000 keys) as `scripts/test.sh` does.

// harness = false: a plain main.
#![allow(missing_docs)]

use std::hint::black_box;
use std::time::Instant;

use larder_ring::{Distribution, Hash, NodeSpec, Ring, RingConfig, SpyFormat};

fn nodes(n: usize) -> Vec<NodeSpec> {
    (0..n)
        .map(|i| NodeSpec::tcp(format!("10.{}.{}.1", i / 250, i % 250), 11211))
        .collect()
}

struct Row {
    exact: f64,
    max: f64,
    min: f64,
    added: f64,
    stray_on_add: usize,
    ejected: f64,
    stray_on_eject: usize,
    ns_per_key: f64,
}

fn measure(config: &RingConfig, n: usize, keys: &[String]) -> Row {
    let before = Ring::new(config, &nodes(n));
    let grown = Ring::new(config, &nodes(n + 1));
    let ejected = Ring::with_liveness(config, &nodes(n), |i| i != 0);
    let mut counts = vec![0usize; n];
    let (mut added, mut stray_on_add, mut moved_eject, mut stray_on_eject) = (0, 0, 0, 0);
    for k in keys {
        let k = k.as_bytes();
        let home = before.route(k).unwrap();
        counts[home] += 1;
        let g = grown.route(k).unwrap();
        if g != home {
            added += 1;
            stray_on_add += usize::from(g != n);
        }
        let e = ejected.route(k).unwrap();
        if e != home {
            moved_eject += 1;
            stray_on_eject += usize::from(home != 0);
        }
    }
    let mean = keys.len() as f64 / n as f64;
    let start = Instant::now();
    let mut sum = 0;
    for k in keys {
        sum += before.route(black_box(k.as_bytes())).unwrap();
    }
    black_box(sum);
    Row {
        exact: (0..n).map(|i| before.share(i)).fold(0.0, f64::max) * n as f64,
        max: *counts.iter().max().unwrap() as f64 / mean,
        min: *counts.iter().min().unwrap() as f64 / mean,
        added: added as f64 / keys.len() as f64,
        stray_on_add,
        ejected: moved_eject as f64 / keys.len() as f64,
        stray_on_eject,
        ns_per_key: start.elapsed().as_nanos() as f64 / keys.len() as f64,
    }
}

fn main() {
    let quick = std::env::args().any(|a| a == "--test");
    let count = if quick { 50_000 } else { 1_000_000 };
    let keys: Vec<String> = (0..count).map(|i| format!("user:{i}:profile")).collect();
    let rows = [
        (
            "ketama weighted (libmemcached, twemproxy)",
            Distribution::Ketama,
            true,
        ),
        (
            "ketama unweighted (libmemcached)",
            Distribution::Ketama,
            false,
        ),
        (
            "spymemcached KetamaNodeLocator",
            Distribution::Spymemcached(SpyFormat::Spymemcached),
            false,
        ),
        ("modula", Distribution::Modula, false),
        ("jump (larder-ring only)", Distribution::Jump, false),
        (
            "rendezvous (larder-ring only)",
            Distribution::Rendezvous,
            false,
        ),
    ];
    println!("{count} keys `user:<i>:profile`, MD5 key hash, nodes of weight 1\n");
    println!("| distribution | N | busiest node's share × N | max/mean | min/mean | moved on add (ideal 1/(N+1)) | between old nodes | moved on eject (ideal 1/N) | of live nodes | ns/key |");
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for n in [10usize, 100] {
        for (label, distribution, weighted) in rows {
            let config = RingConfig::new(distribution, weighted, Hash::Md5);
            let r = measure(&config, n, &keys);
            println!(
                "| {label} | {n} | {:.3} | {:.3} | {:.3} | {:.2}% ({:.2}%) | {} | {:.2}% ({:.2}%) | {} | {:.0} |",
                r.exact,
                r.max,
                r.min,
                r.added * 100.0,
                100.0 / (n + 1) as f64,
                r.stray_on_add,
                r.ejected * 100.0,
                100.0 / n as f64,
                r.stray_on_eject,
                r.ns_per_key
            );
        }
    }
}
