//! Unsigned numbers as decimal ASCII: the one formatter shared by the wire (`protocol`: stats,
//! VALUE lines, incr replies, meta flags) and the store (incr/decr keep counters as decimal
//! text in the item, as memcached does). A leaf module: it imports nothing of larder's, so
//! both sides of the protocol/store boundary can use it.

/// Digits in the longest u64 ("18446744073709551615").
pub const MAX_U64_DIGITS: usize = 20;

/// Writes `n` in decimal (no sign, no padding) at the end of `buf` and returns the digits.
pub fn format_u64(mut n: u64, buf: &mut [u8; MAX_U64_DIGITS]) -> &[u8] {
    let mut i = MAX_U64_DIGITS;
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

/// Appends the decimal digits of `n` (no sign, no padding) to `out`.
pub fn push_u64(out: &mut Vec<u8>, n: u64) {
    let mut buf = [0; MAX_U64_DIGITS];
    out.extend_from_slice(format_u64(n, &mut buf));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_the_whole_range() {
        let mut buf = [0; MAX_U64_DIGITS];
        for (n, s) in [
            (0, "0"),
            (7, "7"),
            (10, "10"),
            (1234, "1234"),
            (u64::MAX, "18446744073709551615"),
        ] {
            assert_eq!(format_u64(n, &mut buf), s.as_bytes());
            let mut out = b"x".to_vec();
            push_u64(&mut out, n);
            assert_eq!(out, format!("x{s}").into_bytes());
        }
    }
}
