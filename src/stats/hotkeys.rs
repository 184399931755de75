//! Hot keys (`stats hotkeys [N]`): the most requested keys of the last minute or two,
//! with approximate counts, from a sampled Space-Saving sketch per worker.
//!
//! A worker looks at one lookup in [`SAMPLE_EVERY`] (a counter only it writes: a load, a
//! store and a branch per lookup, no lock, no shared cache line). A sampled key goes into
//! the worker's sketch: [`CAPACITY`] (key, count) slots behind a mutex that only `stats
//! hotkeys` ever contends for; a key not in the sketch replaces the one with the lowest
//! count and inherits it (Space-Saving: the counts overestimate by at most that, and every
//! key requested more than 1/CAPACITY of the samples is present). Sketches cover
//! [`INTERVAL_SECS`]-second windows: each worker keeps the current and the previous one, and
//! `stats hotkeys` merges both over all workers, so it reports the last one to two
//! intervals. Counts are multiplied back by the sampling rate.
//!
//! `-o no_hotkeys` turns sampling off: a lookup then costs one relaxed load of a flag that
//! never changes after startup.

use super::Counter;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};

/// One lookup in this many is sampled.
pub const SAMPLE_EVERY: u64 = 64;
/// Keys tracked per worker per window.
pub const CAPACITY: usize = 64;
/// Seconds per window.
pub const INTERVAL_SECS: u32 = 60;

#[derive(Debug, Default)]
struct Window {
    epoch: u32,
    slots: Vec<(Box<[u8]>, u64)>,
}

#[derive(Debug, Default)]
struct Sketch {
    current: Window,
    previous: Window,
}

/// One worker's sampler and sketch.
#[derive(Debug, Default)]
pub struct HotKeys {
    /// Sampling is off (`-o no_hotkeys`).
    off: AtomicBool,
    tick: Counter,
    sketch: Mutex<Sketch>,
}

impl HotKeys {
    /// Counts a lookup of `key` (sampled); `now` (process-relative seconds) is only read
    /// for a sampled one.
    #[inline]
    pub fn lookup(&self, key: &[u8], now: impl FnOnce() -> u32) {
        if self.off.load(Ordering::Relaxed) {
            return;
        }
        self.tick.incr();
        if self.tick.get() % SAMPLE_EVERY == 0 {
            self.record(key, now() / INTERVAL_SECS);
        }
    }

    /// Turns sampling on or off (set at startup from `-o hotkeys` / `-o no_hotkeys`).
    pub fn set_enabled(&self, enabled: bool) {
        self.off.store(!enabled, Ordering::Relaxed);
    }

    /// Whether lookups are sampled.
    pub fn enabled(&self) -> bool {
        !self.off.load(Ordering::Relaxed)
    }

    #[cold]
    fn record(&self, key: &[u8], epoch: u32) {
        let mut s = self.sketch.lock();
        if s.current.epoch != epoch {
            let old = std::mem::take(&mut s.current);
            s.previous = if old.epoch + 1 == epoch {
                old
            } else {
                Window::default()
            };
            s.current.epoch = epoch;
        }
        let slots = &mut s.current.slots;
        if let Some(slot) = slots.iter_mut().find(|(k, _)| **k == *key) {
            slot.1 += 1;
        } else if slots.len() < CAPACITY {
            slots.push((key.into(), 1));
        } else if let Some(min) = slots.iter_mut().min_by_key(|(_, c)| *c) {
            *min = (key.into(), min.1 + 1);
        }
    }

    fn add_to(&self, sums: &mut HashMap<Box<[u8]>, u64>, epoch: u32) {
        let s = self.sketch.lock();
        for w in [&s.current, &s.previous] {
            // Only windows of the last two intervals.
            if w.epoch + 1 >= epoch && w.epoch <= epoch {
                for (k, c) in &w.slots {
                    *sums.entry(k.clone()).or_default() += c;
                }
            }
        }
    }
}

/// The `n` hottest keys over `workers` at second `now`, hottest first, with approximate
/// request counts.
pub fn top<'a>(
    workers: impl Iterator<Item = &'a HotKeys>,
    n: usize,
    now: u32,
) -> Vec<(Box<[u8]>, u64)> {
    let mut sums = HashMap::new();
    for w in workers {
        w.add_to(&mut sums, now / INTERVAL_SECS);
    }
    let mut all: Vec<(Box<[u8]>, u64)> = sums
        .into_iter()
        .map(|(k, c)| (k, c * SAMPLE_EVERY))
        .collect();
    all.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    all.truncate(n);
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_hot_keys_of_a_skewed_stream() {
        let h = HotKeys::default();
        for i in 0..100_000u64 {
            let key = if i % 3 == 0 {
                b"hot".to_vec()
            } else if i % 7 == 0 {
                b"warm".to_vec()
            } else {
                format!("cold{i}").into_bytes()
            };
            h.lookup(&key, || 5);
        }
        let t = top(std::iter::once(&h), 2, 5);
        assert_eq!(&*t[0].0, b"hot");
        assert_eq!(&*t[1].0, b"warm");
        let hot = t[0].1 as f64;
        assert!((hot - 33_333.0).abs() / 33_333.0 < 0.2, "{hot}");
        // Two intervals later the window is gone.
        assert!(top(std::iter::once(&h), 2, 5 + 2 * INTERVAL_SECS).is_empty());
    }

    #[test]
    fn nothing_is_sampled_when_off() {
        let h = HotKeys::default();
        h.set_enabled(false);
        assert!(!h.enabled());
        for _ in 0..10 * SAMPLE_EVERY {
            h.lookup(b"hot", || panic!("no clock read when off"));
        }
        assert!(top(std::iter::once(&h), 2, 5).is_empty());
        h.set_enabled(true);
        for _ in 0..10 * SAMPLE_EVERY {
            h.lookup(b"hot", || 5);
        }
        assert_eq!(&*top(std::iter::once(&h), 2, 5)[0].0, b"hot");
    }
}
