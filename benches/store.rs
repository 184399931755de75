//! Store benchmarks: get hit/miss, set, set under eviction, and 1..N threads mixing gets and
//! sets on distinct and on shared keys. Run once in CI with `cargo bench --bench store -- --test`.

#![allow(missing_docs)] // criterion_group! generates undocumented functions.

use std::hint::black_box;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use larder::clock::Clock;
use larder::store::{SetMode, Store, StoreConfig};

const KEYS: usize = 10_000;

fn keys(prefix: &str, n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| format!("{prefix}:{i:08}").into_bytes())
        .collect()
}

fn store(memory_limit: usize) -> Store {
    Store::new(
        StoreConfig {
            memory_limit,
            ..StoreConfig::default()
        },
        Clock::system(),
    )
    .expect("valid config")
}

fn single_thread(c: &mut Criterion) {
    let s = store(64 << 20);
    let ks = keys("key", KEYS);
    let value = [b'v'; 100];
    for k in &ks {
        s.store(SetMode::Set, k, &value, 0, 0).unwrap();
    }
    let mut g = c.benchmark_group("store");
    g.throughput(Throughput::Elements(1));
    let mut i = 0;
    g.bench_function("get_hit_100B", |b| {
        b.iter(|| {
            i = (i + 1) % KEYS;
            black_box(s.get(&ks[i], |it| it.value_len()).ok())
        })
    });
    let missing = keys("missing", KEYS);
    g.bench_function("get_miss", |b| {
        b.iter(|| {
            i = (i + 1) % KEYS;
            black_box(s.get(&missing[i], |it| it.value_len()).is_err())
        })
    });
    g.bench_function("set_100B", |b| {
        b.iter(|| {
            i = (i + 1) % KEYS;
            black_box(s.store(SetMode::Set, &ks[i], &value, 0, 0).ok())
        })
    });
    // 4 MiB store, unbounded distinct keys: every set evicts once the store is warm.
    let small = store(4 << 20);
    let mut n = 0u64;
    let mut key = Vec::with_capacity(32);
    g.bench_function("set_100B_evicting", |b| {
        b.iter(|| {
            n += 1;
            key.clear();
            key.extend_from_slice(format!("ev:{n:012}").as_bytes());
            black_box(small.store(SetMode::Set, &key, &value, 0, 0).ok())
        })
    });
    // The same with a TTL on every item: the sweep also looks ahead for expired items.
    let small_ttl = store(4 << 20);
    let ttl = small_ttl.clock().expiry(3600);
    g.bench_function("set_100B_evicting_ttl", |b| {
        b.iter(|| {
            n += 1;
            key.clear();
            key.extend_from_slice(format!("ev:{n:012}").as_bytes());
            black_box(small_ttl.store(SetMode::Set, &key, &value, 0, ttl).ok())
        })
    });
    g.finish();
}

/// `threads` threads each do `iters` operations (90% get, 10% set) on their own keys
/// (`shared` false) or all on the same 16 keys (`shared` true).
fn mixed(s: &Arc<Store>, threads: usize, shared: bool, iters: u64) -> Duration {
    let per_thread: Vec<Vec<Vec<u8>>> = (0..threads)
        .map(|t| {
            if shared {
                keys("shared", 16)
            } else {
                keys(&format!("t{t}"), 1000)
            }
        })
        .collect();
    for ks in &per_thread {
        for k in ks {
            s.store(SetMode::Set, k, &[b'v'; 100], 0, 0).unwrap();
        }
    }
    let start = Instant::now();
    thread::scope(|scope| {
        for ks in &per_thread {
            let s = s.clone();
            scope.spawn(move || {
                let value = [b'w'; 100];
                let mut buf = Vec::with_capacity(128);
                for i in 0..iters as usize {
                    let k = &ks[i % ks.len()];
                    if i % 10 == 0 {
                        black_box(s.store(SetMode::Set, k, &value, 0, 0).ok());
                    } else {
                        buf.clear();
                        let _ = s.get(k, |it| {
                            for part in it.value() {
                                buf.extend_from_slice(part);
                            }
                        });
                        black_box(&buf);
                    }
                }
            });
        }
    });
    start.elapsed()
}

fn multi_thread(c: &mut Criterion) {
    let s = Arc::new(store(64 << 20));
    let max = thread::available_parallelism()
        .map_or(2, |n| n.get())
        .max(2);
    let mut g = c.benchmark_group("store_threads");
    for shared in [false, true] {
        let name = if shared {
            "shared_keys"
        } else {
            "distinct_keys"
        };
        let mut threads = 1;
        while threads <= max {
            // Throughput per operation summed over threads.
            g.throughput(Throughput::Elements(threads as u64));
            g.bench_with_input(BenchmarkId::new(name, threads), &threads, |b, &t| {
                b.iter_custom(|iters| mixed(&s, t, shared, iters))
            });
            threads *= 2;
        }
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(2)).warm_up_time(Duration::from_millis(500));
    targets = single_thread, multi_thread
}
criterion_main!(benches);
