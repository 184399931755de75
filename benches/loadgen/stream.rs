//! The request streams of the hit-ratio mode (`cacheaside.rs` drives them against a server;
//! `examples/hitsim` and `examples/hitref` include this file to replay the same streams
//! in-process). Pure code: no sockets, no command line.
//!
//! A stream is generated up front, deterministically from a seed (or read from a trace file),
//! as a list of [`Req`]. Synthetic workloads combine:
//! - zipfian popularity over `keys` keys (rank 1 hottest), ranks mapped to keys by a seeded
//!   affine permutation so key numbers say nothing about popularity;
//! - a fraction of one-hit requests, each to a fresh key never requested again;
//! - periodic scans: after every `scan_every` requests, `scan_len` requests to consecutive ranks
//!   from the cold half of the key space (the next range each time);
//! - a popularity shift: from a point in the run on (half way by default) rank `r` maps to the
//!   key rank `r + keys/2` had before, so the hot set moves to keys that were cold;
//! - value sizes fixed, or log-normal (median 300 B, σ 1) clamped to 32 B..16 KiB;
//! - a TTL on a fraction of the keys.

use crate::workload::{Rng, Zipf};
use std::collections::HashMap;
use std::io::Write;
/// Smallest and largest log-normal value sizes.
pub const LOGNORMAL_MIN: u32 = 32;
/// See [`LOGNORMAL_MIN`].
pub const LOGNORMAL_MAX: u32 = 16 * 1024;
/// Largest value a trace may ask for (memcached's default item size limit is 1 MB).
pub const TRACE_MAX_SIZE: u32 = 1 << 20;

/// Key-id namespaces (top two bits of a key id).
const NS_SHIFT: u32 = 62;
const NS_MAIN: u64 = 0;
const NS_ONE_HIT: u64 = 1;
const NS_TRACE: u64 = 2;
const ID_MASK: u64 = (1 << NS_SHIFT) - 1;

/// One request of the stream: get `key`, and on a miss set it to `size` bytes with exptime
/// `ttl` (0: none).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Req {
    /// Key id; its text comes from [`Stream::key`].
    pub key: u64,
    /// Value size in bytes for the set after a miss.
    pub size: u32,
    /// Exptime of that set in seconds (0: never expires).
    pub ttl: u32,
}

/// How value sizes are chosen (as a function of the key).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Sizes {
    /// Every value has this many bytes.
    Fixed(u32),
    /// Log-normal with this median and σ, clamped to [`LOGNORMAL_MIN`]..[`LOGNORMAL_MAX`].
    LogNormal {
        /// Median size in bytes.
        median: f64,
        /// σ of the underlying normal distribution.
        sigma: f64,
    },
}

impl Sizes {
    /// Parses `N`, `fixed:N`, `lognormal` (median 300, σ 1) or `lognormal:MEDIAN:SIGMA`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let num = |t: &str| {
            t.parse::<f64>()
                .ok()
                .filter(|v| v.is_finite() && *v > 0.0)
                .ok_or_else(|| format!("sizes {s:?}: {t:?} is not a positive number"))
        };
        if s == "lognormal" || s == "mixed" {
            return Ok(Sizes::LogNormal {
                median: 300.0,
                sigma: 1.0,
            });
        }
        if let Some(rest) = s.strip_prefix("lognormal:") {
            let (m, sg) = rest
                .split_once(':')
                .ok_or_else(|| format!("sizes {s:?}: expected lognormal:MEDIAN:SIGMA"))?;
            return Ok(Sizes::LogNormal {
                median: num(m)?,
                sigma: num(sg)?,
            });
        }
        let n = s.strip_prefix("fixed:").unwrap_or(s);
        let v: u32 = n
            .parse()
            .map_err(|e| format!("sizes {s:?}: expected N, fixed:N or lognormal[:M:S]: {e}"))?;
        if v == 0 || v > TRACE_MAX_SIZE {
            return Err(format!("sizes {s:?}: between 1 and {TRACE_MAX_SIZE} bytes"));
        }
        Ok(Sizes::Fixed(v))
    }

    /// The size of the value of key `id` (a fixed function of the key and `seed`).
    pub fn of(&self, id: u64, seed: u64) -> u32 {
        match *self {
            Sizes::Fixed(n) => n,
            Sizes::LogNormal { median, sigma } => {
                let h = mix64(id ^ mix64(seed ^ 0x5151));
                // Box-Muller from two 32-bit halves; u1 in (0, 1] so ln is finite.
                let u1 = ((h >> 32) as f64 + 1.0) / 4_294_967_296.0;
                let u2 = (h & 0xffff_ffff) as f64 / 4_294_967_296.0;
                let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
                let v = (median * (sigma * z).exp()).round();
                v.clamp(f64::from(LOGNORMAL_MIN), f64::from(LOGNORMAL_MAX)) as u32
            }
        }
    }
}

impl std::fmt::Display for Sizes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Sizes::Fixed(n) => write!(f, "{n}B"),
            Sizes::LogNormal { median, sigma } => write!(f, "lognormal:{median}:{sigma}"),
        }
    }
}

/// A synthetic workload.
#[derive(Clone, Debug, PartialEq)]
pub struct Synthetic {
    /// Keys in the zipfian key space.
    pub keys: u64,
    /// Zipf exponent α.
    pub zipf: f64,
    /// Fraction of requests that go to a fresh key, never requested again.
    pub one_hit: f64,
    /// Insert a scan after every this many other requests (0: no scans).
    pub scan_every: u64,
    /// Requests per scan.
    pub scan_len: u64,
    /// Where the popularity shift happens, as a fraction of the run (None: no shift).
    pub shift_at: Option<f64>,
    /// Value sizes.
    pub sizes: Sizes,
    /// Fraction of keys whose sets carry a TTL.
    pub ttl_frac: f64,
    /// That TTL in seconds.
    pub ttl: u32,
    /// Length of the stream.
    pub requests: u64,
    /// Seed of everything random.
    pub seed: u64,
}

impl Synthetic {
    /// A short description for cell names and records, e.g. `zipf0.99 onehit0.3 lognormal`.
    pub fn describe(&self) -> String {
        let mut s = format!("zipf{}", self.zipf);
        if self.one_hit > 0.0 {
            s += &format!(" onehit{}", self.one_hit);
        }
        if self.scan_every > 0 {
            s += &format!(" scan{}/{}", self.scan_len, self.scan_every);
        }
        if let Some(at) = self.shift_at {
            s += &format!(" shift@{at}");
        }
        if self.ttl_frac > 0.0 {
            s += &format!(" ttl{}x{}s", self.ttl_frac, self.ttl);
        }
        s += &format!(" {}", self.sizes);
        s
    }
}

/// A request stream and the text of its keys.
pub struct Stream {
    /// The requests, in order.
    pub reqs: Vec<Req>,
    /// Keys of a replayed trace, by id (empty for synthetic streams).
    trace_keys: Vec<Box<[u8]>>,
    /// One line describing where the stream came from.
    pub describe: String,
}

/// SplitMix64's finaliser: a good 64-bit mixing function.
pub fn mix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// The bijection rank → key id over `0..n` (`x * a + b mod n`, `a` coprime to `n`).
#[derive(Clone, Copy, Debug)]
pub struct Perm {
    n: u64,
    a: u64,
    b: u64,
}

impl Perm {
    /// A seeded permutation of `0..n` (`n >= 1`).
    pub fn new(n: u64, seed: u64) -> Self {
        let n = n.max(1);
        let mut a = (mix64(seed ^ 0xa11e) % n) | 1;
        while gcd(a, n) != 1 {
            a = (a + 2) % n.max(2);
            if a == 0 {
                a = 1;
            }
        }
        Perm {
            n,
            a,
            b: mix64(seed ^ 0xb0b) % n,
        }
    }

    /// The key id of zero-based rank `x`.
    pub fn apply(&self, x: u64) -> u64 {
        ((u128::from(x % self.n) * u128::from(self.a) + u128::from(self.b)) % u128::from(self.n))
            as u64
    }
}

/// Generates the request stream of `w`.
pub fn generate(w: &Synthetic) -> Stream {
    let n = w.keys.max(1);
    let zipf = Zipf::new(n, w.zipf);
    let perm = Perm::new(n, w.seed);
    let mut rng = Rng::new(w.seed);
    let shift_at = w
        .shift_at
        .map(|f| (f.clamp(0.0, 1.0) * w.requests as f64) as u64);
    let size_seed = w.seed;
    let ttl_of = |id: u64| -> u32 {
        if w.ttl_frac > 0.0 {
            let u = (mix64(id ^ mix64(w.seed ^ 0x77)) >> 11) as f64 / (1u64 << 53) as f64;
            if u < w.ttl_frac {
                return w.ttl;
            }
        }
        0
    };
    let req = |id: u64| Req {
        key: id,
        size: w.sizes.of(id, size_seed),
        ttl: ttl_of(id),
    };
    let mut reqs = Vec::with_capacity(w.requests as usize);
    let mut one_hits = 0u64;
    let mut since_scan = 0u64;
    let mut scans = 0u64;
    let cold = n / 2; // first rank of the cold half
    while (reqs.len() as u64) < w.requests {
        let i = reqs.len() as u64;
        let rotate = match shift_at {
            Some(at) if i >= at => n / 2,
            _ => 0,
        };
        if w.scan_every > 0 && since_scan >= w.scan_every {
            since_scan = 0;
            let span = (n - cold).max(1);
            let start = cold + (scans * w.scan_len) % span;
            scans += 1;
            for j in 0..w.scan_len {
                if reqs.len() as u64 >= w.requests {
                    break;
                }
                let rank = cold + (start - cold + j) % span;
                reqs.push(req(NS_MAIN << NS_SHIFT | perm.apply(rank + rotate)));
            }
            continue;
        }
        since_scan += 1;
        if w.one_hit > 0.0 && rng.next_f64() < w.one_hit {
            reqs.push(req(NS_ONE_HIT << NS_SHIFT | one_hits));
            one_hits += 1;
            continue;
        }
        let rank = zipf.sample(&mut rng) - 1;
        reqs.push(req(NS_MAIN << NS_SHIFT | perm.apply(rank + rotate)));
    }
    Stream {
        reqs,
        trace_keys: Vec::new(),
        describe: w.describe(),
    }
}

/// Parses a trace: one request per line, `key size [ttl]`, whitespace-separated; blank lines
/// and lines starting with `#` are skipped. Keys are 1..=250 bytes without control characters
/// (memcached's text-protocol limit). At most `limit` requests are kept.
pub fn parse_trace(text: &str, limit: Option<u64>) -> Result<Stream, String> {
    let mut ids: HashMap<&str, u64> = HashMap::new();
    let mut keys: Vec<Box<[u8]>> = Vec::new();
    let mut reqs = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if limit.is_some_and(|l| reqs.len() as u64 >= l) {
            break;
        }
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = |what: &str| format!("trace line {}: {what}: {line:?}", n + 1);
        let mut f = line.split_whitespace();
        let (Some(key), Some(size)) = (f.next(), f.next()) else {
            return Err(bad("expected `key size [ttl]`"));
        };
        let ttl = f.next();
        if f.next().is_some() {
            return Err(bad("more than three fields"));
        }
        if key.len() > 250 || key.bytes().any(|b| b.is_ascii_control()) {
            return Err(bad("key longer than 250 bytes or with control characters"));
        }
        let size: u32 = size.parse().map_err(|_| bad("size is not a number"))?;
        if size > TRACE_MAX_SIZE {
            return Err(bad("size above 1 MiB"));
        }
        let ttl: u32 = match ttl {
            Some(t) => t.parse().map_err(|_| bad("ttl is not a number"))?,
            None => 0,
        };
        let next = keys.len() as u64;
        let id = *ids.entry(key).or_insert_with(|| {
            keys.push(key.as_bytes().into());
            next
        });
        reqs.push(Req {
            key: NS_TRACE << NS_SHIFT | id,
            size,
            ttl,
        });
    }
    if reqs.is_empty() {
        return Err("trace has no requests".to_string());
    }
    let describe = format!("trace ({} requests, {} keys)", reqs.len(), keys.len());
    Ok(Stream {
        reqs,
        trace_keys: keys,
        describe,
    })
}

impl Stream {
    /// Appends the text of key `id` to `out`.
    pub fn key(&self, id: u64, out: &mut Vec<u8>) {
        let (ns, n) = (id >> NS_SHIFT, id & ID_MASK);
        let prefix: &[u8] = match ns {
            NS_MAIN => b"ca:",
            NS_ONE_HIT => b"oh:",
            _ => {
                out.extend_from_slice(&self.trace_keys[n as usize]);
                return;
            }
        };
        out.extend_from_slice(prefix);
        let mut digits = [b'0'; 12];
        let mut v = n;
        for d in digits.iter_mut().rev() {
            *d = b'0' + (v % 10) as u8;
            v /= 10;
        }
        out.extend_from_slice(&digits);
    }

    /// Gets in the second half of the stream whose key was never requested before: misses
    /// no cache of any size avoids (cold misses), so `cold_second_half() / (len - len / 2)`
    /// is the floor of any server's second-half miss ratio on this stream (expiry and
    /// evictions only add to it). The report uses it to show how much of a miss ratio a
    /// policy could still remove.
    pub fn cold_second_half(&self) -> u64 {
        let half = self.reqs.len() / 2;
        let mut seen = std::collections::HashSet::with_capacity(self.reqs.len() / 2);
        let mut cold = 0;
        for (i, r) in self.reqs.iter().enumerate() {
            if seen.insert(r.key) && i >= half {
                cold += 1;
            }
        }
        cold
    }

    /// Writes the stream in the trace format (`key size [ttl]` per line).
    pub fn write_trace(&self, out: &mut impl Write) -> std::io::Result<()> {
        let mut line = Vec::with_capacity(300);
        for r in &self.reqs {
            line.clear();
            self.key(r.key, &mut line);
            let _ = write!(line, " {}", r.size);
            if r.ttl > 0 {
                let _ = write!(line, " {}", r.ttl);
            }
            line.push(b'\n');
            out.write_all(&line)?;
        }
        Ok(())
    }
}
