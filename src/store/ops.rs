//! Compound item operations on a locked stripe: insert, replace, concat, numbers.
//!
//! Shared by the classic operations in `store.rs` and the meta entry API in `entry.rs`, so
//! both follow the same rules. Every function takes `&mut Stripe`, i.e. the lock is held for
//! the whole read-modify-write: that is what makes each operation atomic per key.
//!
//! Rule for failures: a new item is written completely before it replaces the old one, and
//! the old item is pinned (`protect`) while the new one is allocated, so an allocation failure
//! leaves the old item untouched; callers decide whether to drop it (memcached drops it for
//! `set`, keeps it for append/prepend/incr/decr/replace/cas).

use super::item::{self, head};
use super::segment::NIL;
use super::stripe::{Ctx, Stripe};
use super::StoreError;
use crate::clock::RelTime;

/// Largest scratch buffer a stripe keeps between appends (bounds per-stripe overhead).
const SCRATCH_KEEP: usize = 64 << 10;

/// Longest decimal u64 ("18446744073709551615").
pub(crate) const MAX_DIGITS: usize = 20;

/// Parses a stored counter: ASCII digits with optional trailing spaces (memcached's
/// `safe_strtoull` rule for values it wrote itself); None if not a decimal u64.
pub(crate) fn parse_number(v: &[u8]) -> Option<u64> {
    let end = v.iter().rposition(|&b| b != b' ')? + 1;
    let digits = &v[..end];
    if digits.len() > MAX_DIGITS || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n = digits
        .iter()
        .fold(0u128, |n, &d| n * 10 + u128::from(d - b'0'));
    u64::try_from(n).ok()
}

/// Formats `n` in decimal into `buf`, returning the used tail.
pub(crate) fn format_number(n: u64, buf: &mut [u8; MAX_DIGITS]) -> &[u8] {
    let mut i = MAX_DIGITS;
    let mut n = n;
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    &buf[i..]
}

/// A key copied out of slab memory (keys are at most 255 bytes; no heap allocation).
struct KeyBuf {
    buf: [u8; 256],
    len: usize,
}

impl KeyBuf {
    fn of(st: &Stripe, h: u32) -> KeyBuf {
        let key = head::key(st.mem.chunk(h), &st.mem.geo.layout);
        let mut buf = [0u8; 256];
        buf[..key.len()].copy_from_slice(key);
        KeyBuf {
            buf,
            len: key.len(),
        }
    }

    fn as_slice(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl Stripe {
    /// Stores a new item under a key that has no live item. Returns its head chunk.
    #[allow(clippy::too_many_arguments)]
    pub fn insert(
        &mut self,
        ctx: &Ctx,
        hash: u64,
        key: &[u8],
        value: &[u8],
        flags: u32,
        exptime: RelTime,
        cas: Option<u64>,
    ) -> Result<u32, StoreError> {
        let cas = cas.unwrap_or_else(|| self.next_cas());
        let q = self.queue_for(hash, NIL);
        let h = self.write_item(ctx, q, key, &[value], flags, exptime, cas, NIL)?;
        self.link(hash, h);
        Ok(h)
    }

    /// Replaces the live item `old` with a new value. On error `old` stays.
    #[allow(clippy::too_many_arguments)]
    pub fn replace(
        &mut self,
        ctx: &Ctx,
        hash: u64,
        old: u32,
        value: &[u8],
        flags: u32,
        exptime: RelTime,
        cas: Option<u64>,
    ) -> Result<u32, StoreError> {
        let key = KeyBuf::of(self, old);
        let cas = cas.unwrap_or_else(|| self.next_cas());
        let q = self.queue_for(hash, old);
        let h = self.write_item(ctx, q, key.as_slice(), &[value], flags, exptime, cas, old)?;
        self.relink(hash, old, h);
        Ok(h)
    }

    /// Appends (or prepends) `data` to the live item `old`; keeps flags and exptime, new CAS.
    /// On error `old` stays.
    pub fn concat(
        &mut self,
        ctx: &Ctx,
        hash: u64,
        old: u32,
        data: &[u8],
        prepend: bool,
    ) -> Result<u32, StoreError> {
        let (flags, exptime, value_len) = {
            let c = self.mem.chunk(old);
            (head::flags(c), head::exptime(c), head::value_len(c))
        };
        let total = self
            .mem
            .geo
            .layout
            .total(head::key_len(self.mem.chunk(old)), value_len + data.len());
        if total > self.mem.geo.item_size_max {
            return Err(StoreError::TooLarge);
        }
        let key = KeyBuf::of(self, old);
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        scratch.reserve(value_len);
        for part in (super::ItemRef {
            mem: &self.mem,
            head: old,
        })
        .value()
        {
            scratch.extend_from_slice(part);
        }
        let parts: [&[u8]; 2] = if prepend {
            [data, &scratch]
        } else {
            [&scratch, data]
        };
        let cas = self.next_cas();
        let q = self.queue_for(hash, old);
        let res = self.write_item(ctx, q, key.as_slice(), &parts, flags, exptime, cas, old);
        if scratch.capacity() > SCRATCH_KEEP {
            scratch = Vec::new();
        }
        self.scratch = scratch;
        let h = res?;
        self.relink(hash, old, h);
        Ok(h)
    }

    /// The live item's value as a counter (None: not a decimal u64).
    pub fn read_number(&self, h: u32) -> Option<u64> {
        let c = self.mem.chunk(h);
        if head::chained(c) {
            return None;
        }
        parse_number(head::value_part(c, &self.mem.geo.layout))
    }

    /// Writes `n` as the item's value with a new CAS. Like memcached, a number that fits the
    /// old length is written in place, padded with trailing spaces; otherwise a new item of the
    /// exact length replaces the old one (keeping flags and exptime). On error `old` stays.
    pub fn write_number(
        &mut self,
        ctx: &Ctx,
        hash: u64,
        old: u32,
        n: u64,
    ) -> Result<u32, StoreError> {
        let mut buf = [0u8; MAX_DIGITS];
        let digits = format_number(n, &mut buf);
        let layout = self.mem.geo.layout;
        let (chained, value_len, flags, exptime) = {
            let c = self.mem.chunk(old);
            (
                head::chained(c),
                head::value_len(c),
                head::flags(c),
                head::exptime(c),
            )
        };
        if !chained && digits.len() <= value_len {
            let cas = self.next_cas();
            let c = self.mem.chunk_mut(old);
            let off = layout.key_off(false) + head::key_len(c);
            c[off..off + digits.len()].copy_from_slice(digits);
            c[off + digits.len()..off + value_len].fill(b' ');
            head::set_cas(c, &layout, cas);
            head::set_atime(c, ctx.now);
            return Ok(old);
        }
        let key = KeyBuf::of(self, old);
        let cas = self.next_cas();
        let q = self.queue_for(hash, old);
        let h = self.write_item(ctx, q, key.as_slice(), &[digits], flags, exptime, cas, old)?;
        self.relink(hash, old, h);
        Ok(h)
    }

    /// Sets the CAS of a live item: `Some` explicit, `None` a fresh unique. Returns it.
    pub fn set_item_cas(&mut self, h: u32, cas: Option<u64>) -> u64 {
        let cas = cas.unwrap_or_else(|| self.next_cas());
        let layout = self.mem.geo.layout;
        head::set_cas(self.mem.chunk_mut(h), &layout, cas);
        head::cas(self.mem.chunk(h), &layout)
    }

    /// Sets a live item's exptime.
    pub fn set_item_exptime(&mut self, h: u32, exptime: RelTime) {
        head::set_exptime(self.mem.chunk_mut(h), exptime);
    }

    /// Marks an item as recently used without counting a fetch (memcached's item_update):
    /// one use for the eviction policy, and the access time.
    pub fn touch_lru(&mut self, h: u32, now: RelTime) {
        let cap = self.policy.freq_cap;
        let c = self.mem.chunk_mut(h);
        let f = item::head::freq(c);
        if f < cap {
            head::set_freq(c, f + 1);
        }
        head::set_atime(c, now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_parse_like_memcached() {
        assert_eq!(parse_number(b"0"), Some(0));
        assert_eq!(parse_number(b"42"), Some(42));
        assert_eq!(parse_number(b"9 "), Some(9));
        assert_eq!(parse_number(b"9   "), Some(9));
        assert_eq!(parse_number(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_number(b"18446744073709551616"), None);
        assert_eq!(parse_number(b"000000000000000000001"), None);
        assert_eq!(parse_number(b""), None);
        assert_eq!(parse_number(b"   "), None);
        assert_eq!(parse_number(b" 1"), None);
        assert_eq!(parse_number(b"1a"), None);
        assert_eq!(parse_number(b"-1"), None);
    }

    #[test]
    fn numbers_format() {
        let mut buf = [0u8; MAX_DIGITS];
        assert_eq!(format_number(0, &mut buf), b"0");
        assert_eq!(format_number(1234, &mut buf), b"1234");
        assert_eq!(format_number(u64::MAX, &mut buf), b"18446744073709551615");
    }
}
