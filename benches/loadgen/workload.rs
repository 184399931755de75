//! Workload generation: what the next request is (get or set), which key it names and how big
//! its value is.
//!
//! Everything here is deterministic given a seed and allocation-free per request, so the load
//! generator measures the server rather than itself. Keys are fixed-width (`lg:` + ten digits)
//! so their formatting costs the same for every request and they never need a heap buffer.

/// Length in bytes of every generated key (`lg:` followed by ten decimal digits).
pub const KEY_LEN: usize = 13;

/// A small, fast pseudo-random generator (SplitMix64): good enough statistical quality for load
/// shaping, no dependency, and reproducible from a seed.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator whose sequence is fully determined by `seed`.
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x853c_49e6_748f_ea9b)
    }

    /// The next 64 uniformly distributed bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A uniform float in `[0, 1)`.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// A uniform integer in `[0, n)`; `n` must be non-zero (returns 0 otherwise).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        // Lemire's multiply-shift: unbiased enough for n far below 2^64.
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }
}

/// How keys are drawn from the key space.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum KeyDist {
    /// Every key equally likely.
    Uniform,
    /// Zipfian with the given skew exponent `s > 0` (rank `k` has weight `1 / k^s`); `0.99` is
    /// the YCSB default.
    Zipf(f64),
}

impl KeyDist {
    /// Parses `uniform` or `zipf:S` (for example `zipf:0.99`); a bare `zipf` means `zipf:0.99`.
    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "uniform" => Ok(KeyDist::Uniform),
            "zipf" | "zipfian" => Ok(KeyDist::Zipf(0.99)),
            _ => {
                let skew = s
                    .strip_prefix("zipf:")
                    .or_else(|| s.strip_prefix("zipfian:"))
                    .ok_or_else(|| format!("distribution {s:?}: expected uniform or zipf:S"))?;
                let v: f64 = skew
                    .parse()
                    .map_err(|e| format!("zipf skew {skew:?}: {e}"))?;
                if !(v > 0.0 && v.is_finite()) {
                    return Err(format!("zipf skew {v} must be a positive number"));
                }
                Ok(KeyDist::Zipf(v))
            }
        }
    }
}

/// Zipf sampler over ranks `1..=n` by rejection-inversion (Hörmann and Derflinger, 1996), as in
/// Apache Commons' `RejectionInversionZipfSampler`: O(1) setup and O(1) expected time per sample
/// for any skew, so a 100-million-key space costs nothing to set up.
#[derive(Clone, Debug)]
pub struct Zipf {
    n: f64,
    s: f64,
    h_x1: f64,
    h_n: f64,
    shortcut: f64,
}

impl Zipf {
    /// A sampler for `n >= 1` ranks with exponent `s > 0`.
    pub fn new(n: u64, s: f64) -> Self {
        let n = n.max(1) as f64;
        let mut z = Zipf {
            n,
            s,
            h_x1: 0.0,
            h_n: 0.0,
            shortcut: 0.0,
        };
        z.h_x1 = z.h_integral(1.5) - 1.0;
        z.h_n = z.h_integral(n + 0.5);
        z.shortcut = 2.0 - z.h_integral_inverse(z.h_integral(2.5) - z.h(2.0));
        z
    }

    /// A rank in `1..=n`; rank 1 is the most popular.
    pub fn sample(&self, rng: &mut Rng) -> u64 {
        loop {
            let u = self.h_n + rng.next_f64() * (self.h_x1 - self.h_n);
            let x = self.h_integral_inverse(u);
            let k = (x + 0.5).floor().clamp(1.0, self.n);
            if k - x <= self.shortcut || u >= self.h_integral(k + 0.5) - self.h(k) {
                return k as u64;
            }
        }
    }

    fn h(&self, x: f64) -> f64 {
        (-self.s * x.ln()).exp()
    }

    fn h_integral(&self, x: f64) -> f64 {
        let log_x = x.ln();
        helper2((1.0 - self.s) * log_x) * log_x
    }

    fn h_integral_inverse(&self, x: f64) -> f64 {
        let t = (x * (1.0 - self.s)).max(-1.0);
        (helper1(t) * x).exp()
    }
}

/// `ln(1 + x) / x`, accurate near zero.
fn helper1(x: f64) -> f64 {
    if x.abs() > 1e-8 {
        x.ln_1p() / x
    } else {
        1.0 - x * (0.5 - x * (1.0 / 3.0 - 0.25 * x))
    }
}

/// `(e^x - 1) / x`, accurate near zero.
fn helper2(x: f64) -> f64 {
    if x.abs() > 1e-8 {
        x.exp_m1() / x
    } else {
        1.0 + x * 0.5 * (1.0 + x / 3.0 * (1.0 + 0.25 * x))
    }
}

/// Draws key indexes in `0..n` from a [`KeyDist`].
#[derive(Clone, Debug)]
pub struct KeyGen {
    n: u64,
    zipf: Option<Zipf>,
}

impl KeyGen {
    /// A generator over `n` keys (at least 1).
    pub fn new(n: u64, dist: KeyDist) -> Self {
        let n = n.max(1);
        let zipf = match dist {
            KeyDist::Uniform => None,
            KeyDist::Zipf(s) => Some(Zipf::new(n, s)),
        };
        KeyGen { n, zipf }
    }

    /// The next key index; under zipf, index 0 is the hottest key.
    pub fn next(&self, rng: &mut Rng) -> u64 {
        match &self.zipf {
            None => rng.below(self.n),
            Some(z) => z.sample(rng) - 1,
        }
    }
}

/// The key for index `idx`: `lg:` and the index as ten zero-padded digits (modulo 10^10).
pub fn key_bytes(idx: u64) -> [u8; KEY_LEN] {
    let mut k = *b"lg:0000000000";
    let mut v = idx % 10_000_000_000;
    for slot in k[3..].iter_mut().rev() {
        *slot = b'0' + (v % 10) as u8;
        v /= 10;
    }
    k
}

/// Value sizes: fixed (`min == max`) or uniform in `[min, max]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ValueSize {
    /// Smallest value length in bytes.
    pub min: usize,
    /// Largest value length in bytes.
    pub max: usize,
}

impl ValueSize {
    /// Parses `N` or `MIN-MAX` (bytes).
    pub fn parse(s: &str) -> Result<Self, String> {
        let num = |t: &str| {
            t.trim()
                .parse::<usize>()
                .map_err(|e| format!("value size {t:?}: {e}"))
        };
        let (min, max) = match s.split_once('-') {
            Some((a, b)) => (num(a)?, num(b)?),
            None => {
                let v = num(s)?;
                (v, v)
            }
        };
        if min > max {
            return Err(format!("value size range {s:?}: min exceeds max"));
        }
        Ok(ValueSize { min, max })
    }

    /// The next value length.
    pub fn next(&self, rng: &mut Rng) -> usize {
        if self.min == self.max {
            self.min
        } else {
            self.min + rng.below((self.max - self.min + 1) as u64) as usize
        }
    }
}

impl std::fmt::Display for ValueSize {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.min == self.max {
            write!(f, "{}", self.min)
        } else {
            write!(f, "{}-{}", self.min, self.max)
        }
    }
}

/// The get:set ratio, as integer weights.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mix {
    /// Weight of gets.
    pub gets: u32,
    /// Weight of sets.
    pub sets: u32,
}

impl Mix {
    /// Parses `G:S`, for example `10:1`, `1:1`, `1:0` (gets only) or `0:1` (sets only).
    pub fn parse(s: &str) -> Result<Self, String> {
        let (g, st) = s
            .split_once(':')
            .ok_or_else(|| format!("ratio {s:?}: expected GETS:SETS such as 10:1"))?;
        let num = |t: &str| {
            t.trim()
                .parse::<u32>()
                .map_err(|e| format!("ratio {s:?}: {e}"))
        };
        let mix = Mix {
            gets: num(g)?,
            sets: num(st)?,
        };
        if mix.gets == 0 && mix.sets == 0 {
            return Err(format!("ratio {s:?}: both weights are zero"));
        }
        Ok(mix)
    }

    /// True if the next request should be a get.
    pub fn next_is_get(&self, rng: &mut Rng) -> bool {
        rng.below(u64::from(self.gets) + u64::from(self.sets)) < u64::from(self.gets)
    }
}

impl std::fmt::Display for Mix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.gets, self.sets)
    }
}
