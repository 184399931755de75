//! The classic text protocol: line framing, the tokenizer, request parsing, reply encoding.
//!
//! # What this file owns
//!
//! - **Framing** ([`frame`]): where a request line ends, memcached's rules for `\r\n` versus a
//!   bare `\n`, and the 2048-byte cap on a line without a newline (huge `get`/`gets` lines are
//!   let through, everything else closes the connection).
//! - **Tokenizing** ([`Tokens`], [`Words`]): memcached splits on the space character only (a tab
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

use super::admin::{self, Admin};
use super::line::{frame, parse_i32, parse_u32, parse_u64, LineFrame, Tokens, Words};
use super::meta::{self, MetaRequest};
use super::{ErrorReply, Limits, ParseError, Parsed, TooLarge, MAX_KEY_LEN};

const BAD_FORMAT: ErrorReply = ErrorReply::Client("bad command line format");
const BAD_EXPTIME: ErrorReply = ErrorReply::Client("invalid exptime argument");
const BAD_DELTA: ErrorReply = ErrorReply::Client("invalid numeric delta argument");
const BAD_CHUNK: ErrorReply = ErrorReply::Client("bad data chunk");
const DELETE_USAGE: ErrorReply =
    ErrorReply::Client("bad command line format.  Usage: delete <key> [noreply]");
const BAD_SHUTDOWN: ErrorReply = ErrorReply::Client("invalid shutdown mode");

// ---------------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------------

/// Which storage command a [`Request::Store`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageCommand {
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
        keys: Words<'a>,
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
        keys: Words<'a>,
        /// `gats`: include the CAS value.
        with_cas: bool,
        /// As for [`Request::Get`].
        bad_key: Option<ErrorReply>,
    },
    /// `set`, `add`, `replace`, `append`, `prepend`, `cas` with their data block.
    Store {
        /// Which command.
        kind: StorageCommand,
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
    /// `flush_prefix <prefix> [noreply]` (larder): delete every key starting with `prefix`.
    FlushPrefix {
        /// The key prefix (1 to 250 bytes).
        prefix: &'a [u8],
        /// Suppress the reply.
        noreply: bool,
    },
    /// `version`.
    Version,
    /// `refresh_certs` (arguments, `noreply` included, are ignored, as memcached does):
    /// reload the TLS certificate and key.
    RefreshCerts,
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
    /// `snapshot` (larder): write the `-e` snapshot file now, in the background.
    Snapshot,
    /// `stats [args...]`; the command layer interprets the arguments.
    Stats {
        /// The tokens after `stats` (empty for plain `stats`).
        args: Words<'a>,
    },
    /// A meta command (`mg`, `ms`, `md`, `ma`, `mn`, `me`); see [`super::meta`].
    Meta(MetaRequest<'a>),
    /// An operator command (`lru_crawler ...`, `slabs ...`); see [`super::admin`].
    Admin(Admin<'a>),
}

/// Parses the request at the front of `buf`.
///
/// Returns `Complete(request, consumed)` when a whole request (line and, for storage commands,
/// data block) is present, `Incomplete` when more bytes are needed, and `Invalid` with
/// memcached's reply otherwise. Never panics and never reads past `buf`.
pub fn parse<'a>(buf: &'a [u8], limits: &Limits) -> Parsed<Request<'a>> {
    let (line, line_len) = match frame(buf) {
        LineFrame::Line { line, len } => (line, len),
        LineFrame::Incomplete => return Parsed::Incomplete,
        LineFrame::Close => return Parsed::Invalid(ParseError::close(buf.len())),
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
    let parser = Parser {
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
                b"get" => parser.retrieval(false, false),
                b"gets" => parser.retrieval(true, false),
                b"gat" => parser.retrieval(false, true),
                b"gats" => parser.retrieval(true, true),
                _ => invalid(ErrorReply::Error, line_len, false),
            }
        }
        b's' => match cmd {
            b"set" => parser.storage(StorageCommand::Set),
            b"stats" => Parsed::Complete(
                Request::Stats {
                    args: Words::new(toks.rest_from(1)),
                },
                line_len,
            ),
            b"shutdown" => parser.shutdown(),
            b"slabs" => parser.done(Request::Admin(admin::slabs(&toks))),
            b"snapshot" if n == 1 => parser.done(Request::Snapshot),
            _ => invalid(ErrorReply::Error, line_len, false),
        },
        b'a' => match cmd {
            b"add" => parser.storage(StorageCommand::Add),
            b"append" => parser.storage(StorageCommand::Append),
            _ => invalid(ErrorReply::Error, line_len, false),
        },
        b'c' => match cmd {
            b"cas" => parser.storage(StorageCommand::Cas),
            b"cache_memlimit" => parser.memlimit(),
            b"config" => parser.done(Request::Admin(admin::config(&toks))),
            _ => invalid(ErrorReply::Error, line_len, false),
        },
        b'i' if cmd == b"incr" => parser.arith(true),
        b'd' => match cmd {
            b"delete" => parser.delete(),
            b"decr" => parser.arith(false),
            _ => invalid(ErrorReply::Error, line_len, false),
        },
        b't' if cmd == b"touch" => parser.touch(),
        b'i' | b't' => invalid(ErrorReply::Error, line_len, false),
        _ => match cmd {
            b"replace" => parser.storage(StorageCommand::Replace),
            b"prepend" => parser.storage(StorageCommand::Prepend),
            b"bget" if n >= 2 => parser.retrieval(false, false),
            b"flush_all" => parser.flush_all(),
            b"flush_prefix" => parser.flush_prefix(),
            b"version" => Parsed::Complete(Request::Version, line_len),
            b"quit" => Parsed::Complete(Request::Quit, line_len),
            b"verbosity" => parser.verbosity(),
            // Known to memcached but not served here: memcached answers these itself (not
            // with the HTTP check below), and `ERROR` is what it says to most of their misuses.
            b"lru_crawler" => parser.done(Request::Admin(admin::lru_crawler(&toks))),
            b"refresh_certs" => Parsed::Complete(Request::RefreshCerts, line_len),
            b"watch" | b"lru" => invalid(ErrorReply::Error, line_len, false),
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
struct Parser<'a, 'l> {
    buf: &'a [u8],
    toks: Tokens<'a>,
    line_len: usize,
    limits: &'l Limits,
}

impl<'a> Parser<'a, '_> {
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
            Some(at) => (Words::new(&all[..at]), Some(BAD_FORMAT)),
            None => (Words::new(all), None),
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

    fn storage(&self, kind: StorageCommand) -> Parsed<Request<'a>> {
        let n = self.toks.len();
        let with_cas = kind == StorageCommand::Cas;
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
        if self.limits.item_too_large(key.len(), flags, len) {
            // memcached answers at once and swallows the data block as it arrives.
            let refused = TooLarge::new(self.buf, key, false, kind == StorageCommand::Set);
            return Parsed::Invalid(
                ParseError::too_large(self.line_len, block, available, refused)
                    .with_noreply(noreply),
            );
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

    /// `<command> <key> <number> [noreply]` (incr, decr, touch): the key, the number's token
    /// and noreply, or the reply memcached gives a wrong token count or an overlong key.
    fn key_and_number(&self) -> Result<KeyAndNumber<'a>, (ErrorReply, bool)> {
        let n = self.toks.len();
        if n != 3 && n != 4 {
            return Err((ErrorReply::Error, false));
        }
        let noreply = self.noreply();
        let key = self.toks.get(1);
        if key.len() > MAX_KEY_LEN {
            return Err((BAD_FORMAT, noreply));
        }
        Ok(KeyAndNumber {
            key,
            number: self.toks.get(2),
            noreply,
        })
    }

    fn arith(&self, incr: bool) -> Parsed<Request<'a>> {
        let KeyAndNumber {
            key,
            number,
            noreply,
        } = match self.key_and_number() {
            Ok(parts) => parts,
            Err((reply, noreply)) => return self.err(reply, noreply),
        };
        match parse_u64(number) {
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
        let KeyAndNumber {
            key,
            number,
            noreply,
        } = match self.key_and_number() {
            Ok(parts) => parts,
            Err((reply, noreply)) => return self.err(reply, noreply),
        };
        match parse_i32(number) {
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

    fn flush_prefix(&self) -> Parsed<Request<'a>> {
        let n = self.toks.len();
        if n != 2 && n != 3 {
            return self.err(ErrorReply::Error, false);
        }
        let noreply = n == 3 && self.noreply();
        if n == 3 && !noreply {
            return self.err(ErrorReply::Error, false);
        }
        let prefix = self.toks.get(1);
        if prefix.len() > MAX_KEY_LEN {
            return self.err(BAD_FORMAT, noreply);
        }
        self.done(Request::FlushPrefix { prefix, noreply })
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

mod reply;
pub use reply::*;

/// The parts of `<command> <key> <number> [noreply]`.
struct KeyAndNumber<'a> {
    key: &'a [u8],
    number: &'a [u8],
    noreply: bool,
}

#[cfg(test)]
pub(crate) mod tests;
