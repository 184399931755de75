//! Eviction policies by name (`-o eviction=...`) and the parameters each sets.
//!
//! All policies run on the same machinery (`evict.rs`): a small FIFO queue that new items
//! enter, a main FIFO queue with reinsertion of used items (CLOCK on a log), per-item access
//! frequency of up to 2 bits, and optionally the ghost of keys evicted from the small queue.
//! They differ in the parameters below; docs/STORE.md gives the trade-offs and the figures.

use std::fmt;
use std::str::FromStr;

/// The eviction policy (`-o eviction=NAME`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Eviction {
    /// S3-FIFO (SOSP '23): new items enter a small FIFO (5% of memory); those used while
    /// there move to the main queue, the others leave and are remembered in the ghost; a key
    /// that comes back while remembered goes straight to the main queue. The main queue
    /// reinserts items used since they were last passed over (up to 3 times), evicts the rest.
    /// Resists scans and one-hit keys, adapts as fast as the small queue turns over. Items
    /// more than 1.5 times the average size need two uses to stay (4 times: three).
    #[default]
    S3Fifo,
    /// memcached's segmented LRU, approximated: new items are on probation (the small queue,
    /// half of memory, like memcached's HOT + COLD); an item used there moves to the
    /// protected queue (WARM), which keeps items used since the last pass (one bit). No ghost.
    Lru,
    /// Frequency first: one queue (no probation), each item keeps a 2-bit use counter that
    /// every pass of eviction decrements; items reach the counter's cap quickly, so popular
    /// items stay longest. Slow to forget formerly popular items.
    Lfu,
}

impl Eviction {
    /// The name used by `-o eviction=` and `stats settings`.
    pub fn name(self) -> &'static str {
        match self {
            Eviction::S3Fifo => "s3fifo",
            Eviction::Lru => "lru",
            Eviction::Lfu => "lfu",
        }
    }

    /// The parameters the policy sets.
    pub(crate) fn params(self) -> Params {
        match self {
            Eviction::S3Fifo => Params {
                small_percent: 5,
                ghost: true,
                promote_at: 1,
                freq_cap: 3,
                size_aware: true,
            },
            Eviction::Lru => Params {
                small_percent: 50,
                ghost: false,
                promote_at: 1,
                freq_cap: 1,
                size_aware: false,
            },
            Eviction::Lfu => Params {
                small_percent: 0,
                ghost: false,
                promote_at: 1,
                freq_cap: 3,
                size_aware: false,
            },
        }
    }
}

impl fmt::Display for Eviction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Eviction {
    type Err = String;

    fn from_str(s: &str) -> Result<Eviction, String> {
        match s {
            "s3fifo" | "s3-fifo" => Ok(Eviction::S3Fifo),
            "lru" | "slru" => Ok(Eviction::Lru),
            "lfu" => Ok(Eviction::Lfu),
            _ => Err(format!(
                "unknown eviction policy \"{s}\" (s3fifo, lru or lfu)"
            )),
        }
    }
}

/// What a policy sets.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Params {
    /// The small queue's share of a stripe's segments, in percent (0: no small queue).
    pub small_percent: usize,
    /// Remember keys evicted from the small queue and admit them to main when they return.
    pub ghost: bool,
    /// Uses while in the small queue that move an item to main.
    pub promote_at: u8,
    /// Highest use count an item keeps.
    pub freq_cap: u8,
    /// Items much larger than the average need more uses to be kept (`evict.rs`).
    pub size_aware: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for p in [Eviction::S3Fifo, Eviction::Lru, Eviction::Lfu] {
            assert_eq!(p.name().parse::<Eviction>(), Ok(p));
        }
        assert!("clock".parse::<Eviction>().is_err());
        assert_eq!(Eviction::default(), Eviction::S3Fifo);
    }
}
