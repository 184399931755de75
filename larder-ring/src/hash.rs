//! Key hashes, bit-exact with libmemcached (libhashkit) and twemproxy (nc_hashkit).
//!
//! A fleet mixes clients, so a key must hash to the same 32-bit value here as in the C
//! code. Two details of the C code matter and are reproduced on purpose:
//!
//! - The C functions take `const char *key` and widen each byte with `(uint32_t)key[i]`
//!   or `(uint64_t)key[i]`. `char` is signed on x86-64, so a byte >= 0x80 is
//!   sign-extended (`0x80` becomes `0xffffff80`). `one_at_a_time` and the four FNV
//!   variants see those widened values; see [`signed`].
//! - `crc32` is libmemcached's 15-bit variant (`(crc >> 16) & 0x7fff`); twemproxy calls
//!   the full CRC-32 `crc32a`.
//!
//! This module knows nothing about rings or nodes.

use md5::{Digest, Md5};

/// A key hash function, named as libmemcached and twemproxy name it.
// Variant names mirror the C names (fnv1a_32 and friends) so they are easy to match.
#[allow(non_camel_case_types)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Hash {
    /// `MEMCACHED_HASH_MD5` / `hash: md5`: the first four digest bytes, little-endian.
    Md5,
    /// `MEMCACHED_HASH_DEFAULT` / `hash: one_at_a_time`: Bob Jenkins' one-at-a-time.
    OneAtATime,
    /// `fnv1_32`: FNV-1, 32-bit.
    Fnv1_32,
    /// `fnv1a_32`: FNV-1a, 32-bit.
    Fnv1a_32,
    /// `fnv1_64`: FNV-1, 64-bit state, low 32 bits returned.
    Fnv1_64,
    /// `fnv1a_64`: FNV-1a with the 64-bit basis and prime truncated to 32 bits
    /// (equal to the low 32 bits of the 64-bit computation).
    Fnv1a_64,
    /// `MEMCACHED_HASH_CRC` / twemproxy `crc32`: `(crc32(key) >> 16) & 0x7fff`.
    Crc32,
    /// twemproxy `crc32a`: the full IEEE CRC-32.
    Crc32a,
    /// twemproxy `crc16`: CRC-16/XMODEM steps in a 32-bit state that is never truncated.
    Crc16,
    /// `murmur`: MurmurHash2 with seed `0xdeadbeef * len`.
    Murmur,
    /// `jenkins`: Bob Jenkins' lookup3 `hashlittle` with initial value 13.
    Jenkins,
    /// twemproxy `hsieh`: Paul Hsieh's SuperFastHash as twemproxy writes it (state
    /// starts at 0, not at the length; the third byte of a 3-byte tail is a signed
    /// `char`). libhashkit has it only when built with it, and Debian's is not.
    Hsieh,
    /// libhashkit `MEMCACHED_HASH_MURMUR3`: MurmurHash3 x86_32 with seed
    /// `0xdeadbeef * len`. twemproxy has no murmur3.
    Murmur3,
}

impl Hash {
    /// Every hash, in a stable order (handy for tests and tooling).
    pub const ALL: [Hash; 13] = [
        Hash::Md5,
        Hash::OneAtATime,
        Hash::Fnv1_32,
        Hash::Fnv1a_32,
        Hash::Fnv1_64,
        Hash::Fnv1a_64,
        Hash::Crc32,
        Hash::Crc32a,
        Hash::Crc16,
        Hash::Murmur,
        Hash::Jenkins,
        Hash::Hsieh,
        Hash::Murmur3,
    ];

    /// Hashes `key` exactly as the C clients do.
    pub fn hash(self, key: &[u8]) -> u32 {
        match self {
            Hash::Md5 => md5_point(&md5(key), 0),
            Hash::OneAtATime => one_at_a_time(key),
            Hash::Fnv1_32 => fnv1_32(key),
            Hash::Fnv1a_32 => fnv1a_32(key),
            Hash::Fnv1_64 => fnv1_64(key),
            Hash::Fnv1a_64 => fnv1a_64(key),
            Hash::Crc32 => (crc32fast::hash(key) >> 16) & 0x7fff,
            Hash::Crc32a => crc32fast::hash(key),
            Hash::Crc16 => crc16(key),
            Hash::Murmur => murmur(key),
            Hash::Jenkins => jenkins(key),
            Hash::Hsieh => hsieh(key),
            Hash::Murmur3 => murmur3(key),
        }
    }

    /// Hashes `key` as spymemcached's `DefaultHashAlgorithm` does, the key being the
    /// UTF-8 encoding of a Java `String` (as spymemcached sends it).
    ///
    /// `Md5` is `KETAMA_HASH` and `Crc32` is `CRC_HASH`: both read the UTF-8 bytes, so
    /// they equal [`Hash::hash`]. The four FNV variants (`FNV1_64_HASH`, `FNV1A_64_HASH`,
    /// `FNV1_32_HASH`, `FNV1A_32_HASH`) read the string's UTF-16 code units
    /// (`charAt`), unsigned, and keep the low 32 bits: equal to the C hashes for ASCII
    /// keys, different for any other character. Bytes that are not UTF-8 are decoded as
    /// Java's decoder does (U+FFFD). spymemcached has none of the other hashes; they
    /// fall back to [`Hash::hash`].
    pub fn hash_java(self, key: &[u8]) -> u32 {
        let fnv = matches!(
            self,
            Hash::Fnv1_32 | Hash::Fnv1a_32 | Hash::Fnv1_64 | Hash::Fnv1a_64
        );
        if !fnv || key.is_ascii() {
            return self.hash(key);
        }
        let text = String::from_utf8_lossy(key);
        let units = text.encode_utf16();
        match self {
            Hash::Fnv1_32 => units.fold(FNV_32_INIT, |h, c| {
                h.wrapping_mul(FNV_32_PRIME) ^ u32::from(c)
            }),
            Hash::Fnv1a_32 => units.fold(FNV_32_INIT, |h, c| {
                (h ^ u32::from(c)).wrapping_mul(FNV_32_PRIME)
            }),
            Hash::Fnv1_64 => units.fold(FNV_64_INIT, |h, c| {
                h.wrapping_mul(FNV_64_PRIME) ^ u64::from(c)
            }) as u32,
            _ => units.fold(FNV_64_INIT, |h, c| {
                (h ^ u64::from(c)).wrapping_mul(FNV_64_PRIME)
            }) as u32,
        }
    }

    /// The name twemproxy's `hash:` setting uses (`md5`, `one_at_a_time`, `fnv1a_64`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Hash::Md5 => "md5",
            Hash::OneAtATime => "one_at_a_time",
            Hash::Fnv1_32 => "fnv1_32",
            Hash::Fnv1a_32 => "fnv1a_32",
            Hash::Fnv1_64 => "fnv1_64",
            Hash::Fnv1a_64 => "fnv1a_64",
            Hash::Crc32 => "crc32",
            Hash::Crc32a => "crc32a",
            Hash::Crc16 => "crc16",
            Hash::Murmur => "murmur",
            Hash::Jenkins => "jenkins",
            Hash::Hsieh => "hsieh",
            Hash::Murmur3 => "murmur3",
        }
    }

    /// Parses a twemproxy hash name (also accepts `default` for one_at_a_time and `crc`
    /// for crc32, as libmemcached spells them). Case-insensitive.
    pub fn from_name(name: &str) -> Option<Hash> {
        let lower = name.to_ascii_lowercase();
        match lower.as_str() {
            "default" => return Some(Hash::OneAtATime),
            "crc" => return Some(Hash::Crc32),
            _ => {}
        }
        Hash::ALL.into_iter().find(|h| h.name() == lower)
    }
}

/// The MD5 digest of `data`.
pub fn md5(data: &[u8]) -> [u8; 16] {
    Md5::digest(data).into()
}

/// The `alignment`-th little-endian 32-bit word of an MD5 digest (`alignment` in 0..4):
/// libmemcached's `ketama_server_hash` and twemproxy's `ketama_hash`.
pub fn md5_point(digest: &[u8; 16], alignment: usize) -> u32 {
    let at = (alignment & 3) * 4;
    u32::from_le_bytes([digest[at], digest[at + 1], digest[at + 2], digest[at + 3]])
}

/// A key byte as the C code sees it: `(uint32_t)(char)b`, sign-extended on x86-64.
#[inline]
fn signed(b: u8) -> u32 {
    b as i8 as i32 as u32
}

const FNV_32_INIT: u32 = 2_166_136_261;
const FNV_32_PRIME: u32 = 16_777_619;
const FNV_64_INIT: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_64_PRIME: u64 = 0x0100_0000_01b3;

fn one_at_a_time(key: &[u8]) -> u32 {
    let mut value: u32 = 0;
    for &b in key {
        value = value.wrapping_add(signed(b));
        value = value.wrapping_add(value << 10);
        value ^= value >> 6;
    }
    value = value.wrapping_add(value << 3);
    value ^= value >> 11;
    value.wrapping_add(value << 15)
}

fn fnv1_32(key: &[u8]) -> u32 {
    key.iter().fold(FNV_32_INIT, |h, &b| {
        h.wrapping_mul(FNV_32_PRIME) ^ signed(b)
    })
}

fn fnv1a_32(key: &[u8]) -> u32 {
    key.iter().fold(FNV_32_INIT, |h, &b| {
        (h ^ signed(b)).wrapping_mul(FNV_32_PRIME)
    })
}

fn fnv1_64(key: &[u8]) -> u32 {
    let h = key.iter().fold(FNV_64_INIT, |h, &b| {
        h.wrapping_mul(FNV_64_PRIME) ^ (b as i8 as i64 as u64)
    });
    h as u32
}

fn fnv1a_64(key: &[u8]) -> u32 {
    // The C code keeps a 32-bit state with the truncated basis and prime; the low 32 bits
    // of a product depend only on the low 32 bits of its factors, so this is exact.
    key.iter().fold(FNV_64_INIT as u32, |h, &b| {
        (h ^ signed(b)).wrapping_mul(FNV_64_PRIME as u32)
    })
}

/// The CRC-16/XMODEM table (polynomial 0x1021), as in twemproxy's `nc_crc16.c`.
const CRC16_TABLE: [u16; 256] = {
    let mut table = [0u16; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = (i as u16) << 8;
        let mut bit = 0;
        while bit < 8 {
            c = if c & 0x8000 != 0 {
                (c << 1) ^ 0x1021
            } else {
                c << 1
            };
            bit += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
};

fn crc16(key: &[u8]) -> u32 {
    // twemproxy keeps the CRC in a uint32_t and never truncates it, so bits above 16
    // accumulate: the low 16 bits are CRC-16/XMODEM, the value as a whole is not.
    key.iter().fold(0u32, |crc, &b| {
        (crc << 8) ^ u32::from(CRC16_TABLE[((crc >> 8) ^ u32::from(b)) as usize & 0xff])
    })
}

fn murmur(key: &[u8]) -> u32 {
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let len = key.len() as u32;
    let seed = 0xdead_beef_u32.wrapping_mul(len);
    let mut h = seed ^ len;
    let mut chunks = key.chunks_exact(4);
    for c in &mut chunks {
        let mut k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let tail = chunks.remainder();
    if tail.len() >= 3 {
        h ^= (tail[2] as u32) << 16;
    }
    if tail.len() >= 2 {
        h ^= (tail[1] as u32) << 8;
    }
    if !tail.is_empty() {
        h ^= tail[0] as u32;
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^ (h >> 15)
}

fn jenkins(key: &[u8]) -> u32 {
    const INITVAL: u32 = 13;
    let mut a = 0xdead_beef_u32
        .wrapping_add(key.len() as u32)
        .wrapping_add(INITVAL);
    let mut b = a;
    let mut c = a;
    let word = |s: &[u8]| -> u32 {
        let mut w = [0u8; 4];
        w[..s.len()].copy_from_slice(s);
        u32::from_le_bytes(w)
    };
    let mut rest = key;
    while rest.len() > 12 {
        a = a.wrapping_add(word(&rest[0..4]));
        b = b.wrapping_add(word(&rest[4..8]));
        c = c.wrapping_add(word(&rest[8..12]));
        // mix(a, b, c)
        a = a.wrapping_sub(c);
        a ^= c.rotate_left(4);
        c = c.wrapping_add(b);
        b = b.wrapping_sub(a);
        b ^= a.rotate_left(6);
        a = a.wrapping_add(c);
        c = c.wrapping_sub(b);
        c ^= b.rotate_left(8);
        b = b.wrapping_add(a);
        a = a.wrapping_sub(c);
        a ^= c.rotate_left(16);
        c = c.wrapping_add(b);
        b = b.wrapping_sub(a);
        b ^= a.rotate_left(19);
        a = a.wrapping_add(c);
        c = c.wrapping_sub(b);
        c ^= b.rotate_left(4);
        b = b.wrapping_add(a);
        rest = &rest[12..];
    }
    if rest.is_empty() {
        return c;
    }
    a = a.wrapping_add(word(&rest[..rest.len().min(4)]));
    if rest.len() > 4 {
        b = b.wrapping_add(word(&rest[4..rest.len().min(8)]));
    }
    if rest.len() > 8 {
        c = c.wrapping_add(word(&rest[8..]));
    }
    // final(a, b, c)
    c ^= b;
    c = c.wrapping_sub(b.rotate_left(14));
    a ^= c;
    a = a.wrapping_sub(c.rotate_left(11));
    b ^= a;
    b = b.wrapping_sub(a.rotate_left(25));
    c ^= b;
    c = c.wrapping_sub(b.rotate_left(16));
    a ^= c;
    a = a.wrapping_sub(c.rotate_left(4));
    b ^= a;
    b = b.wrapping_sub(a.rotate_left(14));
    c ^= b;
    c.wrapping_sub(b.rotate_left(24))
}

fn hsieh(key: &[u8]) -> u32 {
    // twemproxy's nc_hsieh.c. get16bits reads two bytes little-endian, unsigned.
    if key.is_empty() {
        return 0;
    }
    let get16 = |s: &[u8]| u32::from(s[0]) | (u32::from(s[1]) << 8);
    let mut hash: u32 = 0;
    let mut chunks = key.chunks_exact(4);
    for c in &mut chunks {
        hash = hash.wrapping_add(get16(&c[0..2]));
        let tmp = (get16(&c[2..4]) << 11) ^ hash;
        hash = (hash << 16) ^ tmp;
        hash = hash.wrapping_add(hash >> 11);
    }
    let tail = chunks.remainder();
    match tail.len() {
        3 => {
            hash = hash.wrapping_add(get16(tail));
            hash ^= hash << 16;
            // (uint32_t)key[2]: a signed char, sign-extended before the shift.
            hash ^= signed(tail[2]) << 18;
            hash = hash.wrapping_add(hash >> 11);
        }
        2 => {
            hash = hash.wrapping_add(get16(tail));
            hash ^= hash << 11;
            hash = hash.wrapping_add(hash >> 17);
        }
        1 => {
            hash = hash.wrapping_add(u32::from(tail[0]));
            hash ^= hash << 10;
            hash = hash.wrapping_add(hash >> 1);
        }
        _ => {}
    }
    hash ^= hash << 3;
    hash = hash.wrapping_add(hash >> 5);
    hash ^= hash << 4;
    hash = hash.wrapping_add(hash >> 17);
    hash ^= hash << 25;
    hash.wrapping_add(hash >> 6)
}

fn murmur3(key: &[u8]) -> u32 {
    // libhashkit's murmur3.cc: MurmurHash3_x86_32(key, len, 0xdeadbeef * len).
    const C1: u32 = 0xcc9e_2d51;
    const C2: u32 = 0x1b87_3593;
    let len = key.len() as u32;
    let mut h = 0xdead_beef_u32.wrapping_mul(len);
    let mut chunks = key.chunks_exact(4);
    for c in &mut chunks {
        let mut k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2);
        h ^= k;
        h = h.rotate_left(13).wrapping_mul(5).wrapping_add(0xe654_6b64);
    }
    let tail = chunks.remainder();
    if !tail.is_empty() {
        let mut k: u32 = 0;
        for (i, b) in tail.iter().enumerate() {
            k ^= u32::from(*b) << (8 * i);
        }
        h ^= k.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2);
    }
    h ^= len;
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^ (h >> 16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for h in Hash::ALL {
            assert_eq!(Hash::from_name(h.name()), Some(h));
        }
        assert_eq!(Hash::from_name("DEFAULT"), Some(Hash::OneAtATime));
        assert_eq!(Hash::from_name("crc"), Some(Hash::Crc32));
        assert_eq!(Hash::from_name("sha1"), None);
    }

    #[test]
    fn murmur3_matches_libhashkit() {
        // libhashkit_murmur3() from Debian's libhashkit2 1.1.4.
        assert_eq!(Hash::Murmur3.hash(b"abc"), 634_628_250);
        assert_eq!(Hash::Murmur3.hash(b"a"), 2_289_228_744);
    }

    #[test]
    fn java_fnv_reads_utf16_units() {
        // ASCII: the same as the C hashes.
        assert_eq!(
            Hash::Fnv1a_64.hash_java(b"key"),
            Hash::Fnv1a_64.hash(b"key")
        );
        // "é" is one UTF-16 unit 0xe9; the C code sees two sign-extended bytes.
        let want = (FNV_64_INIT ^ 0xe9).wrapping_mul(FNV_64_PRIME) as u32;
        assert_eq!(Hash::Fnv1a_64.hash_java("é".as_bytes()), want);
        assert_ne!(Hash::Fnv1a_64.hash("é".as_bytes()), want);
        assert_eq!(
            Hash::Md5.hash_java("é".as_bytes()),
            Hash::Md5.hash("é".as_bytes())
        );
    }

    #[test]
    fn crc16_low_bits_are_xmodem() {
        assert_eq!(Hash::Crc16.hash(b"123456789") & 0xffff, 0x31c3);
        assert_eq!(Hash::Crc16.hash(b"1"), 0x2672);
        assert!(Hash::Crc16.hash(b"123456789") > 0xffff);
    }

    #[test]
    fn crc32a_is_ieee() {
        assert_eq!(Hash::Crc32a.hash(b"123456789"), 0xcbf4_3926);
        assert_eq!(Hash::Crc32.hash(b"123456789"), (0xcbf4_3926 >> 16) & 0x7fff);
    }

    #[test]
    fn md5_point_words_are_little_endian() {
        let d = md5(b"");
        // d41d8cd98f00b204e9800998ecf8427e
        assert_eq!(md5_point(&d, 0), 0xd98c_1dd4);
        assert_eq!(md5_point(&d, 3), 0x7e42_f8ec);
        assert_eq!(Hash::Md5.hash(b""), 0xd98c_1dd4);
    }

    #[test]
    fn high_bytes_are_sign_extended_like_c_char() {
        // For one byte, FNV-1a 32 is (basis ^ widened byte) * prime.
        let expect = (FNV_32_INIT ^ 0xffff_ff80).wrapping_mul(FNV_32_PRIME);
        assert_eq!(Hash::Fnv1a_32.hash(&[0x80]), expect);
        let unsigned = (FNV_32_INIT ^ 0x80).wrapping_mul(FNV_32_PRIME);
        assert_ne!(Hash::Fnv1a_32.hash(&[0x80]), unsigned);
    }
}
