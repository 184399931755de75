//! Benchmarks: `Ring::route` for 10, 100 and 1000 nodes (one MD5 + one binary search per
//! key, no allocation), and a 100-key `get_multi` over 5 live server processes (skipped
//! with a message when the server binary is absent).

// criterion_group! generates an undocumented `pub fn benches`.
#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use larder_ring::{Client, ClientConfig, Hash, NodeSpec, Ring, RingConfig};

#[path = "../tests/common/mod.rs"]
mod common;

fn keys(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("bench:user:{i}:session")).collect()
}

fn route(c: &mut Criterion) {
    let keys = keys(4096);
    let mut group = c.benchmark_group("route");
    group.throughput(Throughput::Elements(1));
    for (hash, nodes) in [
        (Hash::Md5, 10u16),
        (Hash::Md5, 100),
        (Hash::Md5, 1000),
        (Hash::Fnv1a_64, 100),
    ] {
        let specs: Vec<NodeSpec> = (0..nodes)
            .map(|i| NodeSpec::tcp(format!("10.{}.{}.1", i / 250, i % 250), 11211))
            .collect();
        let config = RingConfig {
            hash,
            ..RingConfig::default()
        };
        let ring = Ring::new(&config, &specs);
        let id = BenchmarkId::new(hash.name(), nodes);
        group.bench_with_input(id, &ring, |b, ring| {
            let mut i = 0;
            b.iter(|| {
                i = (i + 1) & 4095;
                black_box(ring.route(black_box(keys[i].as_bytes())))
            })
        });
    }
    group.finish();
}

fn get_multi(c: &mut Criterion) {
    let Some(servers) = common::cluster(5) else {
        eprintln!("get_multi bench skipped: no server binary");
        return;
    };
    let specs: Vec<String> = servers.iter().map(common::Server::spec).collect();
    let client = Client::from_specs(&specs, ClientConfig::default()).expect("client");
    let keys = keys(100);
    for k in &keys {
        client.set(k, [b'v'; 100], 0, 0).expect("set");
    }
    let mut group = c.benchmark_group("get_multi");
    group.throughput(Throughput::Elements(keys.len() as u64));
    group.bench_function("100_keys_5_nodes", |b| {
        b.iter(|| {
            let m = client.get_multi(&keys).expect("get_multi");
            assert_eq!(m.items.len(), 100);
            m
        })
    });
    group.bench_function("get_1_key", |b| {
        b.iter(|| client.get(&keys[0]).expect("get"))
    });
    group.finish();
    drop(servers);
}

criterion_group!(benches, route, get_multi);
criterion_main!(benches);
