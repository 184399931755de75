//! The classic text protocol: line framing, the tokenizer, request parsing, reply encoding.
//!
//! # What this file owns
//!
//! - **Framing** ([`frame`]): where a request line ends, memcached's rules for `\r\n` versus a
//!   bare `\n`, and the 2048-byte cap on a line without a newline (huge `get`/`gets` lines are
//!   let through, everything else closes the connection).
//! - **Tokenizing** ([`Tokens`], [`Keys`]): memcached splits on the space character only (a tab
//!   is part of a token), stops at the first NUL byte, and looks at no more than 23 tokens
//!   (`MAX_TOKENS` = 24 with the terminator); multigets go on past that. The meta commands
//!   parse on the same tokenizer.
//! - **Numbers** ([`parse_u64`], [`parse_u32`], [`parse_i32`]): `safe_strtoull`,
//!   `safe_strtoul` and `safe_strtol` from memcached's `util.c`, quirks included (leading
//!   whitespace and `+` accepted, a trailing tab accepted, 32-bit results truncated).
//! - **Parsing** ([`parse`]): one request from the front of the buffer, as a [`Request`]
//!   borrowing keys and data from the buffer, with memcached's exact error for every malformed
//!   line (see [`crate::protocol::ParseError`]). Two-letter commands starting with `m` go to
//!   [`super::meta`].
//! - **Encoding** (`encode_*`): the reply lines, appended to a `Vec<u8>` without other
//!   allocation.
//!
//! It does not know the store, the configuration or the socket; it never looks anything up,
//! so replies that depend on state (hits, `NOT_FOUND`, `shutdown` being disabled, `stats`
//! subcommands) are the command layer's.
//!
//! # Invariants
//!
//! - `Complete(_, n)` and `Invalid(e)` never report more than `buf.len()` bytes consumed.
//! - Every strict prefix of a valid request whose line fits in 2048 bytes is `Incomplete`.
//! - Nothing here panics or allocates, whatever the input.

use super::meta::{self, MetaRequest};
use super::{ErrorReply, Limits, ParseError, Parsed, MAX_KEY_LEN};
use std::fmt;

/// memcached reads at most this many bytes looking for a newline before it decides the client
/// is sending junk (unless the line is a `get`/`gets` multiget).
pub const MAX_LINE_WITHOUT_NEWLINE: usize = 2048;

/// memcached's `MAX_TOKENS`: the tokenizer keeps 23 tokens plus a terminator.
pub const MAX_TOKENS: usize = 24;

/// Bytes of memcached's per-item overhead that count against `-I`: the 48-byte item header
/// and the 8-byte CAS value (`sizeof(item)` + `sizeof(uint64_t)` on 64-bit builds).
pub const ITEM_HEADER_SIZE: usize = 56;

const BAD_FORMAT: ErrorReply = ErrorReply::Client("bad command line format");
const BAD_EXPTIME: ErrorReply = ErrorReply::Client("invalid exptime argument");
const BAD_DELTA: ErrorReply = ErrorReply::Client("invalid numeric delta argument");
const BAD_CHUNK: ErrorReply = ErrorReply::Client("bad data chunk");
const DELETE_USAGE: ErrorReply =
    ErrorReply::Client("bad command line format.  Usage: delete <key> [noreply]");
const BAD_SHUTDOWN: ErrorReply = ErrorReply::Client("invalid shutdown mode");
const TOO_LARGE: ErrorReply = ErrorReply::Server("object too large for cache");

// ---------------------------------------------------------------------------------------------
// Framing and tokenizing (shared with the meta commands)
// ---------------------------------------------------------------------------------------------

/// Where the first request line of a buffer ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame<'a> {
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
pub fn frame(buf: &[u8]) -> Frame<'_> {
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
            Frame::Line { line, len: nl + 1 }
        }
        None if buf.len() > MAX_LINE_WITHOUT_NEWLINE => {
            let spaces = buf.iter().take_while(|&&b| b == b' ').count();
            let rest = &buf[spaces..];
            if spaces > 100 || !(rest.starts_with(b"get ") || rest.starts_with(b"gets ")) {
                Frame::Close
            } else {
                Frame::Incomplete
            }
        }
        None => Frame::Incomplete,
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

/// A zero-copy list of space-separated tokens (keys of a multiget, arguments of `stats`).
///
/// Iterating yields each token as a subslice of the read buffer. Two `Keys` are equal when
/// they yield the same tokens.
#[derive(Clone, Copy, Default)]
pub struct Keys<'a> {
    rest: &'a [u8],
}

impl<'a> Keys<'a> {
    /// The tokens of `s`, split on spaces.
    pub fn new(s: &'a [u8]) -> Self {
        Keys { rest: s }
    }

    /// Whether no token is left.
    pub fn is_empty(&self) -> bool {
        self.rest.iter().all(|&b| b == b' ')
    }
}

impl<'a> Iterator for Keys<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let start = self.rest.iter().position(|&b| b != b' ')?;
        let s = &self.rest[start..];
        let end = memchr::memchr(b' ', s).unwrap_or(s.len());
        self.rest = &s[end..];
        Some(&s[..end])
    }
}

impl PartialEq for Keys<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.into_iter().eq(*other)
    }
}

impl Eq for Keys<'_> {}

impl fmt::Debug for Keys<'_> {
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

/// Whether memcached refuses to allocate an item for this storage command under `-I`:
/// memcached's `item_size_ok`, which counts the item header and CAS
/// ([`ITEM_HEADER_SIZE`]), the key and its NUL, 4 bytes of client flags when they are not
/// zero, and the data with its `\r\n`.
pub fn item_too_large(limits: &Limits, key_len: usize, flags: u32, data_len: usize) -> bool {
    let suffix = if flags == 0 { 0 } else { 4 };
    let total = ITEM_HEADER_SIZE
        .saturating_add(key_len + 1 + suffix)
        .saturating_add(data_len.saturating_add(2));
    total > limits.item_size_max
}

// ---------------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------------

/// Which storage command a [`Request::Store`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    /// `set`: store unconditionally.
    Set,
    /// `add`: store only if the key is absent.
    Add,
    /// `replace`: store only if the key is present.
    Replace,
    /// `append`: add the data after the existing value (flags and exptime are ignored).
    Append,
    /// `prepend`: add the data before the existing value (flags and exptime are ignored).
    Prepend,
    /// `cas`: store only if the item's CAS value is still `cas_unique`.
    Cas,
}

/// One parsed text-protocol request, borrowing keys and data from the read buffer.
///
/// Numbers are already read with memcached's rules (see [`parse_i32`]): an `exptime` is the
/// raw client value (0 = never, negative = already expired, up to 30 days relative, else a
/// unix time), applied by the command layer.
///
/// The `Meta` variant makes this a few hundred bytes (a decoded base64 key is kept inline so
/// that no request allocates); a `Request` lives on the stack for one parse-execute step.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request<'a> {
    /// `get` / `gets` (and memcached's undocumented alias `bget`).
    Get {
        /// The keys to look up, in order (at least one token was present on the line).
        keys: Keys<'a>,
        /// `gets`: include the CAS value in each `VALUE` line.
        with_cas: bool,
        /// A key longer than [`MAX_KEY_LEN`] stopped the line: `keys` holds the keys before
        /// it and this is the error to write. memcached 1.6.18 looks the earlier keys up
        /// (stats and LRU as for any get) but then *discards* their `VALUE` lines and writes
        /// only this error, without `END`; to match it byte for byte, write only this.
        bad_key: Option<ErrorReply>,
    },
    /// `gat` / `gats`: get and touch.
    Gat {
        /// New expiration time for every key found.
        exptime: i64,
        /// The keys; may be empty (`gat 10` answers just `END`).
        keys: Keys<'a>,
        /// `gats`: include the CAS value.
        with_cas: bool,
        /// As for [`Request::Get`].
        bad_key: Option<ErrorReply>,
    },
    /// `set`, `add`, `replace`, `append`, `prepend`, `cas` with their data block.
    Store {
        /// Which command.
        kind: StoreKind,
        /// The key (1 to 250 bytes).
        key: &'a [u8],
        /// Client flags, truncated to 32 bits as memcached does.
        flags: u32,
        /// Expiration time as sent by the client.
        exptime: i64,
        /// The value, without its trailing `\r\n`.
        data: &'a [u8],
        /// The CAS value to compare for `cas`; 0 for the other commands.
        cas_unique: u64,
        /// Suppress the reply.
        noreply: bool,
    },
    /// `delete <key> [0] [noreply]`.
    Delete {
        /// The key.
        key: &'a [u8],
        /// Suppress the reply.
        noreply: bool,
    },
    /// `incr` / `decr`.
    Arith {
        /// The key.
        key: &'a [u8],
        /// `incr` (else `decr`).
        incr: bool,
        /// The amount.
        delta: u64,
        /// Suppress the reply.
        noreply: bool,
    },
    /// `touch <key> <exptime> [noreply]`.
    Touch {
        /// The key.
        key: &'a [u8],
        /// New expiration time.
        exptime: i64,
        /// Suppress the reply.
        noreply: bool,
    },
    /// `flush_all [delay] [noreply]`.
    FlushAll {
        /// Seconds (or unix time) before the flush takes effect; 0 or negative means now
        /// (memcached treats `flush_all -1` exactly like `flush_all`).
        delay: i64,
        /// Suppress the reply.
        noreply: bool,
    },
    /// `version`.
    Version,
    /// `verbosity <level> [noreply]`.
    Verbosity {
        /// The requested level (memcached clamps it to its maximum).
        level: u32,
        /// Suppress the reply.
        noreply: bool,
    },
    /// `quit`: close the connection without a reply.
    Quit,
    /// `shutdown [graceful]` (only honoured when the server enables it; otherwise memcached
    /// answers `ERROR: shutdown not enabled`).
    Shutdown {
        /// `shutdown graceful`.
        graceful: bool,
    },
    /// `cache_memlimit <megabytes> [noreply]`.
    CacheMemlimit {
        /// New memory limit in megabytes (memcached's 32-bit value).
        megabytes: u64,
        /// Suppress the reply.
        noreply: bool,
    },
    /// `stats [args...]`; the command layer interprets the arguments.
    Stats {
        /// The tokens after `stats` (empty for plain `stats`).
        args: Keys<'a>,
    },
    /// A meta command (`mg`, `ms`, `md`, `ma`, `mn`, `me`); see [`super::meta`].
    Meta(MetaRequest<'a>),
}

/// Parses the request at the front of `buf`.
///
/// Returns `Complete(request, consumed)` when a whole request (line and, for storage commands,
/// data block) is present, `Incomplete` when more bytes are needed, and `Invalid` with
/// memcached's reply otherwise. Never panics and never reads past `buf`.
pub fn parse<'a>(buf: &'a [u8], limits: &Limits) -> Parsed<Request<'a>> {
    let (line, line_len) = match frame(buf) {
        Frame::Line { line, len } => (line, len),
        Frame::Incomplete => return Parsed::Incomplete,
        Frame::Close => return Parsed::Invalid(ParseError::close(buf.len())),
    };
    let toks = Tokens::new(line);
    let cmd = toks.get(0);
    // memcached: "All commands need a minimum of two tokens ... no valid commands shorter
    // than two bytes".
    if cmd.len() < 2 {
        return invalid(ErrorReply::Error, line_len, false);
    }
    let n = toks.len();
    // memcached: "Meta commands are all 2-char in length."
    if cmd[0] == b'm' && cmd.len() == 2 {
        return match meta::parse_command(cmd[1], buf, &toks, line_len, limits) {
            Parsed::Complete(req, used) => Parsed::Complete(Request::Meta(req), used),
            Parsed::Incomplete => Parsed::Incomplete,
            Parsed::Invalid(e) => Parsed::Invalid(e),
        };
    }
    let ctx = Ctx {
        buf,
        toks,
        line_len,
        limits,
    };
    match cmd[0] {
        b'g' => {
            if n < 2 {
                return invalid(ErrorReply::Error, line_len, false);
            }
            match cmd {
                b"get" => ctx.retrieval(false, false),
                b"gets" => ctx.retrieval(true, false),
                b"gat" => ctx.retrieval(false, true),
                b"gats" => ctx.retrieval(true, true),
                _ => invalid(ErrorReply::Error, line_len, false),
            }
        }
        b's' => match cmd {
            b"set" => ctx.storage(StoreKind::Set),
            b"stats" => Parsed::Complete(
                Request::Stats {
                    args: Keys::new(toks.rest_from(1)),
                },
                line_len,
            ),
            b"shutdown" => ctx.shutdown(),
            _ => invalid(ErrorReply::Error, line_len, false),
        },
        b'a' => match cmd {
            b"add" => ctx.storage(StoreKind::Add),
            b"append" => ctx.storage(StoreKind::Append),
            _ => invalid(ErrorReply::Error, line_len, false),
        },
        b'c' => match cmd {
            b"cas" => ctx.storage(StoreKind::Cas),
            b"cache_memlimit" => ctx.memlimit(),
            _ => invalid(ErrorReply::Error, line_len, false),
        },
        b'i' if cmd == b"incr" => ctx.arith(true),
        b'd' => match cmd {
            b"delete" => ctx.delete(),
            b"decr" => ctx.arith(false),
            _ => invalid(ErrorReply::Error, line_len, false),
        },
        b't' if cmd == b"touch" => ctx.touch(),
        b'i' | b't' => invalid(ErrorReply::Error, line_len, false),
        _ => match cmd {
            b"replace" => ctx.storage(StoreKind::Replace),
            b"prepend" => ctx.storage(StoreKind::Prepend),
            b"bget" if n >= 2 => ctx.retrieval(false, false),
            b"flush_all" => ctx.flush_all(),
            b"version" => Parsed::Complete(Request::Version, line_len),
            b"quit" => Parsed::Complete(Request::Quit, line_len),
            b"verbosity" => ctx.verbosity(),
            // Known to memcached but not served here: memcached answers these itself (not
            // with the HTTP check below), and `ERROR` is what it says to most of their misuses.
            b"lru_crawler" | b"watch" | b"lru" | b"refresh_certs" => {
                invalid(ErrorReply::Error, line_len, false)
            }
            _ if toks.last().starts_with(b"HTTP/") => {
                // An HTTP request sent to the cache port: memcached hangs up silently.
                Parsed::Invalid(ParseError::close(line_len))
            }
            _ => invalid(ErrorReply::Error, line_len, false),
        },
    }
}

fn invalid<T>(reply: ErrorReply, consumed: usize, noreply: bool) -> Parsed<T> {
    Parsed::Invalid(ParseError::new(reply, consumed).with_noreply(noreply))
}

/// The state one `parse` call shares between the per-command parsers.
struct Ctx<'a, 'l> {
    buf: &'a [u8],
    toks: Tokens<'a>,
    line_len: usize,
    limits: &'l Limits,
}

impl<'a> Ctx<'a, '_> {
    fn err<T>(&self, reply: ErrorReply, noreply: bool) -> Parsed<T> {
        invalid(reply, self.line_len, noreply)
    }

    fn done(&self, req: Request<'a>) -> Parsed<Request<'a>> {
        Parsed::Complete(req, self.line_len)
    }

    /// memcached's `set_noreply_maybe`: the last token is exactly `noreply`.
    fn noreply(&self) -> bool {
        self.toks.last() == b"noreply"
    }

    fn retrieval(&self, with_cas: bool, touch: bool) -> Parsed<Request<'a>> {
        let mut first_key = 1;
        let mut exptime = 0;
        if touch {
            match parse_i32(self.toks.get(1)) {
                Some(e) => exptime = i64::from(e),
                None => return self.err(BAD_EXPTIME, false),
            }
            first_key = 2;
        }
        let all = self.toks.rest_from(first_key);
        let (keys, bad_key) = match first_long_key(all) {
            Some(at) => (Keys::new(&all[..at]), Some(BAD_FORMAT)),
            None => (Keys::new(all), None),
        };
        self.done(if touch {
            Request::Gat {
                exptime,
                keys,
                with_cas,
                bad_key,
            }
        } else {
            Request::Get {
                keys,
                with_cas,
                bad_key,
            }
        })
    }

    fn storage(&self, kind: StoreKind) -> Parsed<Request<'a>> {
        let n = self.toks.len();
        let with_cas = kind == StoreKind::Cas;
        let want = if with_cas { 6 } else { 5 };
        if n != want && n != want + 1 {
            return self.err(ErrorReply::Error, false);
        }
        let noreply = self.noreply();
        let key = self.toks.get(1);
        if key.len() > MAX_KEY_LEN {
            return self.err(BAD_FORMAT, noreply);
        }
        let (Some(flags), Some(exptime), Some(vlen)) = (
            parse_u32(self.toks.get(2)),
            parse_i32(self.toks.get(3)),
            parse_i32(self.toks.get(4)),
        ) else {
            return self.err(BAD_FORMAT, noreply);
        };
        let cas_unique = if with_cas {
            match parse_u64(self.toks.get(5)) {
                Some(c) => c,
                None => return self.err(BAD_FORMAT, noreply),
            }
        } else {
            0
        };
        if !(0..=i32::MAX - 2).contains(&vlen) {
            return self.err(BAD_FORMAT, noreply);
        }
        let len = vlen as usize;
        let block = len + 2;
        let available = self.buf.len() - self.line_len;
        if item_too_large(self.limits, key.len(), flags, len) {
            // memcached answers at once and swallows the data block as it arrives.
            let now = block.min(available);
            return Parsed::Invalid(ParseError {
                reply: TOO_LARGE,
                consumed: self.line_len + now,
                swallow: block - now,
                close: false,
                noreply,
            });
        }
        if available < block {
            return Parsed::Incomplete;
        }
        let total = self.line_len + block;
        let data = &self.buf[self.line_len..self.line_len + len];
        if &self.buf[self.line_len + len..total] != b"\r\n" {
            // memcached reads exactly len + 2 bytes, then checks the last two.
            return invalid(BAD_CHUNK, total, noreply);
        }
        Parsed::Complete(
            Request::Store {
                kind,
                key,
                flags,
                exptime: i64::from(exptime),
                data,
                cas_unique,
                noreply,
            },
            total,
        )
    }

    fn delete(&self) -> Parsed<Request<'a>> {
        let n = self.toks.len();
        if !(2..=4).contains(&n) {
            return self.err(ErrorReply::Error, false);
        }
        let mut noreply = false;
        if n > 2 {
            // `delete <key> 0` is an old form (a hold time of zero); any other hold time is
            // refused.
            let hold_is_zero = self.toks.get(2) == b"0";
            noreply = self.noreply();
            let valid =
                (n == 3 && (hold_is_zero || noreply)) || (n == 4 && hold_is_zero && noreply);
            if !valid {
                return self.err(DELETE_USAGE, noreply);
            }
        }
        let key = self.toks.get(1);
        if key.len() > MAX_KEY_LEN {
            return self.err(BAD_FORMAT, noreply);
        }
        self.done(Request::Delete { key, noreply })
    }

    fn arith(&self, incr: bool) -> Parsed<Request<'a>> {
        let n = self.toks.len();
        if n != 3 && n != 4 {
            return self.err(ErrorReply::Error, false);
        }
        let noreply = self.noreply();
        let key = self.toks.get(1);
        if key.len() > MAX_KEY_LEN {
            return self.err(BAD_FORMAT, noreply);
        }
        match parse_u64(self.toks.get(2)) {
            Some(delta) => self.done(Request::Arith {
                key,
                incr,
                delta,
                noreply,
            }),
            None => self.err(BAD_DELTA, noreply),
        }
    }

    fn touch(&self) -> Parsed<Request<'a>> {
        let n = self.toks.len();
        if n != 3 && n != 4 {
            return self.err(ErrorReply::Error, false);
        }
        let noreply = self.noreply();
        let key = self.toks.get(1);
        if key.len() > MAX_KEY_LEN {
            return self.err(BAD_FORMAT, noreply);
        }
        match parse_i32(self.toks.get(2)) {
            Some(e) => self.done(Request::Touch {
                key,
                exptime: i64::from(e),
                noreply,
            }),
            None => self.err(BAD_EXPTIME, noreply),
        }
    }

    fn flush_all(&self) -> Parsed<Request<'a>> {
        let n = self.toks.len();
        if !(1..=3).contains(&n) {
            return self.err(ErrorReply::Error, false);
        }
        let noreply = self.noreply();
        // memcached reads a delay whenever the token count is not exactly "flush_all
        // [noreply]"; so `flush_all 5 junk` flushes in 5 seconds and `flush_all noreply 5`
        // fails on "noreply".
        let mut delay = 0;
        if n != if noreply { 2 } else { 1 } {
            match parse_i32(self.toks.get(1)) {
                Some(d) => delay = i64::from(d),
                None => return self.err(BAD_EXPTIME, noreply),
            }
        }
        self.done(Request::FlushAll { delay, noreply })
    }

    fn verbosity(&self) -> Parsed<Request<'a>> {
        let n = self.toks.len();
        if n != 2 && n != 3 {
            return self.err(ErrorReply::Error, false);
        }
        let noreply = self.noreply();
        match parse_u32(self.toks.get(1)) {
            Some(level) => self.done(Request::Verbosity { level, noreply }),
            None => self.err(BAD_FORMAT, noreply),
        }
    }

    fn memlimit(&self) -> Parsed<Request<'a>> {
        let n = self.toks.len();
        if n != 2 && n != 3 {
            return self.err(ErrorReply::Error, false);
        }
        let noreply = self.noreply();
        match parse_u32(self.toks.get(1)) {
            Some(mb) => self.done(Request::CacheMemlimit {
                megabytes: u64::from(mb),
                noreply,
            }),
            None => self.err(ErrorReply::Error, noreply),
        }
    }

    fn shutdown(&self) -> Parsed<Request<'a>> {
        match (self.toks.len(), self.toks.get(1)) {
            (1, _) => self.done(Request::Shutdown { graceful: false }),
            (2, b"graceful") => self.done(Request::Shutdown { graceful: true }),
            _ => self.err(BAD_SHUTDOWN, false),
        }
    }
}

/// Byte offset in `keys` of the first key longer than [`MAX_KEY_LEN`], if any.
fn first_long_key(keys: &[u8]) -> Option<usize> {
    let mut pos = 0;
    loop {
        while pos < keys.len() && keys[pos] == b' ' {
            pos += 1;
        }
        if pos == keys.len() {
            return None;
        }
        let end = memchr::memchr(b' ', &keys[pos..]).map_or(keys.len(), |e| pos + e);
        if end - pos > MAX_KEY_LEN {
            return Some(pos);
        }
        pos = end;
    }
}

// ---------------------------------------------------------------------------------------------
// Reply encoders
// ---------------------------------------------------------------------------------------------

/// Appends the decimal digits of `n` (no sign, no padding).
pub fn push_decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

/// `VALUE <key> <flags> <len>[ <cas>]\r\n`; the caller then appends the data and `\r\n`.
pub fn encode_value(out: &mut Vec<u8>, key: &[u8], flags: u32, len: usize, cas: Option<u64>) {
    out.extend_from_slice(b"VALUE ");
    out.extend_from_slice(key);
    out.push(b' ');
    push_decimal(out, u64::from(flags));
    out.push(b' ');
    push_decimal(out, len as u64);
    if let Some(cas) = cas {
        out.push(b' ');
        push_decimal(out, cas);
    }
    out.extend_from_slice(b"\r\n");
}

/// `END\r\n`: the end of a retrieval or of a `stats` listing.
pub fn encode_end(out: &mut Vec<u8>) {
    out.extend_from_slice(b"END\r\n");
}

/// `STORED\r\n`.
pub fn encode_stored(out: &mut Vec<u8>) {
    out.extend_from_slice(b"STORED\r\n");
}

/// `NOT_STORED\r\n`: an `add`/`replace`/`append`/`prepend` condition failed.
pub fn encode_not_stored(out: &mut Vec<u8>) {
    out.extend_from_slice(b"NOT_STORED\r\n");
}

/// `EXISTS\r\n`: a `cas` lost the race.
pub fn encode_exists(out: &mut Vec<u8>) {
    out.extend_from_slice(b"EXISTS\r\n");
}

/// `NOT_FOUND\r\n`.
pub fn encode_not_found(out: &mut Vec<u8>) {
    out.extend_from_slice(b"NOT_FOUND\r\n");
}

/// `DELETED\r\n`.
pub fn encode_deleted(out: &mut Vec<u8>) {
    out.extend_from_slice(b"DELETED\r\n");
}

/// `TOUCHED\r\n`.
pub fn encode_touched(out: &mut Vec<u8>) {
    out.extend_from_slice(b"TOUCHED\r\n");
}

/// `OK\r\n` (`flush_all`, `verbosity`, `cache_memlimit`, `stats detail on|off`).
pub fn encode_ok(out: &mut Vec<u8>) {
    out.extend_from_slice(b"OK\r\n");
}

/// `RESET\r\n` (`stats reset`).
pub fn encode_reset(out: &mut Vec<u8>) {
    out.extend_from_slice(b"RESET\r\n");
}

/// `VERSION <version>\r\n`.
pub fn encode_version(out: &mut Vec<u8>, version: &str) {
    out.extend_from_slice(b"VERSION ");
    out.extend_from_slice(version.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// `<n>\r\n`: the new value after `incr`/`decr`.
pub fn encode_number(out: &mut Vec<u8>, n: u64) {
    push_decimal(out, n);
    out.extend_from_slice(b"\r\n");
}

/// `STAT <name> <value>\r\n` with a value already in bytes.
pub fn encode_stat(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    out.extend_from_slice(b"STAT ");
    out.extend_from_slice(name.as_bytes());
    out.push(b' ');
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// `STAT <name> <value>\r\n` with an unsigned counter (the common case, no formatting
/// machinery).
pub fn encode_stat_u64(out: &mut Vec<u8>, name: &str, value: u64) {
    out.extend_from_slice(b"STAT ");
    out.extend_from_slice(name.as_bytes());
    out.push(b' ');
    push_decimal(out, value);
    out.extend_from_slice(b"\r\n");
}

/// `STAT <name> <value>\r\n` with any `Display` value (floats such as `rusage_user
/// 0.012000` must be formatted by the caller the way memcached prints them).
pub fn encode_stat_display(out: &mut Vec<u8>, name: &str, value: impl fmt::Display) {
    use std::io::Write;
    out.extend_from_slice(b"STAT ");
    out.extend_from_slice(name.as_bytes());
    out.push(b' ');
    // Writing into a Vec<u8> cannot fail.
    let _ = write!(out, "{value}");
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
pub(crate) mod tests {
    //! Transcripts marked "memcached 1.6.18" were taken from `/usr/bin/memcached` 1.6.18 (Debian
    //! 1.6.18-1+deb12u1, `-I 1m`): the input bytes were sent on a fresh connection and the
    //! reply bytes recorded. [`drive`] replays the same input through [`parse`] the way a
    //! connection would and writes the error replies exactly, plus a short tag for each
    //! complete request (whose reply depends on the store).

    use super::*;
    use proptest::prelude::*;

    fn lim() -> Limits {
        Limits::default()
    }

    fn p(buf: &[u8]) -> Parsed<Request<'_>> {
        parse(buf, &lim())
    }

    fn list(keys: Keys<'_>) -> Vec<&[u8]> {
        keys.collect()
    }

    fn err(reply: ErrorReply, consumed: usize) -> ParseError {
        ParseError::new(reply, consumed)
    }

    /// A short, stable description of a complete request.
    fn tag(req: &Request<'_>) -> String {
        let s = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        let keys = |k: &Keys<'_>| k.map(s).collect::<Vec<_>>().join(",");
        let nr = |n: bool| if n { " noreply" } else { "" };
        match req {
            Request::Get {
                keys: k,
                with_cas,
                bad_key,
            } => format!(
                "get{}[{}]{}",
                if *with_cas { "s" } else { "" },
                keys(k),
                if bad_key.is_some() { "+bad" } else { "" }
            ),
            Request::Gat {
                exptime,
                keys: k,
                with_cas,
                bad_key,
            } => format!(
                "gat{} {exptime}[{}]{}",
                if *with_cas { "s" } else { "" },
                keys(k),
                if bad_key.is_some() { "+bad" } else { "" }
            ),
            Request::Store {
                kind,
                key,
                flags,
                exptime,
                data,
                cas_unique,
                noreply,
            } => format!(
                "{kind:?} {} {flags} {exptime} {:?} {cas_unique}{}",
                s(key),
                s(data),
                nr(*noreply)
            ),
            Request::Delete { key, noreply } => format!("delete {}{}", s(key), nr(*noreply)),
            Request::Arith {
                key,
                incr,
                delta,
                noreply,
            } => format!(
                "{} {} {delta}{}",
                if *incr { "incr" } else { "decr" },
                s(key),
                nr(*noreply)
            ),
            Request::Touch {
                key,
                exptime,
                noreply,
            } => format!("touch {} {exptime}{}", s(key), nr(*noreply)),
            Request::FlushAll { delay, noreply } => format!("flush_all {delay}{}", nr(*noreply)),
            Request::Version => "version".into(),
            Request::Verbosity { level, noreply } => format!("verbosity {level}{}", nr(*noreply)),
            Request::Quit => "quit".into(),
            Request::Shutdown { graceful } => format!("shutdown graceful={graceful}"),
            Request::CacheMemlimit { megabytes, noreply } => {
                format!("cache_memlimit {megabytes}{}", nr(*noreply))
            }
            Request::Stats { args } => format!("stats[{}]", keys(args)),
            Request::Meta(m) => {
                let cmd = match m.command {
                    meta::MetaCommand::Get => "mg",
                    meta::MetaCommand::Set => "ms",
                    meta::MetaCommand::Delete => "md",
                    meta::MetaCommand::Arithmetic => "ma",
                    meta::MetaCommand::Noop => "mn",
                    meta::MetaCommand::Debug => "me",
                };
                let key = if m.key.is_binary() { "b64:" } else { "" };
                let data = if m.command == meta::MetaCommand::Set {
                    format!(" {:?}", s(m.data))
                } else {
                    String::new()
                };
                format!(
                    "{cmd} {key}{} [{}]{data}",
                    s(m.key.as_bytes()),
                    keys(&m.flags.tokens).replace(',', " ")
                )
            }
        }
    }

    /// Feeds `input` through `parse` like a connection: returns the error bytes written and a
    /// `<tag>` per complete request, `<close>` on a close, `<wait>` if input is left over.
    pub(crate) fn drive_with(input: &[u8], limits: &Limits) -> String {
        let mut out = Vec::new();
        let mut pos = 0;
        let mut swallow = 0usize;
        loop {
            let skip = swallow.min(input.len() - pos);
            pos += skip;
            swallow -= skip;
            if pos == input.len() {
                break;
            }
            match parse(&input[pos..], limits) {
                Parsed::Complete(req, n) => {
                    out.extend_from_slice(format!("<{}>", tag(&req)).as_bytes());
                    pos += n;
                }
                Parsed::Incomplete => {
                    out.extend_from_slice(b"<wait>");
                    break;
                }
                Parsed::Invalid(e) => {
                    e.write_reply(&mut out);
                    pos += e.consumed;
                    swallow = e.swallow;
                    if e.close {
                        out.extend_from_slice(b"<close>");
                        break;
                    }
                }
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    pub(crate) fn drive(input: &[u8]) -> String {
        drive_with(input, &lim())
    }

    fn k(n: usize) -> Vec<u8> {
        vec![b'k'; n]
    }

    fn cat(parts: &[&[u8]]) -> Vec<u8> {
        parts.concat()
    }

    // --- framing -------------------------------------------------------------------------

    #[test]
    fn frame_rules() {
        assert_eq!(
            frame(b"get a\r\n"),
            Frame::Line {
                line: b"get a",
                len: 7
            }
        );
        assert_eq!(
            frame(b"get a\nx"),
            Frame::Line {
                line: b"get a",
                len: 6
            }
        );
        // The '\r' is stripped only after at least one other byte.
        assert_eq!(
            frame(b"\r\n"),
            Frame::Line {
                line: b"\r",
                len: 2
            }
        );
        assert_eq!(frame(b"\n"), Frame::Line { line: b"", len: 1 });
        assert_eq!(
            frame(b"a\r\r\n"),
            Frame::Line {
                line: b"a\r",
                len: 4
            }
        );
        assert_eq!(
            frame(b"ver\0sion\r\n"),
            Frame::Line {
                line: b"ver",
                len: 10
            }
        );
        assert_eq!(frame(b"get a\r"), Frame::Incomplete);
        assert_eq!(frame(&[b'x'; 2048]), Frame::Incomplete);
        assert_eq!(frame(&[b'x'; 2049]), Frame::Close);
    }

    #[test]
    fn tokens_follow_memcached() {
        let t = Tokens::new(b"  set  k\t0 0 ");
        assert_eq!(t.len(), 3);
        assert_eq!(t.get(0), b"set");
        assert_eq!(t.get(1), b"k\t0");
        assert_eq!(t.last(), b"0");
        assert_eq!(t.get(9), b"");
        let many: Vec<u8> = (0..30)
            .flat_map(|i| format!("t{i} ").into_bytes())
            .collect();
        let t = Tokens::new(&many);
        assert_eq!(t.len(), MAX_TOKENS - 1);
        assert_eq!(t.last(), b"t22");
        assert_eq!(list(Keys::new(t.rest_from(20))).len(), 10);
        assert!(Tokens::new(b"   ").is_empty());
    }

    #[test]
    fn keys_iterate_and_compare_by_token() {
        let keys = Keys::new(b" a  bb c ");
        assert_eq!(list(keys), vec![&b"a"[..], b"bb", b"c"]);
        assert_eq!(keys, Keys::new(b"a bb c"));
        assert_ne!(keys, Keys::new(b"a bb"));
        assert!(Keys::new(b"   ").is_empty());
        assert!(!keys.is_empty());
        assert_eq!(format!("{keys:?}"), r#"["a", "bb", "c"]"#);
    }

    // --- numbers -------------------------------------------------------------------------

    #[test]
    fn numbers_follow_safe_strto() {
        assert_eq!(parse_u64(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_u64(b"18446744073709551616"), None);
        assert_eq!(parse_u64(b"+5"), Some(5));
        assert_eq!(parse_u64(b"-1"), None);
        assert_eq!(parse_u64(b"-0"), Some(0));
        assert_eq!(parse_u64(b"-18446744073709551615"), Some(1));
        assert_eq!(parse_u64(b"\t7"), Some(7));
        assert_eq!(parse_u64(b"7\tjunk"), Some(7));
        assert_eq!(parse_u64(b"7\r"), Some(7));
        assert_eq!(parse_u64(b"7x"), None);
        assert_eq!(parse_u64(b""), None);
        assert_eq!(parse_u64(b"-"), None);
        assert_eq!(parse_u64(b"abc"), None);
        assert_eq!(parse_u32(b"4294967295"), Some(u32::MAX));
        assert_eq!(parse_u32(b"4294967296"), Some(0));
        assert_eq!(parse_u32(b"4294967304"), Some(8));
        assert_eq!(parse_i32(b"-1"), Some(-1));
        assert_eq!(parse_i32(b"2147483648"), Some(i32::MIN));
        assert_eq!(parse_i32(b"4294967297"), Some(1));
        assert_eq!(parse_i32(b"9223372036854775807"), Some(-1));
        assert_eq!(parse_i32(b"9223372036854775808"), None);
        assert_eq!(parse_i32(b"-9223372036854775808"), Some(0));
        assert_eq!(parse_i32(b"-9223372036854775809"), None);
        assert_eq!(parse_i32(b"01"), Some(1));
    }

    #[test]
    fn item_size_limit_counts_memcacheds_overhead() {
        // memcached 1.6.18 -I 1m: largest storable data for key "k": 1048516 bytes with
        // flags 0, 1048512 with flags 1; for a 100-byte key: 1048417 and 1048413.
        let l = lim();
        assert!(!item_too_large(&l, 1, 0, 1_048_516));
        assert!(item_too_large(&l, 1, 0, 1_048_517));
        assert!(!item_too_large(&l, 1, 1, 1_048_512));
        assert!(item_too_large(&l, 1, 1, 1_048_513));
        assert!(!item_too_large(&l, 100, 0, 1_048_417));
        assert!(item_too_large(&l, 100, 0, 1_048_418));
        assert!(!item_too_large(&l, 100, 7, 1_048_413));
        assert!(item_too_large(&l, 100, 7, 1_048_414));
        assert!(item_too_large(&l, 1, 0, usize::MAX));
    }

    // --- every command, complete -----------------------------------------------------------

    #[test]
    fn get_family() {
        let buf = b"get a bb\r\n";
        match p(buf) {
            Parsed::Complete(
                Request::Get {
                    keys,
                    with_cas: false,
                    bad_key: None,
                },
                10,
            ) => assert_eq!(list(keys), vec![&b"a"[..], b"bb"]),
            other => panic!("{other:?}"),
        }
        assert_eq!(drive(b"gets a\r\n"), "<gets[a]>");
        assert_eq!(drive(b"bget a\r\n"), "<get[a]>");
        assert_eq!(drive(b"gat 10 a b\r\n"), "<gat 10[a,b]>");
        assert_eq!(drive(b"gats -5 a\r\n"), "<gats -5[a]>");
        // memcached 1.6.18: "gat 10\r\n" => "END\r\n" (no keys is fine after an exptime).
        assert_eq!(drive(b"gat 10\r\n"), "<gat 10[]>");
        // memcached 1.6.18: "get\r\n", "gets\r\n", "gat\r\n" => "ERROR\r\n".
        assert_eq!(
            drive(b"get\r\ngets\r\ngat\r\nbget\r\n"),
            "ERROR\r\n".repeat(4)
        );
        // memcached 1.6.18: "gat abc a\r\n" / "gat 10x n" => invalid exptime.
        assert_eq!(
            drive(b"gat abc a\r\ngat 10x n\r\n"),
            "CLIENT_ERROR invalid exptime argument\r\n".repeat(2)
        );
        // memcached 1.6.18: "gat 4294967296 n" and "gat +10 n" both succeed.
        assert_eq!(
            drive(b"gat 4294967296 n\r\ngat +10 n\r\n"),
            "<gat 0[n]><gat 10[n]>"
        );
        // NUL ends the line for the tokenizer; '\r' inside a key is part of the key.
        assert_eq!(drive(b"get a\0 b\r\n"), "<get[a]>");
        assert_eq!(drive(b"get a\rb\r\n"), "<get[a\rb]>");
        assert_eq!(drive(b"get a\r\r\n"), "<get[a\r]>");
        // Other words starting with 'g' are unknown.
        assert_eq!(drive(b"gx a\r\ngetx a\r\n"), "ERROR\r\nERROR\r\n");
    }

    #[test]
    fn multiget_with_a_long_key() {
        // memcached 1.6.18: "get a <251 k>\r\n" => "CLIENT_ERROR bad command line format\r\n"
        // (the VALUE line already built for "a" is discarded); same for gets and gat.
        let buf = cat(&[b"get a ", &k(251), b" c\r\n"]);
        match p(&buf) {
            Parsed::Complete(Request::Get { keys, bad_key, .. }, n) => {
                assert_eq!(n, buf.len());
                assert_eq!(list(keys), vec![&b"a"[..]]);
                assert_eq!(bad_key, Some(BAD_FORMAT));
            }
            other => panic!("{other:?}"),
        }
        let buf = cat(&[b"gat 10 a ", &k(251), b"\r\n"]);
        assert_eq!(drive(&buf), "<gat 10[a]+bad>");
        let buf = cat(&[b"gets ", &k(251), b"\r\n"]);
        assert_eq!(drive(&buf), "<gets[]+bad>");
        // memcached 1.6.18: a 250-byte key is fine.
        let buf = cat(&[b"get a b ", &k(250), b"\r\n"]);
        assert_eq!(drive(&buf), format!("<get[a,b,{}]>", "k".repeat(250)));
    }

    #[test]
    fn huge_multigets_parse() {
        // memcached 1.6.18 answers all 5000 keys of "get a a ... a\r\n".
        let mut buf = b"get".to_vec();
        for i in 0..50_000 {
            buf.extend_from_slice(format!(" key:{i}").as_bytes());
        }
        // Without the newline: more than 2048 bytes, but a multiget, so keep reading.
        assert_eq!(p(&buf), Parsed::Incomplete);
        let mut spaced = vec![b' '; 100];
        spaced.extend_from_slice(&buf);
        assert_eq!(p(&spaced), Parsed::Incomplete);
        buf.extend_from_slice(b"\r\n");
        match p(&buf) {
            Parsed::Complete(Request::Get { keys, bad_key, .. }, n) => {
                assert_eq!(n, buf.len());
                assert_eq!(bad_key, None);
                assert_eq!(keys.count(), 50_000);
                assert_eq!(keys.last(), Some(&b"key:49999"[..]));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn long_lines_without_newline() {
        // memcached 1.6.18: more than 2048 bytes without '\n' closes unless the line starts
        // (after at most 100 spaces) with "get " or "gets "; 2048 bytes still wait.
        let close = Parsed::Invalid(ParseError::close(2049));
        assert_eq!(p(&[b'x'; 2048]), Parsed::Incomplete);
        assert_eq!(p(&[b'x'; 2049]), close);
        let mut gat = b"gat 0".to_vec();
        gat.resize(2049, b'a');
        assert_eq!(p(&gat), close);
        let mut version = b"version ".to_vec();
        version.resize(2049, b'a');
        assert_eq!(p(&version), close);
        let mut spaced = vec![b' '; 101];
        spaced.extend_from_slice(b"get ");
        spaced.resize(2049, b'a');
        assert_eq!(p(&spaced), close);
        for prefix in [&b"get "[..], b"gets ", b"   get "] {
            let mut ok = prefix.to_vec();
            ok.resize(3000, b'a');
            assert_eq!(p(&ok), Parsed::Incomplete);
        }
        // memcached 1.6.18: a long line *with* its newline is parsed normally.
        version.extend_from_slice(b"\r\n");
        assert_eq!(drive(&version), "<version>");
        // The data block of a set is not a line: a big value just waits.
        let mut set = b"set k 0 0 5000\r\n".to_vec();
        set.resize(3000, b'x');
        assert_eq!(p(&set), Parsed::Incomplete);
    }

    #[test]
    fn storage_commands() {
        let buf = b"set k 5 10 3\r\nabc\r\nget k\r\n";
        assert_eq!(
            p(buf),
            Parsed::Complete(
                Request::Store {
                    kind: StoreKind::Set,
                    key: b"k",
                    flags: 5,
                    exptime: 10,
                    data: b"abc",
                    cas_unique: 0,
                    noreply: false,
                },
                19
            )
        );
        assert_eq!(
            drive(b"add k 0 0 1\r\nx\r\nreplace k 0 0 1\r\nx\r\nappend k 0 0 1\r\nx\r\nprepend k 0 0 1 noreply\r\nx\r\n"),
            "<Add k 0 0 \"x\" 0><Replace k 0 0 \"x\" 0><Append k 0 0 \"x\" 0><Prepend k 0 0 \"x\" 0 noreply>"
        );
        assert_eq!(
            drive(b"cas k 1 2 2 99\r\nab\r\ncas k 0 0 1 7 noreply\r\nx\r\n"),
            "<Cas k 1 2 \"ab\" 99><Cas k 0 0 \"x\" 7 noreply>"
        );
        // memcached 1.6.18: "set k 0 0 0\r\n\r\n" stores an empty value.
        assert_eq!(drive(b"set k 0 0 0\r\n\r\n"), "<Set k 0 0 \"\" 0>");
        // The data block is binary-safe.
        assert_eq!(
            drive(b"set k 0 0 4\r\n\r\n\0\n\r\n"),
            "<Set k 0 0 \"\\r\\n\\0\\n\" 0>"
        );
        // memcached 1.6.18: a line ending in a bare "\n" works: "set k 0 0 1\nx\r\n" => STORED.
        assert_eq!(drive(b"set k 0 0 1\nx\r\n"), "<Set k 0 0 \"x\" 0>");
        // memcached 1.6.18: "set  k  0  0  1 \r\n" (extra spaces) => STORED.
        assert_eq!(drive(b"set  k  0  0  1 \r\nx\r\n"), "<Set k 0 0 \"x\" 0>");
        // memcached 1.6.18: a 6th token that is not "noreply" is ignored: STORED.
        assert_eq!(
            drive(b"set k 0 0 1 garbage\r\nx\r\n"),
            "<Set k 0 0 \"x\" 0>"
        );
        assert_eq!(
            drive(b"cas k 0 0 1 5 garbage\r\nx\r\n"),
            "<Cas k 0 0 \"x\" 5>"
        );
    }

    #[test]
    fn storage_numbers_like_memcached() {
        // memcached 1.6.18, each followed by "get k":
        // flags 4294967296 => "VALUE k 0 1"; flags -18446744073709551615 => "VALUE k 1 1";
        // length 4294967297 => STORED with 1 byte; exptime 4294967296 => never expires;
        // exptime 2147483648 => already expired; "+1", "01", "1\t", "1\tx" lengths all work;
        // flags "0\t" works; "-0" flags works.
        assert_eq!(
            drive(b"set k 4294967296 0 1\r\nx\r\n"),
            "<Set k 0 0 \"x\" 0>"
        );
        assert_eq!(
            drive(b"set k -18446744073709551615 0 1\r\nx\r\n"),
            "<Set k 1 0 \"x\" 0>"
        );
        assert_eq!(
            drive(b"set k 0 0 4294967297\r\nx\r\n"),
            "<Set k 0 0 \"x\" 0>"
        );
        assert_eq!(
            drive(b"set k 0 4294967296 1\r\nx\r\n"),
            "<Set k 0 0 \"x\" 0>"
        );
        assert_eq!(
            drive(b"set k 0 2147483648 1\r\nx\r\n"),
            "<Set k 0 -2147483648 \"x\" 0>"
        );
        assert_eq!(drive(b"set k 0 -1 1\r\nx\r\n"), "<Set k 0 -1 \"x\" 0>");
        for line in [
            &b"set k 0 0 +1\r\n"[..],
            b"set k 0 0 01\r\n",
            b"set k 0 0 1\t\r\n",
            b"set k 0 0 1\tx\r\n",
            b"set k 0\t 0 1\r\n",
            b"set k -0 0 1\r\n",
        ] {
            assert_eq!(drive(&cat(&[line, b"x\r\n"])), "<Set k 0 0 \"x\" 0>");
        }
    }

    #[test]
    fn storage_errors() {
        let fmt = "CLIENT_ERROR bad command line format\r\n";
        // memcached 1.6.18 transcripts: the rejected line's data block is then read as a
        // command, hence the trailing "ERROR\r\n".
        for line in [
            &b"set k 0 0 -1\r\n"[..],
            b"set k 0 0 abc\r\n",
            b"set k abc 0 1\r\n",
            b"set k 0 abc 1\r\n",
            b"set k -1 0 1\r\n",
            b"set k 0 0 1x\r\n",
            b"set k 18446744073709551617 0 1\r\n",
            b"cas a 0 0 1 x\r\n",
            b"cas a 0 0 1 -1\r\n",
            b"set k 0 0 2147483646\r\n",
            b"set k 0 0 2147483648\r\n",
        ] {
            assert_eq!(
                drive(&cat(&[line, b"x\r\n"])),
                format!("{fmt}ERROR\r\n"),
                "{line:?}"
            );
        }
        let long_key = cat(&[b"set ", &k(251), b" 0 0 1\r\nx\r\n"]);
        assert_eq!(drive(&long_key), format!("{fmt}ERROR\r\n"));
        // memcached 1.6.18: with noreply the error is hidden; the data line still errors.
        let long_key = cat(&[b"set ", &k(251), b" 0 0 1 noreply\r\nx\r\n"]);
        assert_eq!(drive(&long_key), "ERROR\r\n");
        assert_eq!(drive(b"set k 0 0 -1 noreply\r\nx\r\n"), "ERROR\r\n");
        // memcached 1.6.18: "cas a 0 0 1 noreply": noreply, then "noreply" is not a cas value.
        assert_eq!(drive(b"cas a 0 0 1 noreply\r\nx\r\n"), "ERROR\r\n");
        // memcached 1.6.18: token count errors are not hidden by noreply.
        assert_eq!(drive(b"cas a 0 0 1\r\nx\r\n"), "ERROR\r\nERROR\r\n");
        assert_eq!(drive(b"set k 0 0\r\nx\r\n"), "ERROR\r\nERROR\r\n");
        assert_eq!(
            drive(b"set k 0 0 1 noreply extra\r\nx\r\n"),
            "ERROR\r\nERROR\r\n"
        );
        assert_eq!(drive(b"set k\t0 0 1\r\nx\r\n"), "ERROR\r\nERROR\r\n");
        assert_eq!(
            drive(b"append k 0 0\r\nreplace k\r\nprepend k 0 0 1 2 3\r\n"),
            "ERROR\r\n".repeat(3)
        );
        // The exact ParseError of a bad line: only the line is consumed.
        assert_eq!(
            p(b"set k 0 0 -1 noreply\r\nx\r\n"),
            Parsed::Invalid(err(BAD_FORMAT, 22).with_noreply(true))
        );
    }

    #[test]
    fn bad_data_chunk() {
        // memcached 1.6.18: "set k 0 0 1\r\nxyz\r\nversion\r\n" =>
        // "CLIENT_ERROR bad data chunk\r\nERROR\r\nVERSION 1.6.18\r\n": exactly len + 2 bytes
        // ("xy"... here "xyz"[..3]) are consumed, the leftover "\r\n" is an (invalid) line.
        assert_eq!(
            p(b"set k 0 0 1\r\nxyz\r\n"),
            Parsed::Invalid(err(BAD_CHUNK, 16))
        );
        assert_eq!(
            drive(b"set k 0 0 1\r\nxyz\r\nversion\r\n"),
            "CLIENT_ERROR bad data chunk\r\nERROR\r\n<version>"
        );
        assert_eq!(
            drive(b"set k 0 0 1\r\nx\n\r\nversion\r\n"),
            "CLIENT_ERROR bad data chunk\r\nERROR\r\n<version>"
        );
        // memcached 1.6.18: "set k 0 0 2\r\nx\n\r\n" => STORED (the data is "x\n").
        assert_eq!(drive(b"set k 0 0 2\r\nx\n\r\n"), "<Set k 0 0 \"x\\n\" 0>");
        // memcached 1.6.18: noreply hides the bad data chunk error too.
        assert_eq!(
            drive(b"set k 0 0 1 noreply\r\nxyz\r\nversion\r\n"),
            "ERROR\r\n<version>"
        );
    }

    #[test]
    fn too_large_values_are_swallowed() {
        // memcached 1.6.18 -I 1m: "set k 0 0 2000000\r\n<2000000 bytes>\r\nversion\r\n" =>
        // "SERVER_ERROR object too large for cache\r\nVERSION 1.6.18\r\n"; with noreply only
        // the VERSION line.
        let mut buf = b"set k 0 0 2000000\r\n".to_vec();
        let line = buf.len();
        buf.extend_from_slice(&[b'x'; 1000]);
        assert_eq!(
            p(&buf),
            Parsed::Invalid(ParseError {
                reply: TOO_LARGE,
                consumed: line + 1000,
                swallow: 2_000_002 - 1000,
                close: false,
                noreply: false,
            })
        );
        buf.resize(line + 2_000_000, b'x');
        buf.extend_from_slice(b"\r\nversion\r\n");
        assert_eq!(
            drive(&buf),
            "SERVER_ERROR object too large for cache\r\n<version>"
        );
        let mut buf = b"set k 0 0 2000000 noreply\r\n".to_vec();
        buf.resize(buf.len() + 2_000_000, b'x');
        buf.extend_from_slice(b"\r\nversion\r\n");
        assert_eq!(drive(&buf), "<version>");
        // The boundary measured on memcached 1.6.18 -I 1m.
        let mut ok = b"set k 0 0 1048516\r\n".to_vec();
        ok.resize(ok.len() + 1_048_516, b'x');
        ok.extend_from_slice(b"\r\n");
        assert!(matches!(p(&ok), Parsed::Complete(Request::Store { .. }, n) if n == ok.len()));
        let mut big = b"set k 0 0 1048517\r\n".to_vec();
        big.resize(big.len() + 1_048_517, b'x');
        big.extend_from_slice(b"\r\n");
        assert_eq!(drive(&big), "SERVER_ERROR object too large for cache\r\n");
        // A smaller -I.
        let small = Limits { item_size_max: 100 };
        assert_eq!(
            drive_with(b"set k 0 0 40\r\n", &small),
            "<wait>",
            "fits: waits for its data"
        );
        assert_eq!(
            drive_with(b"set k 0 0 41\r\n", &small),
            "SERVER_ERROR object too large for cache\r\n"
        );
        // The largest length memcached does not reject as malformed: answered at once.
        let e = match p(b"set k 0 0 2147483645\r\n") {
            Parsed::Invalid(e) => e,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            (e.reply, e.consumed, e.swallow),
            (TOO_LARGE, 22, 2_147_483_647)
        );
    }

    #[test]
    fn delete_forms() {
        // memcached 1.6.18 transcripts.
        assert_eq!(drive(b"delete a\r\n"), "<delete a>");
        assert_eq!(drive(b"delete a 0\r\n"), "<delete a>");
        assert_eq!(drive(b"delete a noreply\r\n"), "<delete a noreply>");
        assert_eq!(drive(b"delete a 0 noreply\r\n"), "<delete a noreply>");
        let usage = "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n";
        assert_eq!(drive(b"delete a 1\r\n"), usage);
        assert_eq!(drive(b"delete a noreply 0\r\n"), usage);
        assert_eq!(drive(b"delete a 1 noreply\r\n"), "");
        assert_eq!(drive(b"delete a x y z\r\ndelete\r\n"), "ERROR\r\nERROR\r\n");
        let long = cat(&[b"delete ", &k(251), b"\r\n"]);
        assert_eq!(drive(&long), "CLIENT_ERROR bad command line format\r\n");
        let long = cat(&[b"delete ", &k(251), b" noreply\r\n"]);
        assert_eq!(drive(&long), "");
        // "delete noreply" deletes the key "noreply".
        assert_eq!(drive(b"delete noreply\r\n"), "<delete noreply>");
    }

    #[test]
    fn incr_decr() {
        assert_eq!(
            p(b"incr n 5\r\n"),
            Parsed::Complete(
                Request::Arith {
                    key: b"n",
                    incr: true,
                    delta: 5,
                    noreply: false
                },
                10
            )
        );
        // memcached 1.6.18 transcripts.
        assert_eq!(drive(b"incr n +5\r\n"), "<incr n 5>");
        assert_eq!(drive(b"decr n 3\r\n"), "<decr n 3>");
        assert_eq!(drive(b"incr n 1 noreply\r\n"), "<incr n 1 noreply>");
        assert_eq!(drive(b"incr n 1 x\r\n"), "<incr n 1>");
        assert_eq!(
            drive(b"incr n 18446744073709551615\r\n"),
            "<incr n 18446744073709551615>"
        );
        let delta = "CLIENT_ERROR invalid numeric delta argument\r\n";
        assert_eq!(drive(b"incr n 18446744073709551616\r\n"), delta);
        assert_eq!(drive(b"incr n abc\r\n"), delta);
        assert_eq!(drive(b"incr n -1\r\n"), delta);
        assert_eq!(drive(b"decr n abc\r\n"), delta);
        assert_eq!(drive(b"incr n abc noreply\r\n"), "");
        assert_eq!(drive(b"incr n\r\nincr n 1 2 3\r\n"), "ERROR\r\nERROR\r\n");
        let long = cat(&[b"incr ", &k(251), b" 1\r\n"]);
        assert_eq!(drive(&long), "CLIENT_ERROR bad command line format\r\n");
        let long = cat(&[b"incr ", &k(251), b" 1 noreply\r\n"]);
        assert_eq!(drive(&long), "");
    }

    #[test]
    fn touch() {
        // memcached 1.6.18 transcripts.
        assert_eq!(drive(b"touch a 10\r\n"), "<touch a 10>");
        assert_eq!(drive(b"touch n 10 x\r\n"), "<touch n 10>");
        assert_eq!(drive(b"touch n 10 noreply\r\n"), "<touch n 10 noreply>");
        assert_eq!(
            drive(b"touch a abc\r\n"),
            "CLIENT_ERROR invalid exptime argument\r\n"
        );
        assert_eq!(drive(b"touch a abc noreply\r\n"), "");
        assert_eq!(drive(b"touch a\r\n"), "ERROR\r\n");
        let long = cat(&[b"touch ", &k(251), b" 1\r\n"]);
        assert_eq!(drive(&long), "CLIENT_ERROR bad command line format\r\n");
    }

    #[test]
    fn flush_all() {
        // memcached 1.6.18: "flush_all noreply" is silent; "flush_all -1" => OK (as "now");
        // "flush_all 1 2" => OK; "flush_all noreply 5" => invalid exptime.
        assert_eq!(
            p(b"flush_all\r\n"),
            Parsed::Complete(
                Request::FlushAll {
                    delay: 0,
                    noreply: false
                },
                11
            )
        );
        assert_eq!(drive(b"flush_all noreply\r\n"), "<flush_all 0 noreply>");
        assert_eq!(drive(b"flush_all -1\r\n"), "<flush_all -1>");
        assert_eq!(drive(b"flush_all 0\r\n"), "<flush_all 0>");
        assert_eq!(drive(b"flush_all 10 noreply\r\n"), "<flush_all 10 noreply>");
        assert_eq!(drive(b"flush_all 1 2\r\n"), "<flush_all 1>");
        assert_eq!(drive(b"flush_all 5 x\r\n"), "<flush_all 5>");
        let exp = "CLIENT_ERROR invalid exptime argument\r\n";
        assert_eq!(drive(b"flush_all abc\r\n"), exp);
        assert_eq!(drive(b"flush_all noreply 5\r\n"), exp);
        assert_eq!(drive(b"flush_all abc noreply\r\n"), "");
        assert_eq!(drive(b"flush_all noreply noreply\r\n"), "");
        assert_eq!(drive(b"flush_all x y z\r\n"), "ERROR\r\n");
    }

    #[test]
    fn small_commands() {
        // memcached 1.6.18 transcripts.
        assert_eq!(p(b"version\r\n"), Parsed::Complete(Request::Version, 9));
        assert_eq!(drive(b"version\n"), "<version>");
        assert_eq!(drive(b"  version  \r\n"), "<version>");
        assert_eq!(drive(b"version extra\r\n"), "<version>");
        assert_eq!(drive(b"version\0xyz\r\n"), "<version>");
        assert_eq!(drive(b"version HTTP/1.1\r\n"), "<version>");
        assert_eq!(drive(b"quit\r\n"), "<quit>");
        assert_eq!(drive(b"quit extra\r\n"), "<quit>");
        assert_eq!(drive(b"verbosity 1\r\n"), "<verbosity 1>");
        assert_eq!(drive(b"verbosity 1 2\r\n"), "<verbosity 1>");
        assert_eq!(drive(b"verbosity 1 noreply\r\n"), "<verbosity 1 noreply>");
        assert_eq!(drive(b"verbosity 4294967296\r\n"), "<verbosity 0>");
        assert_eq!(drive(b"verbosity\r\n"), "ERROR\r\n");
        let fmt = "CLIENT_ERROR bad command line format\r\n";
        assert_eq!(drive(b"verbosity x\r\n"), fmt);
        assert_eq!(drive(b"verbosity -1\r\n"), fmt);
        assert_eq!(drive(b"verbosity noreply\r\n"), "");
        assert_eq!(drive(b"verbosity x noreply\r\n"), "");
        assert_eq!(drive(b"cache_memlimit 100\r\n"), "<cache_memlimit 100>");
        assert_eq!(
            drive(b"cache_memlimit 100 noreply\r\n"),
            "<cache_memlimit 100 noreply>"
        );
        assert_eq!(drive(b"cache_memlimit 100 x\r\n"), "<cache_memlimit 100>");
        assert_eq!(
            drive(b"cache_memlimit 4294967304\r\n"),
            "<cache_memlimit 8>"
        );
        assert_eq!(
            drive(b"cache_memlimit x\r\ncache_memlimit\r\ncache_memlimit -1\r\ncache_memlimit 1 2 3\r\n"),
            "ERROR\r\n".repeat(4)
        );
        assert_eq!(drive(b"cache_memlimit x noreply\r\n"), "");
        assert_eq!(drive(b"shutdown\r\n"), "<shutdown graceful=false>");
        assert_eq!(drive(b"shutdown graceful\r\n"), "<shutdown graceful=true>");
        assert_eq!(
            drive(b"shutdown foo\r\nshutdown graceful x\r\n"),
            "CLIENT_ERROR invalid shutdown mode\r\n".repeat(2)
        );
    }

    #[test]
    fn stats_args() {
        assert_eq!(drive(b"stats\r\n"), "<stats[]>");
        assert_eq!(drive(b"stats  detail  on\r\n"), "<stats[detail,on]>");
        assert_eq!(drive(b"stats cachedump 1 1\r\n"), "<stats[cachedump,1,1]>");
        assert_eq!(drive(b"stats HTTP/1.1\r\n"), "<stats[HTTP/1.1]>");
    }

    #[test]
    fn unknown_and_malformed_lines() {
        // memcached 1.6.18 transcripts.
        assert_eq!(drive(b"\r\n"), "ERROR\r\n");
        assert_eq!(drive(b"\n"), "ERROR\r\n");
        assert_eq!(drive(b"\r\r\n"), "ERROR\r\n");
        assert_eq!(drive(b"x\r\n"), "ERROR\r\n");
        assert_eq!(drive(b"a\r\n"), "ERROR\r\n");
        assert_eq!(drive(b"\0version\r\n"), "ERROR\r\n");
        assert_eq!(drive(b"VERSION\r\n"), "ERROR\r\n");
        assert_eq!(drive(b"foo bar\r\n"), "ERROR\r\n");
        for cmd in ["slabs", "lru", "lru_crawler", "watch", "refresh_certs"] {
            assert_eq!(drive(format!("{cmd} HTTP/1.1\r\n").as_bytes()), "ERROR\r\n");
        }
        // memcached 1.6.18: HTTP/ in the last (of at most 23) tokens closes silently, except
        // for commands dispatched by their first letter ('d', 's', 'g', ...).
        assert_eq!(drive(b"foo HTTP/1.1\r\nversion\r\n"), "<close>");
        assert_eq!(drive(b"GET / HTTP/1.1\r\n"), "<close>");
        assert_eq!(drive(b"HTTP/1.1\r\n"), "<close>");
        assert_eq!(drive(b"foo HTTP/\r\n"), "<close>");
        assert_eq!(drive(b"misbehave HTTP/1.1\r\n"), "<close>");
        assert_eq!(
            p(b"foo HTTP/1.1 \r\n"),
            Parsed::Invalid(ParseError::close(15))
        );
        assert_eq!(drive(b"get / HTTP/1.1\r\n"), "<get[/,HTTP/1.1]>");
        assert_eq!(drive(b"set HTTP/1.1\r\n"), "ERROR\r\n");
        assert_eq!(
            drive(b"dx HTTP/1.1\r\nab HTTP/\r\nz HTTP/\r\nzz HTTP/ x\r\n"),
            "ERROR\r\n".repeat(4)
        );
        let a = "a ";
        assert_eq!(
            drive(format!("foo {} HTTP/1.1 b c\r\n", a.repeat(21)).as_bytes()),
            "<close>"
        );
        assert_eq!(
            drive(format!("foo {} HTTP/1.1 b c\r\n", a.repeat(22)).as_bytes()),
            "ERROR\r\n"
        );
        assert_eq!(
            drive(format!("foo {} HTTP/1.1 b c\r\n", a.repeat(20)).as_bytes()),
            "ERROR\r\n"
        );
    }

    #[test]
    fn pipelines_resynchronise() {
        assert_eq!(
            drive(b"set a 0 0 1\r\nx\r\nget a\r\nbogus\r\nincr a 1\r\ndelete a\r\n"),
            "<Set a 0 0 \"x\" 0><get[a]>ERROR\r\n<incr a 1><delete a>"
        );
    }

    // --- encoders --------------------------------------------------------------------------

    #[test]
    fn encoders_are_exact() {
        let mut out = Vec::new();
        encode_value(&mut out, b"k", 0, 1, None);
        encode_value(&mut out, b"key", u32::MAX, 0, Some(u64::MAX));
        encode_end(&mut out);
        encode_stored(&mut out);
        encode_not_stored(&mut out);
        encode_exists(&mut out);
        encode_not_found(&mut out);
        encode_deleted(&mut out);
        encode_touched(&mut out);
        encode_ok(&mut out);
        encode_reset(&mut out);
        encode_version(&mut out, "1.6.18");
        encode_number(&mut out, 0);
        encode_number(&mut out, 18_446_744_073_709_551_615);
        encode_stat(&mut out, "version", b"1.6.18");
        encode_stat_u64(&mut out, "curr_items", 42);
        encode_stat_display(&mut out, "rusage_user", format_args!("{}.{:06}", 0, 12_000));
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "VALUE k 0 1\r\nVALUE key 4294967295 0 18446744073709551615\r\nEND\r\nSTORED\r\n\
             NOT_STORED\r\nEXISTS\r\nNOT_FOUND\r\nDELETED\r\nTOUCHED\r\nOK\r\nRESET\r\n\
             VERSION 1.6.18\r\n0\r\n18446744073709551615\r\nSTAT version 1.6.18\r\n\
             STAT curr_items 42\r\nSTAT rusage_user 0.012000\r\n"
        );
    }

    // --- prefixes and properties -------------------------------------------------------------

    fn valid_requests() -> Vec<Vec<u8>> {
        let mut v: Vec<Vec<u8>> = [
            &b"get a\r\n"[..],
            b"get a bb ccc\r\n",
            b"gets a\r\n",
            b"gat 10 a\r\n",
            b"gats 0 a b\r\n",
            b"bget a\r\n",
            b"set k 0 0 3\r\nabc\r\n",
            b"set k 1 2 0 noreply\r\n\r\n",
            b"add k 0 0 1\r\nx\r\n",
            b"replace k 0 0 1\r\nx\r\n",
            b"append k 0 0 2\r\n\r\n\r\n",
            b"prepend k 0 0 1\r\nx\r\n",
            b"cas k 0 0 1 7\r\nx\r\n",
            b"cas k 0 0 1 7 noreply\r\nx\r\n",
            b"delete k\r\n",
            b"delete k 0 noreply\r\n",
            b"incr k 1\r\n",
            b"decr k 1 noreply\r\n",
            b"touch k 10\r\n",
            b"flush_all\r\n",
            b"flush_all 10 noreply\r\n",
            b"version\r\n",
            b"verbosity 1\r\n",
            b"quit\r\n",
            b"shutdown graceful\r\n",
            b"cache_memlimit 64\r\n",
            b"stats\r\n",
            b"stats detail on\r\n",
            b"get a\n",
        ]
        .iter()
        .map(|r| r.to_vec())
        .collect();
        let mut big = b"set big 0 0 1000\r\n".to_vec();
        big.resize(big.len() + 1000, b'\r');
        big.extend_from_slice(b"\r\n");
        v.push(big);
        v
    }

    #[test]
    fn every_strict_prefix_is_incomplete() {
        for req in valid_requests() {
            match p(&req) {
                Parsed::Complete(_, n) => assert_eq!(n, req.len(), "{req:?}"),
                other => panic!("{req:?} => {other:?}"),
            }
            for cut in 0..req.len() {
                assert_eq!(p(&req[..cut]), Parsed::Incomplete, "{:?}", &req[..cut]);
            }
            // And a following request never changes what the first one consumed.
            let mut two = req.clone();
            two.extend_from_slice(b"get z\r\n");
            assert!(matches!(p(&two), Parsed::Complete(_, n) if n == req.len()));
        }
    }

    fn within(outer: &[u8], inner: &[u8]) -> bool {
        let (o, i) = (outer.as_ptr() as usize, inner.as_ptr() as usize);
        i >= o && i + inner.len() <= o + outer.len()
    }

    fn check_invariants(buf: &[u8]) {
        match parse(buf, &lim()) {
            Parsed::Complete(req, n) => {
                assert!(n <= buf.len() && n > 0);
                let mut slices: Vec<&[u8]> = Vec::new();
                match req {
                    Request::Get { keys, .. } | Request::Gat { keys, .. } => slices.extend(keys),
                    Request::Stats { args } => slices.extend(args),
                    Request::Store { key, data, .. } => slices.extend([key, data]),
                    Request::Delete { key, .. }
                    | Request::Arith { key, .. }
                    | Request::Touch { key, .. } => slices.push(key),
                    Request::Meta(m) => {
                        slices.push(m.key.raw());
                        slices.extend(m.flags.tokens);
                        if m.command == meta::MetaCommand::Set {
                            slices.push(m.data);
                        }
                    }
                    _ => {}
                }
                for s in slices {
                    assert!(within(&buf[..n], s));
                }
            }
            Parsed::Incomplete => {}
            Parsed::Invalid(e) => {
                assert!(e.consumed <= buf.len());
                assert!(e.consumed > 0 || e.close);
            }
        }
    }

    /// Lines made of command words, numbers and keywords: reaches the deep error paths that
    /// random bytes rarely do.
    fn commandish() -> impl Strategy<Value = String> {
        let word = prop_oneof![
            Just("get".to_string()),
            Just("set".to_string()),
            Just("gat".to_string()),
            Just("cas".to_string()),
            Just("append".to_string()),
            Just("delete".to_string()),
            Just("incr".to_string()),
            Just("touch".to_string()),
            Just("flush_all".to_string()),
            Just("verbosity".to_string()),
            Just("mg".to_string()),
            Just("ms".to_string()),
            Just("md".to_string()),
            Just("ma".to_string()),
            Just("v".to_string()),
            Just("b".to_string()),
            Just("T5".to_string()),
            Just("MS".to_string()),
            Just("noreply".to_string()),
            Just("0".to_string()),
            Just("-1".to_string()),
            Just("5".to_string()),
            Just("2000000".to_string()),
            Just("HTTP/1.1".to_string()),
            "[0-9]{1,12}",
            "[ -~]{0,12}",
        ];
        proptest::collection::vec(word, 0..10).prop_map(|w| w.join(" "))
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(buf in proptest::collection::vec(any::<u8>(), 0..600)) {
            check_invariants(&buf);
        }

        #[test]
        fn random_commandish_lines_never_panic(line in commandish()) {
            check_invariants(line.as_bytes());
            let mut buf = line.into_bytes();
            buf.extend_from_slice(b"\r\n");
            check_invariants(&buf);
        }

        /// After any printable line, consuming what parse reports (swallow included), a valid
        /// `get k` is recognised: the parser never loses track of request boundaries. Only a
        /// storage command may legitimately eat it (as its data block, or swallowed).
        #[test]
        fn never_desynchronises(line in prop_oneof!["[ -~]{0,80}", commandish()]) {
            let mut buf = line.clone().into_bytes();
            buf.extend_from_slice(b"\r\nget k\r\n");
            let mut pos = 0;
            let mut swallow = 0usize;
            let mut seen_get = false;
            for _ in 0..4 {
                let skip = swallow.min(buf.len() - pos);
                pos += skip;
                swallow -= skip;
                if pos == buf.len() {
                    break;
                }
                match parse(&buf[pos..], &lim()) {
                    Parsed::Complete(req, n) => {
                        prop_assert!(n <= buf.len() - pos);
                        pos += n;
                        if pos == buf.len() {
                            if let Request::Get { keys, .. } = req {
                                seen_get = list(keys) == vec![&b"k"[..]];
                            }
                        }
                    }
                    Parsed::Invalid(e) => {
                        prop_assert!(e.consumed <= buf.len() - pos);
                        if e.close {
                            // Only an HTTP-looking line closes.
                            prop_assert!(line.contains("HTTP/"));
                            seen_get = true;
                            break;
                        }
                        pos += e.consumed;
                        swallow = e.swallow;
                    }
                    Parsed::Incomplete => break,
                }
            }
            if !seen_get {
                let cmd = Tokens::new(line.as_bytes()).get(0);
                prop_assert!(
                    matches!(
                        cmd,
                        b"set" | b"add" | b"replace" | b"append" | b"prepend" | b"cas" | b"ms"
                    ),
                    "get lost after {:?}", line
                );
            }
        }

        /// Random chunking of a pipeline gives the same requests as parsing it whole.
        #[test]
        fn split_points_do_not_matter(cut in 0usize..60) {
            let input = b"set k 0 0 3\r\nabc\r\nget k\r\nbogus\r\nincr k 1\r\n";
            let whole = drive(input);
            let cut = cut.min(input.len());
            let head = drive(&input[..cut]);
            prop_assert!(whole.starts_with(head.trim_end_matches("<wait>")));
        }
    }
}
