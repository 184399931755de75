//! Worst single-insert latency of the store as one stripe's index grows, in process (no
//! sockets): one stripe, `--items` distinct keys stored one after another, each insert
//! timed. An index that rehashes itself whole when it grows shows a spike that grows with
//! the item count (the stripe lock is held meanwhile, so every request on that stripe
//! waits); a bounded one does not.
//!
//! `cargo run --release --example index_growth -- --items 4000000` prints the latency
//! percentiles, the worst inserts and when they happened (docs/STORE.md, "Index growth"),
//! then how long `stats`, `stats sizes` and `flush_all` take at that size.

#[allow(dead_code)] // `flag` is not used here
#[path = "common/args.rs"]
mod args;

use std::time::Instant;

use args::arg;
use larder::clock::Clock;
use larder::store::{SetMode, Store, StoreConfig};

fn main() {
    let items: usize = arg("--items", "4000000").parse().expect("--items N");
    let stripes: usize = arg("--stripes", "1").parse().expect("--stripes N");
    let config = StoreConfig {
        memory_limit: 1 << 30,
        stripes,
        ..StoreConfig::default()
    };
    let store = Store::new(config, Clock::manual()).expect("config");
    let value = [b'v'; 8];
    let mut lat = Vec::with_capacity(items);
    let mut key = Vec::with_capacity(32);
    for i in 0..items {
        key.clear();
        key.extend_from_slice(format!("key:{i:010}").as_bytes());
        let t = Instant::now();
        store
            .store(SetMode::Set, &key, &value, 0, 0)
            .expect("store fits");
        lat.push(t.elapsed().as_nanos() as u64);
    }
    let st = store.stats();
    let mut worst: Vec<(u64, usize)> = lat.iter().copied().zip(0..).collect();
    worst.sort_unstable_by(|a, b| b.cmp(a));
    let mut sorted = lat.clone();
    sorted.sort_unstable();
    let pct = |p: f64| sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)];
    println!(
        "items {} stripes {} curr_items {} evictions {}",
        items, stripes, st.curr_items, st.evictions
    );
    println!(
        "insert ns: p50 {} p99 {} p99.9 {} p99.99 {} max {}",
        pct(0.5),
        pct(0.99),
        pct(0.999),
        pct(0.9999),
        sorted[sorted.len() - 1]
    );
    let over = |ns: u64| lat.iter().filter(|&&l| l > ns).count();
    println!(
        "inserts over 100 us: {}, over 1 ms: {}, over 10 ms: {}",
        over(100_000),
        over(1_000_000),
        over(10_000_000)
    );
    print!("worst 8 (ns @ item#):");
    for (ns, at) in worst.iter().take(8) {
        print!(" {ns}@{at}");
    }
    println!();
    // Resident memory: segments (the same for any index) plus the index.
    let rss_kb = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .unwrap_or(0);
    println!(
        "VmRSS {} MiB, {:.1} bytes per item",
        rss_kb / 1024,
        rss_kb as f64 * 1024.0 / items as f64
    );
    // Whole-store operations at this size (each takes the stripe lock once or, for the
    // histogram, once per index sub-table).
    let t = Instant::now();
    let _ = store.stats();
    let stats_ns = t.elapsed().as_nanos();
    let t = Instant::now();
    let _ = store.size_histogram();
    let hist_ns = t.elapsed().as_nanos();
    // flush_all while another thread reads the same stripe: its worst wait during the
    // flush, against its worst in as long a window just before (scheduling noise), is how
    // long the flush held the stripe lock.
    let phase = std::sync::atomic::AtomicU8::new(0);
    let (flush_ns, worst_idle_ns, worst_read_ns) = std::thread::scope(|sc| {
        let reader = sc.spawn(|| {
            let mut worst = [0u128; 2];
            loop {
                let p = phase.load(std::sync::atomic::Ordering::Relaxed);
                if p == 2 {
                    return worst;
                }
                let t = Instant::now();
                let _ = store.get(b"key:1", |_| ());
                let ns = t.elapsed().as_nanos();
                worst[p as usize] = worst[p as usize].max(ns);
            }
        });
        std::thread::sleep(std::time::Duration::from_millis(100));
        phase.store(1, std::sync::atomic::Ordering::Relaxed);
        let t = Instant::now();
        store.flush_all(0);
        let flush_ns = t.elapsed().as_nanos();
        std::thread::sleep(std::time::Duration::from_millis(
            100u64.saturating_sub(u64::try_from(flush_ns / 1_000_000).unwrap_or(100)),
        ));
        phase.store(2, std::sync::atomic::Ordering::Relaxed);
        let [idle, during] = reader.join().expect("reader");
        (flush_ns, idle, during)
    });
    println!(
        "stats {stats_ns} ns, stats sizes {hist_ns} ns (total), flush_all {flush_ns} ns; \
         worst read on the stripe: {worst_read_ns} ns during the flush's 100 ms, \
         {worst_idle_ns} ns in the 100 ms before"
    );
}
