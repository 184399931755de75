//! Record layout inside a segment: every record kind's bytes, and field access on them
//! (the read-only views handed to callers are in `view.rs`).
//!
//! Owns the byte layout of every record kind. Records are appended back to back in a
//! segment (see `segment.rs`), unaligned: all fields are little-endian and read with
//! `from_le_bytes` on slices, so nothing needs alignment and no `unsafe` is used. A record's
//! length follows from its own header, so a segment can be walked record by record.
//!
//! Head record (an item; an 18-byte fixed header with CAS, 10 without, then 4 bytes of
//! exptime only when it is not 0 and 4 bytes of client flags only when they are not 0):
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 1 | bits: tag (2 low bits) + FETCHED, STALE, WIN_SENT, CHAINED, KEY_BINARY |
//! | 1 | 1 | key length (1..=250) |
//! | 2 | 4 | value length (whole value, all records; 30 bits) + access frequency (2 top bits) |
//! | 6 | 4 | last access time (RelTime, 30 bits) + HAS_EXPTIME, HAS_FLAGS (top bits) |
//! | 10 | 8 | CAS unique (absent when `use_cas` is false) |
//! | hdr | 4 | exptime (RelTime; only when HAS_EXPTIME, else 0 = never) |
//! | .. | 4 | client flags (only when HAS_FLAGS, else 0) |
//! | .. | 4 | next chunk reference (only when CHAINED) |
//! | .. | klen | key |
//! | .. | .. | value (or its first part when CHAINED) |
//!
//! Why the two fields are optional: most items carry flags 0 (memtier_benchmark, most
//! clients' plain strings and bytes), many no expiry, and 4 bytes is 3% of a 100-byte item:
//! that many more items per megabyte. A record's flags never change in place (only a new
//! record has new flags). Its exptime does (touch, gat, meta `T`): a record with an exptime
//! field is rewritten in place; one without gets the field by being copied to a new record
//! (`Stripe::set_item_exptime`), so a CHAINED record, too large to copy for a touch, always
//! has the field. The presence bits live in the top bits of the last access time, which
//! counts seconds since the process started and so never reaches 2^30 (34 years).
//!
//! An unchained head record is exactly header + optional fields + key + value long. A
//! CHAINED head record (an item larger than a segment) starts a segment of its own and
//! fills it.
//!
//! Continuation record (CONT): `[0] tag, [1..5] owner head reference, [5..9] next reference,
//! [9..13] value bytes in this record, [13..] value bytes`.
//! DEAD marks a record whose item left the cache: its bytes stay (so the segment can still be
//! walked) until the segment is evicted or compacted. RESERVED marks a record of an item still
//! being written.

use crate::clock::RelTime;

/// The null record reference: no record (the last page slot is never used, so no real
/// reference equals it).
pub(crate) const NIL: u32 = u32::MAX;

pub(crate) const TAG_MASK: u8 = 0b11;
pub(crate) const TAG_DEAD: u8 = 0;
pub(crate) const TAG_HEAD: u8 = 1;
pub(crate) const TAG_CONT: u8 = 2;
pub(crate) const TAG_RESERVED: u8 = 3;
/// On a continuation record only: it was one (its tag may since have become DEAD), so its
/// length is read from its CONT header. Head records never set this bit.
pub(crate) const WAS_CONT: u8 = 1 << 2;
pub(crate) const FETCHED: u8 = 1 << 3;
pub(crate) const STALE: u8 = 1 << 4;
pub(crate) const WIN_SENT: u8 = 1 << 5;
pub(crate) const CHAINED: u8 = 1 << 6;
/// The key was sent in base64 (meta `b`): `mg k` echoes it in base64 (memcached's
/// ITEM_KEY_BINARY). Only `ms` sets it; every new item starts without it.
pub(crate) const KEY_BINARY: u8 = 1 << 7;

const OFF_BITS: usize = 0;
const OFF_KLEN: usize = 1;
const OFF_VLEN: usize = 2;
const OFF_ATIME: usize = 6;
const OFF_CAS: usize = 10;
/// In the last access time field: the record has a client flags field.
const HAS_FLAGS: u32 = 1 << 31;
/// In the last access time field: the record has an exptime field.
const HAS_EXPTIME: u32 = 1 << 30;
/// The last access time's own bits.
const ATIME_MASK: u32 = HAS_EXPTIME - 1;
/// Header bytes of a continuation record.
pub(crate) const CONT_HDR: usize = 13;
pub(crate) const CONT_OWNER: usize = 1;
pub(crate) const CONT_NEXT: usize = 5;
pub(crate) const CONT_LEN: usize = 9;
/// The value length field's low 30 bits (values are at most 1 GiB).
const VLEN_MASK: u32 = (1 << 30) - 1;
/// Highest access frequency an item records (2 bits).
pub(crate) const FREQ_MAX: u8 = 3;

#[inline]
pub(crate) fn get_u32(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(b[off..off + 4].try_into().expect("4-byte slice"))
}

#[inline]
pub(crate) fn put_u32(b: &mut [u8], off: usize, v: u32) {
    b[off..off + 4].copy_from_slice(&v.to_le_bytes());
}

#[inline]
pub(crate) fn tag(chunk: &[u8]) -> u8 {
    chunk[OFF_BITS] & TAG_MASK
}

/// Header layout: the fixed part depends only on whether CAS is stored; after it come the
/// optional client flags and (chained items) the next reference.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Layout {
    pub use_cas: bool,
    /// Every record has an exptime field (without eviction, `-M`: then setting an exptime
    /// never has to copy an item, which could find no room).
    pub exptime_always: bool,
    /// Fixed header bytes (18 with CAS, 10 without).
    pub hdr: usize,
}

/// Bytes of an optional field holding `v` (absent when 0).
#[inline]
pub(crate) fn opt_len(v: u32) -> usize {
    if v == 0 {
        0
    } else {
        4
    }
}

/// The fields of an item to be written.
pub(crate) struct Header {
    pub key_len: u8,
    pub value_len: u32,
    pub flags: u32,
    pub exptime: RelTime,
    pub atime: RelTime,
    pub cas: u64,
}

impl Layout {
    pub fn new(use_cas: bool, exptime_always: bool) -> Layout {
        Layout {
            use_cas,
            exptime_always,
            hdr: if use_cas { OFF_CAS + 8 } else { OFF_CAS },
        }
    }

    /// Offset of the flags field of a head chunk (after the exptime field, if any).
    #[inline]
    fn flags_off(&self, c: &[u8]) -> usize {
        self.hdr + if head::has_exptime(c) { 4 } else { 0 }
    }

    /// Offset of the next reference in a CHAINED head chunk (after the optional fields).
    #[inline]
    pub fn next_off(&self, c: &[u8]) -> usize {
        self.flags_off(c) + if head::has_flags(c) { 4 } else { 0 }
    }

    /// Offset of the key in a head chunk (whose header is written).
    #[inline]
    pub fn key_off(&self, c: &[u8]) -> usize {
        self.next_off(c) + if head::chained(c) { 4 } else { 0 }
    }

    /// Bytes of an unchained item: header (with its optional fields) + key + value. (A
    /// chained item's head always has the exptime field: 4 bytes more when `exptime` is 0.)
    #[inline]
    pub fn total(&self, key_len: usize, value_len: usize, flags: u32, exptime: RelTime) -> usize {
        let exptime_len = if self.exptime_always {
            4
        } else {
            opt_len(exptime)
        };
        self.hdr + exptime_len + opt_len(flags) + key_len + value_len
    }

    /// [`Layout::total`] of the item whose head chunk this is.
    #[inline]
    pub fn total_of(&self, c: &[u8]) -> usize {
        self.next_off(c) + head::key_len(c) + head::value_len(c)
    }

    /// Writes a head chunk's header (tag RESERVED until linked; `next` only when chained).
    pub fn write_header(&self, c: &mut [u8], h: &Header, chained: bool) {
        c[OFF_BITS] = TAG_RESERVED | if chained { CHAINED } else { 0 };
        c[OFF_KLEN] = h.key_len;
        put_u32(c, OFF_VLEN, h.value_len);
        let has_exptime = h.exptime != 0 || chained || self.exptime_always;
        let mut atime = h.atime & ATIME_MASK;
        if has_exptime {
            atime |= HAS_EXPTIME;
        }
        if h.flags != 0 {
            atime |= HAS_FLAGS;
        }
        put_u32(c, OFF_ATIME, atime);
        if self.use_cas {
            c[OFF_CAS..OFF_CAS + 8].copy_from_slice(&h.cas.to_le_bytes());
        }
        if has_exptime {
            put_u32(c, self.hdr, h.exptime);
        }
        if h.flags != 0 {
            put_u32(c, self.flags_off(c), h.flags);
        }
        if chained {
            put_u32(c, self.next_off(c), NIL);
        }
    }
}

/// Field access on a head chunk.
pub(crate) mod head {
    use super::*;

    #[inline]
    pub fn bits(c: &[u8]) -> u8 {
        c[OFF_BITS]
    }
    #[inline]
    pub fn set_bits(c: &mut [u8], bits: u8) {
        c[OFF_BITS] = bits;
    }
    #[inline]
    pub fn key_len(c: &[u8]) -> usize {
        c[OFF_KLEN] as usize
    }
    #[inline]
    pub fn value_len(c: &[u8]) -> usize {
        (get_u32(c, OFF_VLEN) & VLEN_MASK) as usize
    }
    /// Access frequency since the item was stored or last passed over by eviction (0..=3).
    #[inline]
    pub fn freq(c: &[u8]) -> u8 {
        (get_u32(c, OFF_VLEN) >> 30) as u8
    }
    #[inline]
    pub fn set_freq(c: &mut [u8], f: u8) {
        let v = get_u32(c, OFF_VLEN) & VLEN_MASK;
        put_u32(c, OFF_VLEN, v | (u32::from(f.min(FREQ_MAX)) << 30));
    }
    /// Does the record have a client flags field (flags not 0)?
    #[inline]
    pub fn has_flags(c: &[u8]) -> bool {
        get_u32(c, OFF_ATIME) & HAS_FLAGS != 0
    }
    #[inline]
    pub fn flags(c: &[u8], l: &Layout) -> u32 {
        if has_flags(c) {
            get_u32(c, l.flags_off(c))
        } else {
            0
        }
    }
    /// Does the record have an exptime field?
    #[inline]
    pub fn has_exptime(c: &[u8]) -> bool {
        get_u32(c, OFF_ATIME) & HAS_EXPTIME != 0
    }
    #[inline]
    pub fn exptime(c: &[u8], l: &Layout) -> RelTime {
        if has_exptime(c) {
            get_u32(c, l.hdr)
        } else {
            0
        }
    }
    /// Sets the exptime in place: true if done, false if the record has no exptime field
    /// and `t` is not 0 (the item must be rewritten with one: `Stripe::set_item_exptime`).
    #[inline]
    #[must_use]
    pub fn set_exptime(c: &mut [u8], l: &Layout, t: RelTime) -> bool {
        if has_exptime(c) {
            put_u32(c, l.hdr, t);
            true
        } else {
            t == 0
        }
    }
    #[inline]
    pub fn atime(c: &[u8]) -> RelTime {
        get_u32(c, OFF_ATIME) & ATIME_MASK
    }
    /// Sets the last access time (keeps the presence bits that share its field).
    #[inline]
    pub fn set_atime(c: &mut [u8], t: RelTime) {
        let bits = get_u32(c, OFF_ATIME) & !ATIME_MASK;
        put_u32(c, OFF_ATIME, (t & ATIME_MASK) | bits)
    }
    #[inline]
    pub fn cas(c: &[u8], l: &Layout) -> u64 {
        if l.use_cas {
            u64::from_le_bytes(c[OFF_CAS..OFF_CAS + 8].try_into().expect("8-byte slice"))
        } else {
            0
        }
    }
    #[inline]
    pub fn set_cas(c: &mut [u8], l: &Layout, cas: u64) {
        if l.use_cas {
            c[OFF_CAS..OFF_CAS + 8].copy_from_slice(&cas.to_le_bytes());
        }
    }
    #[inline]
    pub fn chained(c: &[u8]) -> bool {
        c[OFF_BITS] & CHAINED != 0
    }
    #[inline]
    pub fn next(c: &[u8], l: &Layout) -> u32 {
        if chained(c) {
            get_u32(c, l.next_off(c))
        } else {
            NIL
        }
    }
    #[inline]
    pub fn key<'c>(c: &'c [u8], l: &Layout) -> &'c [u8] {
        let off = l.key_off(c);
        &c[off..off + key_len(c)]
    }
    /// The part of the value stored in the head chunk.
    #[inline]
    pub fn value_part<'c>(c: &'c [u8], l: &Layout) -> &'c [u8] {
        let off = l.key_off(c) + key_len(c);
        let end = (off + value_len(c)).min(c.len());
        &c[off..end]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_is_18_bytes_with_cas_and_10_without_plus_4_per_optional_field() {
        assert_eq!(Layout::new(true, false).hdr, 18);
        assert_eq!(Layout::new(false, false).hdr, 10);
        // 12-byte key + 100-byte value, with and without flags and exptime.
        let l = Layout::new(true, false);
        assert_eq!(l.total(12, 100, 0, 0), 130);
        assert_eq!(l.total(12, 100, 7, 0), 134);
        assert_eq!(l.total(12, 100, 0, 9), 134);
        assert_eq!(l.total(12, 100, 7, 9), 138);
        // Without eviction every record has the exptime field.
        assert_eq!(Layout::new(true, true).total(12, 100, 0, 0), 134);
    }

    #[test]
    fn header_round_trip() {
        for (use_cas, always) in [(true, false), (false, false), (true, true)] {
            for flags in [0, 1, 0xdead_beef] {
                for exptime in [0, 77] {
                    for chained in [false, true] {
                        round_trip(Layout::new(use_cas, always), flags, exptime, chained);
                    }
                }
            }
        }
    }

    fn round_trip(l: Layout, flags: u32, exptime: RelTime, chained: bool) {
        let mut c = vec![0u8; 96];
        let h = Header {
            key_len: 3,
            value_len: 5,
            flags,
            exptime,
            atime: 9,
            cas: 0x0102_0304_0506_0708,
        };
        l.write_header(&mut c, &h, chained);
        let has_exptime = exptime != 0 || chained || l.exptime_always;
        assert_eq!(head::has_exptime(&c), has_exptime);
        assert_eq!(head::has_flags(&c), flags != 0);
        let off = l.key_off(&c);
        let want_off =
            l.hdr + if has_exptime { 4 } else { 0 } + opt_len(flags) + if chained { 4 } else { 0 };
        assert_eq!(off, want_off);
        c[off..off + 3].copy_from_slice(b"abc");
        c[off + 3..off + 8].copy_from_slice(b"hello");
        let case = format!("flags {flags} exptime {exptime} chained {chained} {l:?}");
        assert_eq!(tag(&c), TAG_RESERVED, "{case}");
        assert_eq!(head::chained(&c), chained, "{case}");
        assert_eq!(head::key(&c, &l), b"abc", "{case}");
        assert_eq!(head::value_part(&c, &l), b"hello", "{case}");
        assert_eq!(head::flags(&c, &l), flags, "{case}");
        assert_eq!(head::exptime(&c, &l), exptime, "{case}");
        assert_eq!(head::atime(&c), 9, "{case}");
        let cas = if l.use_cas { h.cas } else { 0 };
        assert_eq!(head::cas(&c, &l), cas, "{case}");
        assert_eq!(head::next(&c, &l), NIL, "{case}");
        if !chained {
            assert_eq!(l.total_of(&c), l.total(3, 5, flags, exptime), "{case}");
        }
        head::set_cas(&mut c, &l, 5);
        assert_eq!(head::cas(&c, &l), if l.use_cas { 5 } else { 0 });
        // In place only where the field is; 0 always "fits" (no field reads 0).
        assert!(head::set_exptime(&mut c, &l, 0));
        assert_eq!(head::exptime(&c, &l), 0);
        assert_eq!(head::set_exptime(&mut c, &l, 1), has_exptime, "{case}");
        assert_eq!(head::exptime(&c, &l), if has_exptime { 1 } else { 0 });
        // The access time shares its field with the presence bits.
        head::set_atime(&mut c, ATIME_MASK);
        assert_eq!(head::atime(&c), ATIME_MASK);
        head::set_atime(&mut c, 12);
        assert_eq!(head::atime(&c), 12);
        assert_eq!(head::has_exptime(&c), has_exptime, "{case}");
        assert_eq!(head::flags(&c, &l), flags, "{case}");
        assert_eq!(head::key(&c, &l), b"abc", "{case}");
        assert_eq!(head::value_part(&c, &l), b"hello", "{case}");
    }
}
