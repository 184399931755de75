//! Memory ceiling: filling far past the limit with mixed sizes never hands out more pages
//! than the limit allows, and the process RSS grows by at most the limit plus a fixed,
//! documented overhead (docs/STORE.md: the index, ~12 bytes per item, and allocator slack).
//! One test per binary so that nothing else moves the RSS.

use larder::clock::Clock;
use larder::store::{SetMode, Store, StoreConfig};

const LIMIT: usize = 32 << 20;
/// Allowed RSS beyond the item memory limit: index + allocator slack + test harness.
const OVERHEAD: usize = 8 << 20;

fn vm_rss() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").expect("procfs");
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .expect("VmRSS line");
    let kb: usize = line
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .expect("VmRSS in kB");
    kb * 1024
}

#[test]
fn pages_and_rss_stay_within_the_limit() {
    let base = vm_rss();
    let clock = Clock::manual();
    let store = Store::new(
        StoreConfig {
            memory_limit: LIMIT,
            stripes: 4,
            item_size_max: 1 << 20,
            ..StoreConfig::default()
        },
        clock.clone(),
    )
    .expect("valid config");
    let sizes = [0usize, 10, 100, 300, 1000, 4000, 20_000, 70_000, 300_000];
    let big = vec![b'v'; 300_000];
    let mut written = 0usize;
    let mut seed = 0x1234_5678u64;
    let mut i = 0u64;
    let mut peak_items = 0;
    while written < 8 * LIMIT {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let len = sizes[(seed % sizes.len() as u64) as usize];
        let key = format!("key:{i:010}");
        store
            .store(SetMode::Set, key.as_bytes(), &big[..len], 0, 0)
            .expect("evicting store with small items never fails");
        written += len + key.len();
        i += 1;
        if i % 1000 == 0 {
            let st = store.stats();
            assert!(st.total_malloced as usize <= LIMIT);
            peak_items = peak_items.max(st.curr_items);
        }
    }
    // Then many small items: the index grows to hundreds of thousands of entries.
    for j in 0..600_000u64 {
        let key = format!("small:{j:010}");
        let len = [8usize, 40, 100][(j % 3) as usize];
        store
            .store(SetMode::Set, key.as_bytes(), &big[..len], 0, 0)
            .expect("evicting store with small items never fails");
        if j % 5_000 == 0 {
            // Time passes, so pages move to the small classes (see the calcification policy).
            clock.advance(1);
            let st = store.stats();
            assert!(st.total_malloced as usize <= LIMIT);
            peak_items = peak_items.max(st.curr_items);
        }
    }
    let st = store.stats();
    peak_items = peak_items.max(st.curr_items);
    assert!(st.total_malloced as usize <= LIMIT);
    assert!(st.evictions > 0);
    let grown = vm_rss().saturating_sub(base);
    println!(
        "rss grew {} KiB for a {} KiB limit ({} items at peak, {} pages)",
        grown >> 10,
        LIMIT >> 10,
        peak_items,
        st.total_pages
    );
    assert!(
        grown <= LIMIT + OVERHEAD,
        "rss grew {grown} bytes, limit {LIMIT} + overhead {OVERHEAD}"
    );
}
