//! Parser throughput: the text requests that dominate real traffic.
//!
//! `cargo bench --bench parse` (CI runs it once with `-- --test`).

// criterion_group!/criterion_main! generate undocumented items.
#![allow(missing_docs)]

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use larder::protocol::text::{parse, Request};
use larder::protocol::{Limits, Parsed};

fn consumed(buf: &[u8], limits: &Limits) -> usize {
    match parse(buf, limits) {
        Parsed::Complete(Request::Get { keys, .. }, n) => n + keys.count(),
        Parsed::Complete(_, n) => n,
        other => panic!("bench input must parse: {other:?}"),
    }
}

fn text(c: &mut Criterion) {
    let limits = Limits::default();
    let mut group = c.benchmark_group("text");

    let get = b"get user:12345:profile\r\n".to_vec();
    group.throughput(Throughput::Bytes(get.len() as u64));
    group.bench_function("get", |b| b.iter(|| consumed(black_box(&get), &limits)));

    let mut set = b"set user:12345:profile 0 3600 100\r\n".to_vec();
    set.extend_from_slice(&[b'v'; 100]);
    set.extend_from_slice(b"\r\n");
    group.throughput(Throughput::Bytes(set.len() as u64));
    group.bench_function("set_100B", |b| {
        b.iter(|| consumed(black_box(&set), &limits))
    });

    let mut multiget = b"get".to_vec();
    for i in 0..100 {
        multiget.extend_from_slice(format!(" user:{i:05}:profile").as_bytes());
    }
    multiget.extend_from_slice(b"\r\n");
    group.throughput(Throughput::Bytes(multiget.len() as u64));
    group.bench_function("multiget_100", |b| {
        b.iter(|| consumed(black_box(&multiget), &limits))
    });

    let mg = b"mg user:12345:profile v c f t k O123\r\n".to_vec();
    group.throughput(Throughput::Bytes(mg.len() as u64));
    group.bench_function("meta_mg", |b| b.iter(|| consumed(black_box(&mg), &limits)));

    let mut ms = b"ms user:12345:profile 100 T3600 F5 c\r\n".to_vec();
    ms.extend_from_slice(&[b'v'; 100]);
    ms.extend_from_slice(b"\r\n");
    group.throughput(Throughput::Bytes(ms.len() as u64));
    group.bench_function("meta_ms_100B", |b| {
        b.iter(|| consumed(black_box(&ms), &limits))
    });
    group.finish();
}

criterion_group!(benches, text);
criterion_main!(benches);
