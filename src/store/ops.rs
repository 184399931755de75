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
use super::stripe::{Exit, Moment, Stripe};
use super::StoreError;
use crate::clock::RelTime;
use crate::decimal::{format_u64, MAX_U64_DIGITS};

/// Largest scratch buffer a stripe keeps between appends (bounds per-stripe overhead).
const SCRATCH_KEEP: usize = 64 << 10;

/// Parses a stored counter as memcached's `safe_strtoull` reads an item's data (which
/// memcached keeps followed by "\r\n"): optional leading whitespace (space, \t, \n, \v, \f,
/// \r), an optional `+` or `-`, at least one decimal digit (leading zeros allowed, any
/// number of them), then the end of the value or a whitespace or NUL byte (whatever
/// follows it is ignored: "5 x" is 5). More than u64::MAX is refused (strtoull's ERANGE).
/// A `-` negates modulo 2^64, as strtoull does, and the result is refused only when it
/// is 2^63 or more (memcached's sign check): "-0" is 0, "-5" is refused,
/// "-18446744073709551615" is 1. None: not a number by these rules.
pub(crate) fn parse_number(v: &[u8]) -> Option<u64> {
    let is_space = |b: u8| matches!(b, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r');
    let mut i = v.iter().position(|&b| !is_space(b))?;
    let negative = v[i] == b'-';
    if negative || v[i] == b'+' {
        i += 1;
    }
    let start = i;
    let mut n = 0u64;
    while let Some(&b) = v.get(i).filter(|b| b.is_ascii_digit()) {
        n = n.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
        i += 1;
    }
    if i == start {
        return None;
    }
    match v.get(i) {
        None | Some(0) => {}
        Some(&b) if is_space(b) => {}
        Some(_) => return None,
    }
    if !negative {
        return Some(n);
    }
    let n = n.wrapping_neg();
    (n <= i64::MAX as u64).then_some(n)
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
        ctx: &Moment,
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
        ctx: &Moment,
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
        ctx: &Moment,
        hash: u64,
        old: u32,
        data: &[u8],
        prepend: bool,
    ) -> Result<u32, StoreError> {
        let (flags, exptime, value_len) = {
            let c = self.mem.chunk(old);
            (
                head::flags(c, &self.mem.geo.layout),
                head::exptime(c, &self.mem.geo.layout),
                head::value_len(c),
            )
        };
        let total = self.mem.geo.layout.total(
            head::key_len(self.mem.chunk(old)),
            value_len + data.len(),
            flags,
            exptime,
        );
        if total > self.mem.geo.item_size_max {
            return Err(StoreError::TooLarge);
        }
        let (before, after) = if prepend {
            (data, &[][..])
        } else {
            (&[][..], data)
        };
        let cas = self.next_cas();
        let h = self.rewrite(ctx, hash, old, before, after, flags, exptime, cas)?;
        self.relink(hash, old, h);
        Ok(h)
    }

    /// Writes a new record under the live item `old`'s key holding `before`, `old`'s value
    /// and `after`, with these fields, and returns it (written, not yet linked; the caller
    /// relinks). The value is copied out first into the stripe's scratch buffer, because
    /// making room for the new record may move memory. On error `old` stays as it was.
    #[allow(clippy::too_many_arguments)]
    fn rewrite(
        &mut self,
        ctx: &Moment,
        hash: u64,
        old: u32,
        before: &[u8],
        after: &[u8],
        flags: u32,
        exptime: RelTime,
        cas: u64,
    ) -> Result<u32, StoreError> {
        let key = KeyBuf::of(self, old);
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        scratch.reserve(head::value_len(self.mem.chunk(old)));
        for part in (super::ItemRef {
            mem: &self.mem,
            head: old,
        })
        .value()
        {
            scratch.extend_from_slice(part);
        }
        let parts: [&[u8]; 3] = [before, &scratch, after];
        let q = self.queue_for(hash, old);
        let res = self.write_item(ctx, q, key.as_slice(), &parts, flags, exptime, cas, old);
        if scratch.capacity() > SCRATCH_KEEP {
            scratch = Vec::new();
        }
        self.scratch = scratch;
        res
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
        ctx: &Moment,
        hash: u64,
        old: u32,
        n: u64,
    ) -> Result<u32, StoreError> {
        let mut buf = [0u8; MAX_U64_DIGITS];
        let digits = format_u64(n, &mut buf);
        let layout = self.mem.geo.layout;
        let (chained, value_len, flags, exptime) = {
            let c = self.mem.chunk(old);
            (
                head::chained(c),
                head::value_len(c),
                head::flags(c, &layout),
                head::exptime(c, &layout),
            )
        };
        if !chained && digits.len() <= value_len {
            // In place, as memcached does, unless the value is one readers may be sent by
            // reference (page.rs): then a new record below.
            if let Some(v) = self.mem.small_value_mut(old) {
                v[..digits.len()].copy_from_slice(digits);
                v[digits.len()..].fill(b' ');
                let cas = self.next_cas();
                let c = self.mem.header_mut(old);
                head::set_cas(c, &layout, cas);
                head::set_atime(c, ctx.now);
                return Ok(old);
            }
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
        head::set_cas(self.mem.header_mut(h), &layout, cas);
        head::cas(self.mem.chunk(h), &layout)
    }

    /// Sets a live item's exptime. In place when its record has an exptime field (or the
    /// new exptime is 0 and it has none); otherwise the item is copied to a new record that
    /// has one (same key, value, flags, CAS, meta bits, use count and access time; a
    /// record without the field is unchained, so at most one segment is copied) and the old
    /// record dies. Returns the item's record: `h` or the copy. None if no room could be made
    /// for the copy: the item is then gone, counted as evicted (a cache may drop any item at
    /// any time; an item must never outlive the expiry it was given). With `-M` every
    /// record has the field (`Layout::exptime_always`), so a touch never needs memory there.
    pub fn set_item_exptime(
        &mut self,
        ctx: &Moment,
        hash: u64,
        h: u32,
        exptime: RelTime,
    ) -> Option<u32> {
        let layout = self.mem.geo.layout;
        if head::set_exptime(self.mem.header_mut(h), &layout, exptime) {
            return Some(h);
        }
        match self.copy_with_exptime(ctx, hash, h, exptime) {
            Ok(new) => Some(new),
            Err(_) => {
                self.unlink(h, Exit::Evicted, ctx);
                None
            }
        }
    }

    /// The copy [`Stripe::set_item_exptime`] makes of an item whose record has no exptime
    /// field. On error `old` stays as it was.
    fn copy_with_exptime(
        &mut self,
        ctx: &Moment,
        hash: u64,
        old: u32,
        exptime: RelTime,
    ) -> Result<u32, StoreError> {
        let layout = self.mem.geo.layout;
        let (flags, cas, bits, atime) = {
            let c = self.mem.chunk(old);
            (
                head::flags(c, &layout),
                head::cas(c, &layout),
                head::bits(c),
                head::atime(c),
            )
        };
        let h = self.rewrite(ctx, hash, old, &[], &[], flags, exptime, cas)?;
        let keep = item::FETCHED | item::STALE | item::WIN_SENT | item::KEY_BINARY;
        let c = self.mem.header_mut(h);
        head::set_bits(c, head::bits(c) | (bits & keep));
        head::set_atime(c, atime);
        self.relink(hash, old, h);
        // The same item moved: not a new one for `total_items`.
        self.counters.total_items -= 1;
        Ok(h)
    }

    /// Marks an item as recently used without counting a fetch (memcached's item_update):
    /// one use for the eviction policy, and the access time.
    pub fn touch_lru(&mut self, h: u32, now: RelTime) {
        let cap = self.policy.freq_cap;
        let c = self.mem.header_mut(h);
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

    /// Each case as memcached 1.6.18 answered `incr` on a value stored with `set`.
    #[test]
    fn numbers_parse_like_memcached() {
        let cases: &[(&[u8], Option<u64>)] = &[
            (b"0", Some(0)),
            (b"42", Some(42)),
            (b"9 ", Some(9)),
            (b"9   ", Some(9)),
            (b"18446744073709551615", Some(u64::MAX)),
            (b"18446744073709551616", None),
            (b"99999999999999999999999", None),
            (b"000000000000000000001", Some(1)),
            (b"010", Some(10)),
            (b"00", Some(0)),
            (b"", None),
            (b" ", None),
            (b"   ", None),
            (b" 1", Some(1)),
            (b"  5", Some(5)),
            (b"\t5", Some(5)),
            (b"\n5", Some(5)),
            (b"\r5", Some(5)),
            (b"\x0b5", Some(5)),
            (b"\x0c5", Some(5)),
            (b"+5", Some(5)),
            (b"+", None),
            (b"-", None),
            (b"+-5", None),
            (b"-0", Some(0)),
            (b"-1", None),
            (b"-5", None),
            (b"-18446744073709551615", Some(1)),
            (b"-9223372036854775809", Some(9_223_372_036_854_775_807)),
            (b"-9223372036854775808", None),
            (b"5\r", Some(5)),
            (b"5\n", Some(5)),
            (b"5\t", Some(5)),
            (b"5\x0b", Some(5)),
            (b"5\x00", Some(5)),
            (b"5 x", Some(5)),
            (b"5 5", Some(5)),
            (b"1a", None),
            (b"5x", None),
            (b"0x10", None),
            (b"\x005", None),
        ];
        for (v, want) in cases {
            assert_eq!(parse_number(v), *want, "{:?}", String::from_utf8_lossy(v));
        }
    }
}
