//! `Ring::route` and `Ring::successors` must not allocate: a counting global allocator
//! (per thread, so the test harness's own threads do not interfere) proves it.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use larder_ring::{Distribution, Hash, NodeSpec, Ring, RingConfig};

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: forwards every call to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|a| a.set(a.get() + 1));
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> usize {
    ALLOCATIONS.with(Cell::get)
}

#[test]
fn routing_does_not_allocate() {
    for (distribution, weighted, hash, nodes) in [
        (Distribution::Ketama, true, Hash::Md5, 10u16),
        (Distribution::Ketama, true, Hash::Md5, 1000),
        (Distribution::Ketama, false, Hash::Murmur, 100),
        (Distribution::Modula, true, Hash::Fnv1a_64, 10),
        (Distribution::Jump, false, Hash::Md5, 100),
        (Distribution::Rendezvous, false, Hash::Md5, 50),
    ] {
        let specs: Vec<NodeSpec> = (0..nodes)
            .map(|i| NodeSpec::tcp("10.0.0.1", 10000 + i))
            .collect();
        let config = RingConfig {
            distribution,
            weighted,
            hash,
            hash_tag: Some(*b"{}"),
            ..RingConfig::default()
        };
        let ring = Ring::new(&config, &specs);
        let keys: Vec<String> = (0..1000).map(|i| format!("user:{{{i}}}:k")).collect();
        let mut out = [0usize; 3];
        let before = allocations();
        let mut sum = 0;
        for k in &keys {
            sum += ring.route(k.as_bytes()).unwrap();
            sum += ring.successors(k.as_bytes(), &mut out);
        }
        assert_eq!(allocations(), before, "route allocated");
        assert!(sum > 0);
    }
}
