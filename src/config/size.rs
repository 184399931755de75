//! Byte counts as memcached's options write them: `-I 2m`, `-o slab_chunk_max=512k`.
//! (Used by both the flags, `cli.rs`, and the `-o` suboptions, `extended.rs`.)

/// A byte count with an optional `k` or `m` suffix (either case); `None` if malformed or
/// overflowing.
pub(crate) fn parse_size(text: &str) -> Option<usize> {
    let text = text.trim();
    let (digits, multiplier) = match text.as_bytes().last()? {
        b'k' | b'K' => (&text[..text.len() - 1], 1024),
        b'm' | b'M' => (&text[..text.len() - 1], 1024 * 1024),
        _ => (text, 1),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse::<usize>().ok()?.checked_mul(multiplier)
}
