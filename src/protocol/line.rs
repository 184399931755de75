//! The line layer every text-family dialect stands on: framing a request line the way
//! memcached's `try_read_command_ascii` does, its tokenizer (`tokenize_command`), and
//! numbers read as memcached's `util.c` reads them. Shared by the classic text commands
//! ([`super::text`]), the meta commands ([`super::meta`]), the operator commands
//! ([`super::admin`]) and ASCII authentication ([`super::auth`]).

use std::fmt;

/// memcached reads at most this many bytes looking for a newline before it decides the client
/// is sending junk (unless the line is a `get`/`gets` multiget).
pub const MAX_LINE_WITHOUT_NEWLINE: usize = 2048;

/// memcached's `MAX_TOKENS`: the tokenizer keeps 23 tokens plus a terminator.
pub const MAX_TOKENS: usize = 24;

/// Where the first request line of a buffer ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineFrame<'a> {
    /// A whole line: its content (without the newline, without the `\r` before it, cut at the
    /// first NUL byte as memcached's C strings are) and the bytes it spans, newline included.
    Line {
        /// The command line as memcached's tokenizer sees it.
        line: &'a [u8],
        /// Bytes of the buffer the line occupies, up to and including its `\n`.
        len: usize,
    },
    /// No newline yet; read more.
    Incomplete,
    /// More than [`MAX_LINE_WITHOUT_NEWLINE`] bytes without a newline and not a multiget:
    /// memcached closes the connection.
    Close,
}

/// Finds the first request line in `buf`, following memcached's `try_read_command_ascii`.
pub fn frame(buf: &[u8]) -> LineFrame<'_> {
    match memchr::memchr(b'\n', buf) {
        Some(nl) => {
            // memcached strips the '\r' only when the line has at least two bytes before '\n'.
            let end = if nl > 1 && buf[nl - 1] == b'\r' {
                nl - 1
            } else {
                nl
            };
            let line = &buf[..end];
            let line = match memchr::memchr(0, line) {
                Some(nul) => &line[..nul],
                None => line,
            };
            LineFrame::Line { line, len: nl + 1 }
        }
        None if buf.len() > MAX_LINE_WITHOUT_NEWLINE => {
            let spaces = buf.iter().take_while(|&&b| b == b' ').count();
            let rest = &buf[spaces..];
            if spaces > 100 || !(rest.starts_with(b"get ") || rest.starts_with(b"gets ")) {
                LineFrame::Close
            } else {
                LineFrame::Incomplete
            }
        }
        None => LineFrame::Incomplete,
    }
}

/// The first (up to 23) space-separated tokens of a line, as memcached's `tokenize_command`
/// produces them; a fixed array, no allocation.
#[derive(Clone, Copy)]
pub struct Tokens<'a> {
    line: &'a [u8],
    spans: [(usize, usize); MAX_TOKENS - 1],
    len: usize,
}

impl<'a> Tokens<'a> {
    /// Splits `line` on spaces, keeping at most `MAX_TOKENS - 1` tokens.
    pub fn new(line: &'a [u8]) -> Self {
        let mut spans = [(0, 0); MAX_TOKENS - 1];
        let mut len = 0;
        let mut pos = 0;
        while len < spans.len() {
            while pos < line.len() && line[pos] == b' ' {
                pos += 1;
            }
            if pos == line.len() {
                break;
            }
            let end = memchr::memchr(b' ', &line[pos..]).map_or(line.len(), |e| pos + e);
            spans[len] = (pos, end);
            len += 1;
            pos = end;
        }
        Tokens { line, spans, len }
    }

    /// Number of tokens kept (memcached's `ntokens` is this plus one).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the line holds no token at all.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Token `i`, or an empty slice past the end (like memcached's terminator token).
    pub fn get(&self, i: usize) -> &'a [u8] {
        if i < self.len {
            let (s, e) = self.spans[i];
            &self.line[s..e]
        } else {
            &[]
        }
    }

    /// The last token kept (`tokens[ntokens - 2]` in memcached), where `noreply` and the
    /// `HTTP/` marker are looked for.
    pub fn last(&self) -> &'a [u8] {
        self.get(self.len.wrapping_sub(1))
    }

    /// The raw line from token `i` to the end, including any tokens beyond the 23 kept: what a
    /// multiget's key list or a `stats` argument list iterates over.
    pub fn rest_from(&self, i: usize) -> &'a [u8] {
        if i < self.len {
            &self.line[self.spans[i].0..]
        } else {
            &[]
        }
    }
}

impl fmt::Debug for Tokens<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries((0..self.len).map(|i| String::from_utf8_lossy(self.get(i))))
            .finish()
    }
}

/// A zero-copy list of space-separated words: the keys of a multiget, the arguments of
/// `stats`, the flags of a meta command (one name for all three, not `Keys`).
///
/// Iterating yields each token as a subslice of the read buffer. Two `Words` are equal when
/// they yield the same tokens.
#[derive(Clone, Copy, Default)]
pub struct Words<'a> {
    rest: &'a [u8],
}

impl<'a> Words<'a> {
    /// The tokens of `s`, split on spaces.
    pub fn new(s: &'a [u8]) -> Self {
        Words { rest: s }
    }

    /// Whether no token is left.
    pub fn is_empty(&self) -> bool {
        self.rest.iter().all(|&b| b == b' ')
    }
}

impl<'a> Iterator for Words<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let start = self.rest.iter().position(|&b| b != b' ')?;
        let s = &self.rest[start..];
        let end = memchr::memchr(b' ', s).unwrap_or(s.len());
        self.rest = &s[end..];
        Some(&s[..end])
    }
}

impl PartialEq for Words<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.into_iter().eq(*other)
    }
}

impl Eq for Words<'_> {}

impl fmt::Debug for Words<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.into_iter().map(String::from_utf8_lossy))
            .finish()
    }
}

// ---------------------------------------------------------------------------------------------
// Numbers, the way memcached's util.c reads them
// ---------------------------------------------------------------------------------------------

fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// C `strtoul`/`strtol` in base 10 on a token: skips leading whitespace, takes an optional
/// sign and the digits, and returns (negative, magnitude, overflowed). `None` when there is
/// no digit, or when the digits are followed by something other than whitespace (memcached's
/// end rule: the token ends there or continues with whitespace).
fn c_digits(tok: &[u8]) -> Option<(bool, u64, bool)> {
    let mut i = tok.iter().take_while(|&&b| is_c_space(b)).count();
    let mut neg = false;
    if let Some(&sign @ (b'+' | b'-')) = tok.get(i) {
        neg = sign == b'-';
        i += 1;
    }
    let digits_start = i;
    let mut value: u64 = 0;
    let mut overflow = false;
    while let Some(&d @ b'0'..=b'9') = tok.get(i) {
        match value
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(d - b'0')))
        {
            Some(v) => value = v,
            None => overflow = true,
        }
        i += 1;
    }
    if i == digits_start {
        return None;
    }
    match tok.get(i) {
        None => Some((neg, value, overflow)),
        Some(&b) if is_c_space(b) => Some((neg, value, overflow)),
        Some(_) => None,
    }
}

/// memcached's `safe_strtoull`: an unsigned 64-bit number. A leading `-` is accepted when the
/// wrapped result still fits in a signed 64-bit number (`-0` is 0, `-18446744073709551615`
/// is 1), as in C.
pub fn parse_u64(tok: &[u8]) -> Option<u64> {
    let (neg, magnitude, overflow) = c_digits(tok)?;
    if overflow {
        return None;
    }
    let value = if neg {
        magnitude.wrapping_neg()
    } else {
        magnitude
    };
    if neg && (value as i64) < 0 {
        return None;
    }
    Some(value)
}

/// memcached's `safe_strtoul` into a `uint32_t`: [`parse_u64`] truncated to 32 bits
/// (`4294967296` reads as 0, as memcached stores it).
pub fn parse_u32(tok: &[u8]) -> Option<u32> {
    parse_u64(tok).map(|v| v as u32)
}

/// memcached's `safe_strtol` into an `int32_t`: C `strtol` (64-bit, out of range fails),
/// then truncated to 32 bits (`4294967296` reads as 0, `2147483648` as -2147483648).
pub fn parse_i32(tok: &[u8]) -> Option<i32> {
    let (neg, magnitude, overflow) = c_digits(tok)?;
    let limit = if neg { 1u64 << 63 } else { i64::MAX as u64 };
    if overflow || magnitude > limit {
        return None;
    }
    let value = if neg {
        (magnitude as i64).wrapping_neg()
    } else {
        magnitude as i64
    };
    Some(value as i32)
}
