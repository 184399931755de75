//! A reference point for the eviction policy: an item-level W-TinyLFU (Caffeine's policy;
//! Einziger et al., "TinyLFU", 2017) replayed on the same request streams as `hitsim`, with
//! byte capacity instead of segments. It is a model, not the store: exact LRU lists, exact
//! access counts halved every ten accesses per cached item (an ideal count-min sketch), a
//! window LRU of `--window` percent of the bytes, and a segmented main LRU (20% probation,
//! 80% protected) that admits a window victim only if it was asked for more often than every
//! main victim it would displace. Each item costs its record's bytes in larder (18-byte
//! header + key + value: the streams' flags and exptimes are 0), and capacity is 97% of `-m`, what larder's segments hold.
//!
//! docs/STORE.md uses it to bound what a frequency sketch could add to larder's S3-FIFO.
//!
//! `cargo run --release --example hitref -- [--window PERCENT] [--mems "16 64"]
//!  [--workloads "..."] [--sizes "fixed mixed"] [-k KEYS] [-n REQUESTS] [--seed S]`

#[allow(dead_code)] // `flag` is not used here
#[path = "common/args.rs"]
mod args;
#[allow(dead_code)] // hitsim's one-cell mode is not used here
#[path = "hitsim/matrix.rs"]
mod matrix;
#[allow(dead_code)]
#[path = "../benches/loadgen/stream.rs"]
mod stream;
#[allow(dead_code)]
#[path = "../benches/loadgen/workload.rs"]
mod workload;

use args::arg;
use matrix::Matrix;
use std::collections::{BTreeMap, HashMap};

/// Bytes of header per record (larder with CAS).
const HEADER: usize = 18;
/// Main victims a window candidate is compared with at most.
const MAX_VICTIMS: usize = 64;

/// Which list an item is on.
#[derive(Clone, Copy, PartialEq)]
enum List {
    Window,
    Probation,
    Protected,
}

/// An LRU list: items by the stamp of their last use, oldest first.
#[derive(Default)]
struct Lru {
    by_stamp: BTreeMap<u64, u64>,
    bytes: usize,
}

struct Entry {
    size: usize,
    stamp: u64,
    list: List,
}

/// The W-TinyLFU model.
struct WTinyLfu {
    capacity: usize,
    window_cap: usize,
    protected_cap: usize,
    items: HashMap<u64, Entry>,
    window: Lru,
    probation: Lru,
    protected: Lru,
    stamp: u64,
    counts: HashMap<u64, u32>,
    since_halving: usize,
}

impl WTinyLfu {
    fn new(capacity: usize, window_percent: f64) -> WTinyLfu {
        let window_cap = (capacity as f64 * window_percent / 100.0) as usize;
        WTinyLfu {
            capacity,
            window_cap,
            protected_cap: (capacity - window_cap) * 8 / 10,
            items: HashMap::new(),
            window: Lru::default(),
            probation: Lru::default(),
            protected: Lru::default(),
            stamp: 0,
            counts: HashMap::new(),
            since_halving: 0,
        }
    }

    fn list(&mut self, l: List) -> &mut Lru {
        match l {
            List::Window => &mut self.window,
            List::Probation => &mut self.probation,
            List::Protected => &mut self.protected,
        }
    }

    fn remove(&mut self, key: u64) -> usize {
        let e = self.items.remove(&key).expect("removed items are cached");
        let l = self.list(e.list);
        l.by_stamp.remove(&e.stamp);
        l.bytes -= e.size;
        e.size
    }

    fn push(&mut self, key: u64, size: usize, list: List) {
        self.stamp += 1;
        let stamp = self.stamp;
        let l = self.list(list);
        l.by_stamp.insert(stamp, key);
        l.bytes += size;
        self.items.insert(key, Entry { size, stamp, list });
    }

    fn oldest(&mut self, l: List) -> Option<u64> {
        self.list(l).by_stamp.values().next().copied()
    }

    fn count(&mut self, key: u64) {
        *self.counts.entry(key).or_insert(0) += 1;
        self.since_halving += 1;
        if self.since_halving >= 10 * self.items.len().max(1000) {
            self.since_halving = 0;
            self.counts.retain(|_, c| {
                *c /= 2;
                *c > 0
            });
        }
    }

    fn frequency(&self, key: u64) -> u32 {
        self.counts.get(&key).copied().unwrap_or(0)
    }

    /// A get of `key` (a record of `size` bytes), set on a miss. True on a hit.
    fn access(&mut self, key: u64, size: usize) -> bool {
        self.count(key);
        if let Some(e) = self.items.get(&key) {
            let list = e.list;
            let size = self.remove(key);
            if list == List::Window {
                self.push(key, size, List::Window);
            } else {
                self.push(key, size, List::Protected);
                while self.protected.bytes > self.protected_cap {
                    let k = self
                        .oldest(List::Protected)
                        .expect("over capacity: not empty");
                    let s = self.remove(k);
                    self.push(k, s, List::Probation);
                }
            }
            return true;
        }
        if size > self.capacity {
            return false;
        }
        self.push(key, size, List::Window);
        while self.window.bytes > self.window_cap {
            let cand = self.oldest(List::Window).expect("over capacity: not empty");
            let cand_size = self.remove(cand);
            let main_cap = self.capacity - self.window_cap;
            let need =
                (self.probation.bytes + self.protected.bytes + cand_size).saturating_sub(main_cap);
            let f = self.frequency(cand);
            let victims: Vec<u64> = self
                .probation
                .by_stamp
                .values()
                .chain(self.protected.by_stamp.values())
                .copied()
                .take(MAX_VICTIMS)
                .collect();
            let mut freed = 0;
            let mut evict = Vec::new();
            for v in victims {
                if freed >= need || self.frequency(v) >= f {
                    break;
                }
                freed += self.items[&v].size;
                evict.push(v);
            }
            if freed >= need {
                for v in evict {
                    self.remove(v);
                }
                self.push(cand, cand_size, List::Probation);
            }
        }
        false
    }
}

fn main() {
    let window: f64 = arg("--window", "1").parse().unwrap();
    Matrix::from_args().run(|cell| {
        let mut cache = WTinyLfu::new((cell.mb << 20) * 97 / 100, window);
        let mut misses = 0u64;
        let reqs = &cell.stream.reqs;
        let half = reqs.len() / 2;
        for (i, r) in reqs.iter().enumerate() {
            let size = HEADER + format!("key:{}", r.key).len() + r.size as usize;
            if !cache.access(r.key, size) && i >= half {
                misses += 1;
            }
        }
        let miss = misses as f64 / (reqs.len() - half) as f64;
        let line = format!("w-tinylfu: miss {miss:.4} items {}", cache.items.len());
        (miss, line)
    });
}
