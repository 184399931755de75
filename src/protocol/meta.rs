//! The meta commands (`mg`, `ms`, `md`, `ma`, `mn`, `me`): text lines with one-letter flags.
//!
//! Meta commands are not a third protocol: they arrive on text connections, are framed and
//! tokenized by [`super::text`] exactly like classic commands, and [`super::text::parse`]
//! hands any two-letter command starting with `m` to `parse_command` here, which returns a
//! [`MetaRequest`] inside [`super::text::Request::Meta`].
//!
//! This file owns the flag grammar: which letters each command accepts, the numeric flag
//! values (`T`, `N`, `R`, `F`, `C`, `D`, `J`, and `E` and `x` from memcached releases after
//! 1.6.18, read by every command as there), the mode switch `M`, base64 keys (`b`), and
//! memcached 1.6.18's exact error line for each mistake, including its order of checks
//! (an unknown or repeated flag wins over a bad number; for `md` and `ma` every flag error is
//! `CLIENT_ERROR invalid or duplicate flag`). Unlike classic `noreply`, the `q` flag never hides
//! an error.
//!
//! It also owns the meta reply lines: [`encode_meta`] writes `HD`/`VA`/`EN`/`NF`/`NS`/`EX`
//! with the return flags in request order from what the command layer found
//! ([`ReturnFlags`]), [`MetaRequest::quiet_hides`] says which of them `q` suppresses, and
//! [`encode_mn`] / [`encode_me`] write the other two.
//!
//! # Divergences from memcached 1.6.18
//!
//! - An opaque (`O`) token over 32 bytes is refused before anything happens; memcached
//!   refuses it while writing the reply, so for `mg ... T<ttl>` and `ma` the item was already
//!   touched or changed. The reply bytes are the same.

use super::line::{parse_i32, parse_u32, parse_u64, Tokens, Words};
use super::{ErrorReply, Limits, ParseError, Parsed, TooLarge, MAX_KEY_LEN};
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use std::fmt;

/// Longest opaque token memcached accepts (`MFLAG_MAX_OPAQUE_LENGTH`), counting the `O`.
pub const MAX_OPAQUE_LEN: usize = 32;

/// memcached's `MFLAG_MAX_OPT_LENGTH`: a meta line may hold at most 19 tokens (command, key,
/// data length for `ms`, and flags).
pub const MAX_META_TOKENS: usize = 19;

/// Room for a decoded base64 key: 250 base64 bytes decode to at most 187 bytes (the decoder
/// wants a little slack for its estimate).
pub const MAX_DECODED_KEY_LEN: usize = 192;

/// Encodes keys for `k` and `me` (standard alphabet, padded), as memcached prints them.
const KEY_BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::RequireCanonical),
);

/// Decodes a base64 (`b`) key token into `buf` exactly as memcached 1.6.18's decoder does
/// (`base64.c`): bytes outside the standard alphabet are skipped, the remaining count must
/// be a non-zero multiple of four, non-zero trailing bits are accepted, and decoding stops
/// after the first quartet with padding (so `Zg==Zg==` is `f`, and `Zm9v\r` is `foo`).
/// `None` when memcached reports a decoding error (it treats 0 bytes as one). The command
/// layer also uses it for a refused `ms` line, which never becomes a [`MetaRequest`].
pub fn decode_key(raw: &[u8], buf: &mut [u8; MAX_DECODED_KEY_LEN]) -> Option<usize> {
    /// The value of a base64 digit; `=` counts as 0 (and as padding).
    fn digit(b: u8) -> Option<u8> {
        match b {
            b'A'..=b'Z' => Some(b - b'A'),
            b'a'..=b'z' => Some(b - b'a' + 26),
            b'0'..=b'9' => Some(b - b'0' + 52),
            b'+' => Some(62),
            b'/' => Some(63),
            b'=' => Some(0),
            _ => None,
        }
    }
    let count = raw.iter().filter(|&&b| digit(b).is_some()).count();
    if count == 0 || count % 4 != 0 || count / 4 * 3 > buf.len() {
        return None;
    }
    let mut block = [0u8; 4];
    let (mut n, mut len, mut pad) = (0, 0, 0);
    for &b in raw {
        let Some(d) = digit(b) else { continue };
        if b == b'=' {
            pad += 1;
        }
        block[n] = d;
        n += 1;
        if n == 4 {
            buf[len] = (block[0] << 2) | (block[1] >> 4);
            buf[len + 1] = (block[1] << 4) | (block[2] >> 2);
            buf[len + 2] = (block[2] << 6) | block[3];
            len += 3;
            n = 0;
            if pad > 0 {
                match pad {
                    1 | 2 => len -= pad,
                    _ => return None,
                }
                break;
            }
        }
    }
    (len > 0).then_some(len)
}

const BAD_FORMAT: &str = "bad command line format";
const BAD_TOKEN: &str = "bad token in command line format";

/// Which meta command a [`MetaRequest`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetaCommand {
    /// `mg <key> <flags>*`: get.
    Get,
    /// `ms <key> <datalen> <flags>*` and a data block: set (mode `M` picks add/append/...).
    Set,
    /// `md <key> <flags>*`: delete (or mark stale with `I`).
    Delete,
    /// `ma <key> <flags>*`: increment or decrement.
    Arithmetic,
    /// `mn`: no-op; memcached answers `MN\r\n` whatever follows.
    Noop,
    /// `me <key> [b]`: debug dump of an item.
    Debug,
}

/// The key of a meta request: as sent, and decoded when the `b` flag says it is base64.
#[derive(Clone, Copy)]
pub struct MetaKey<'a> {
    raw: &'a [u8],
    decoded: [u8; MAX_DECODED_KEY_LEN],
    decoded_len: usize,
    binary: bool,
}

impl<'a> MetaKey<'a> {
    fn plain(raw: &'a [u8]) -> Self {
        MetaKey {
            raw,
            decoded: [0; MAX_DECODED_KEY_LEN],
            decoded_len: 0,
            binary: false,
        }
    }

    /// Decodes the key as base64; false if it is not valid base64.
    fn decode(&mut self) -> bool {
        match decode_key(self.raw, &mut self.decoded) {
            Some(n) => {
                self.decoded_len = n;
                self.binary = true;
                true
            }
            None => false,
        }
    }

    /// The key to look up: the decoded bytes for a base64 (`b`) key, else the token as sent.
    pub fn as_bytes(&self) -> &[u8] {
        if self.binary {
            &self.decoded[..self.decoded_len]
        } else {
            self.raw
        }
    }

    /// The key token exactly as the client sent it (base64 text for a `b` key).
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }

    /// Whether the key was sent in base64 (`b`): replies that echo it (`k`) must re-encode it
    /// and add ` b`, and `me` prints it in base64.
    pub fn is_binary(&self) -> bool {
        self.binary
    }
}

impl PartialEq for MetaKey<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.binary == other.binary && self.as_bytes() == other.as_bytes()
    }
}

impl Eq for MetaKey<'_> {}

impl fmt::Debug for MetaKey<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let key = String::from_utf8_lossy(self.as_bytes());
        if self.binary {
            write!(f, "{key:?} (base64)")
        } else {
            write!(f, "{key:?}")
        }
    }
}

/// The flags of a meta request, checked and with their values read.
///
/// `tokens` keeps every flag token in the order sent, because memcached writes the return
/// flags (`k`, `O`, `c`, `t`, `s`, `f`, `l`, `h`) in that order. Each flag can appear at most
/// once (parse rejects repeats), and numbers follow memcached's `safe_strto*` rules (see
/// [`super::line::parse_i32`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MetaFlags<'a> {
    /// All flag tokens, in order, as sent.
    pub tokens: Words<'a>,
    /// `b`: the key is base64 (already decoded into [`MetaKey`]).
    pub base64_key: bool,
    /// `v`: return the value (`VA <len>` and the data).
    pub value: bool,
    /// `s`: return the value size.
    pub size: bool,
    /// `t`: return the remaining TTL (`-1` for none).
    pub ttl_remaining: bool,
    /// `c`: return the CAS value.
    pub cas: bool,
    /// `f`: return the client flags.
    pub client_flags: bool,
    /// `k`: return the key.
    pub key: bool,
    /// `l`: return the seconds since last access.
    pub last_access: bool,
    /// `h`: return whether the item was fetched before (`h0`/`h1`).
    pub hit: bool,
    /// `u`: do not bump the item in the LRU.
    pub no_bump: bool,
    /// `q`: quiet mode. memcached 1.6.18 hides `EN` for `mg`, `HD` for `ms`, `md` and `ma`;
    /// other replies and all errors are written.
    pub quiet: bool,
    /// `I`: invalidate (`md` marks stale instead of deleting; `ms` with `C` may set stale).
    pub invalidate: bool,
    /// `O<opaque>`: the whole token, `O` included, echoed back as is (at most
    /// [`MAX_OPAQUE_LEN`] bytes).
    pub opaque: Option<&'a [u8]>,
    /// `T<ttl>`: new TTL (mg touches, ms sets it, md with `I` updates it).
    pub new_ttl: Option<i64>,
    /// `N<ttl>`: vivify on miss with this TTL (mg, ma).
    pub vivify_ttl: Option<i64>,
    /// `R<ttl>`: win a recache token if the remaining TTL is below this.
    pub recache_ttl: Option<i64>,
    /// `F<flags>`: client flags to store (ms); 32-bit, truncated as memcached does.
    pub set_client_flags: Option<u32>,
    /// `C<cas>`: compare CAS value.
    pub compare_cas: Option<u64>,
    /// `E<cas>`: the CAS value to give the item if this command stores or changes it
    /// (`ms`, `ma`, `md` with `I` or `x`, a vivifying `mg`). Not in memcached 1.6.18.
    pub new_cas: Option<u64>,
    /// `x`: `md` replaces the value with an empty one and keeps the item. Not in memcached
    /// 1.6.18; accepted and ignored by the other commands, as in later memcached.
    pub remove_value: bool,
    /// `X` (larder, `md` only): delete every key starting with the key given (see
    /// `flush_prefix`).
    pub prefix: bool,
    /// `M<mode>`: the mode byte. `parse` guarantees it is valid for `ms` (`E A P R S`) and
    /// `ma` (`I + D -`); see [`MetaFlags::store_mode`] and [`MetaFlags::incr`].
    pub mode: Option<u8>,
    /// `D<delta>`: delta for `ma` (memcached's default is 1).
    pub delta: Option<u64>,
    /// `J<initial>`: initial value when `ma` vivifies (memcached's default is 0).
    pub initial: Option<u64>,
}

impl MetaFlags<'_> {
    /// For `ms`: which store operation the mode asks for (`E` add, `A` append, `P` prepend,
    /// `R` replace, `S` or none set). memcached turns set and replace into a CAS operation
    /// when `C` is given.
    pub fn store_mode(&self) -> super::text::StorageCommand {
        use super::text::StorageCommand;
        match self.mode {
            Some(b'E') => StorageCommand::Add,
            Some(b'A') => StorageCommand::Append,
            Some(b'P') => StorageCommand::Prepend,
            Some(b'R') => StorageCommand::Replace,
            _ => StorageCommand::Set,
        }
    }

    /// For `ma`: increment (mode `I`, `+` or none) rather than decrement (`D`, `-`).
    pub fn incr(&self) -> bool {
        !matches!(self.mode, Some(b'D' | b'-'))
    }
}

/// One parsed meta command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetaRequest<'a> {
    /// Which command.
    pub command: MetaCommand,
    /// The key (empty for `mn`).
    pub key: MetaKey<'a>,
    /// The flags (none for `mn`; for `me` only `base64_key`).
    pub flags: MetaFlags<'a>,
    /// `ms` only: the value, without its trailing `\r\n`; empty otherwise.
    pub data: &'a [u8],
}

/// The line being parsed and the buffer it sits in.
struct Line<'a, 'l> {
    buf: &'a [u8],
    toks: &'l Tokens<'a>,
    len: usize,
}

impl<'a> Line<'a, '_> {
    fn err<T>(&self, reply: ErrorReply) -> Parsed<T> {
        Parsed::Invalid(ParseError::new(reply, self.len))
    }

    fn client<T>(&self, msg: &'static str) -> Parsed<T> {
        self.err(ErrorReply::Client(msg))
    }

    /// An error after which memcached swallows the `ms` data block of `block` bytes.
    fn swallow<T>(&self, reply: ErrorReply, block: usize) -> Parsed<T> {
        let now = block.min(self.buf.len() - self.len);
        Parsed::Invalid(ParseError {
            reply,
            consumed: self.len + now,
            swallow: block - now,
            close: false,
            noreply: false,
            too_large: None,
        })
    }

    fn done(
        &self,
        command: MetaCommand,
        key: MetaKey<'a>,
        flags: MetaFlags<'a>,
    ) -> Parsed<MetaRequest<'a>> {
        Parsed::Complete(
            MetaRequest {
                command,
                key,
                flags,
                data: &[],
            },
            self.len,
        )
    }
}

/// Parses a meta command whose two-letter name is `toks.get(0)` (`m` + `sub`), on a line of
/// `line_len` bytes at the front of `buf`. Called by [`super::text::parse`].
pub(crate) fn parse_command<'a>(
    sub: u8,
    buf: &'a [u8],
    toks: &Tokens<'a>,
    line_len: usize,
    limits: &Limits,
) -> Parsed<MetaRequest<'a>> {
    let line = Line {
        buf,
        toks,
        len: line_len,
    };
    match sub {
        b'g' => keyed(&line, MetaCommand::Get),
        b'd' => keyed(&line, MetaCommand::Delete),
        b'a' => keyed(&line, MetaCommand::Arithmetic),
        b's' => set(&line, limits),
        b'n' => line.done(MetaCommand::Noop, MetaKey::plain(&[]), MetaFlags::default()),
        b'e' => debug(&line),
        _ => line.err(ErrorReply::Error),
    }
}

/// `mg`, `md`, `ma`: `<cmd> <key> <flags>*`.
fn keyed<'a>(line: &Line<'a, '_>, command: MetaCommand) -> Parsed<MetaRequest<'a>> {
    let toks = line.toks;
    if toks.len() < 2 {
        return line.err(ErrorReply::Error);
    }
    let mut key = MetaKey::plain(toks.get(1));
    if key.raw.len() > MAX_KEY_LEN {
        return line.client(BAD_FORMAT);
    }
    if toks.len() > MAX_META_TOKENS {
        return line.client(if command == MetaCommand::Get {
            "options flags are too long"
        } else {
            "options flags too long"
        });
    }
    let flags = match preparse(toks, 2, &mut key, BAD_FORMAT) {
        Ok(flags) => flags,
        // memcached's md and ma report every flag error the same way.
        Err(_) if command != MetaCommand::Get => return line.client("invalid or duplicate flag"),
        Err(msg) => return line.client(msg),
    };
    if command == MetaCommand::Arithmetic
        && !matches!(flags.mode, None | Some(b'I' | b'+' | b'D' | b'-'))
    {
        return line.client("invalid mode for ma M token");
    }
    if opaque_too_long(&flags) {
        return line.client("opaque token too long");
    }
    line.done(command, key, flags)
}

/// `ms <key> <datalen> <flags>*\r\n<data>\r\n`.
fn set<'a>(line: &Line<'a, '_>, limits: &Limits) -> Parsed<MetaRequest<'a>> {
    let toks = line.toks;
    if toks.len() < 2 {
        return line.err(ErrorReply::Error);
    }
    let mut key = MetaKey::plain(toks.get(1));
    // These first errors leave the data block to be read as a command, as in memcached.
    if key.raw.len() > MAX_KEY_LEN || toks.len() == 2 {
        return line.client(BAD_FORMAT);
    }
    if toks.len() > MAX_META_TOKENS {
        return line.client("options flags too long");
    }
    let vlen = match parse_i32(toks.get(2)) {
        Some(v) if (0..=i32::MAX - 2).contains(&v) => v as usize,
        _ => return line.client(BAD_FORMAT),
    };
    let block = vlen + 2;
    // From here on memcached swallows the data block after an error.
    let flags = match preparse(toks, 3, &mut key, BAD_FORMAT) {
        Ok(flags) => flags,
        Err(msg) => return line.swallow(ErrorReply::Client(msg), block),
    };
    if !matches!(flags.mode, None | Some(b'E' | b'A' | b'P' | b'R' | b'S')) {
        return line.swallow(ErrorReply::Client("invalid mode for ms M token"), block);
    }
    if opaque_too_long(&flags) {
        return line.swallow(ErrorReply::Client("opaque token too long"), block);
    }
    let client_flags = flags.set_client_flags.unwrap_or(0);
    if limits.item_too_large(key.as_bytes().len(), client_flags, vlen) {
        // Unlinked in every mode, as memcached's process_mset_command.
        let refused = TooLarge::new(line.buf, key.raw(), key.is_binary(), true);
        let available = line.buf.len() - line.len;
        return Parsed::Invalid(ParseError::too_large(line.len, block, available, refused));
    }
    if line.buf.len() - line.len < block {
        return Parsed::Incomplete;
    }
    let total = line.len + block;
    if &line.buf[line.len + vlen..total] != b"\r\n" {
        // Never hidden by q.
        return Parsed::Invalid(ParseError::new(ErrorReply::Client("bad data chunk"), total));
    }
    Parsed::Complete(
        MetaRequest {
            command: MetaCommand::Set,
            key,
            flags,
            data: &line.buf[line.len..line.len + vlen],
        },
        total,
    )
}

/// `me <key> [b]`: no flag checking at all, as in memcached.
fn debug<'a>(line: &Line<'a, '_>) -> Parsed<MetaRequest<'a>> {
    let toks = line.toks;
    let mut key = MetaKey::plain(toks.get(1));
    if toks.len() < 2 || key.raw.len() > MAX_KEY_LEN {
        return line.client(BAD_FORMAT);
    }
    let mut flags = MetaFlags::default();
    if toks.get(2) == b"b" {
        if !key.decode() {
            return line.client(BAD_FORMAT);
        }
        flags.base64_key = true;
    }
    line.done(MetaCommand::Debug, key, flags)
}

fn opaque_too_long(flags: &MetaFlags<'_>) -> bool {
    flags.opaque.is_some_and(|o| o.len() > MAX_OPAQUE_LEN)
}

/// memcached's `_meta_flag_preparse`: reads the flags from token `start` on. A repeated or
/// unknown flag stops at once; a bad value is remembered and reported after the loop (the
/// last such message wins; `F` has none of its own and leaves `default_err`).
fn preparse<'a>(
    toks: &Tokens<'a>,
    start: usize,
    key: &mut MetaKey<'a>,
    default_err: &'static str,
) -> Result<MetaFlags<'a>, &'static str> {
    let mut flags = MetaFlags {
        tokens: Words::new(toks.rest_from(start)),
        ..MetaFlags::default()
    };
    let mut seen = [false; 128];
    let mut error: Option<&'static str> = None;
    let mut has_error = false;
    let mut fail = |msg: Option<&'static str>| {
        has_error = true;
        if msg.is_some() {
            error = msg;
        }
    };
    for i in start..toks.len() {
        let tok = toks.get(i);
        let letter = tok[0];
        if letter >= 127 || seen[usize::from(letter)] {
            return Err("duplicate flag");
        }
        seen[usize::from(letter)] = true;
        let arg = &tok[1..];
        match letter {
            b'b' => {
                if !key.decode() {
                    fail(Some("error decoding key"));
                }
                flags.base64_key = true;
            }
            b'N' | b'T' | b'R' => match parse_i32(arg) {
                Some(v) => {
                    let v = Some(i64::from(v));
                    match letter {
                        b'N' => flags.vivify_ttl = v,
                        b'T' => flags.new_ttl = v,
                        _ => flags.recache_ttl = v,
                    }
                }
                None => fail(Some(BAD_TOKEN)),
            },
            b'F' => match parse_u32(arg) {
                Some(v) => flags.set_client_flags = Some(v),
                None => fail(None),
            },
            b'C' => match parse_u64(arg) {
                Some(v) => flags.compare_cas = Some(v),
                None => fail(Some(BAD_TOKEN)),
            },
            b'E' => match parse_u64(arg) {
                Some(v) => flags.new_cas = Some(v),
                None => fail(Some(BAD_TOKEN)),
            },
            b'M' => match tok {
                [_, mode] => flags.mode = Some(*mode),
                _ => fail(Some("incorrect length for M token")),
            },
            b'J' => match parse_u64(arg) {
                Some(v) => flags.initial = Some(v),
                None => fail(Some("invalid numeric initial value")),
            },
            b'D' => match parse_u64(arg) {
                Some(v) => flags.delta = Some(v),
                None => fail(Some("invalid numeric delta value")),
            },
            b'O' => flags.opaque = Some(tok),
            b'v' => flags.value = true,
            b's' => flags.size = true,
            b't' => flags.ttl_remaining = true,
            b'c' => flags.cas = true,
            b'f' => flags.client_flags = true,
            b'k' => flags.key = true,
            b'l' => flags.last_access = true,
            b'h' => flags.hit = true,
            b'u' => flags.no_bump = true,
            b'q' => flags.quiet = true,
            b'I' => flags.invalidate = true,
            b'x' => flags.remove_value = true,
            b'X' => flags.prefix = true,
            // Proxy hints, accepted and ignored.
            b'P' | b'L' => {}
            _ => return Err("invalid flag"),
        }
    }
    if has_error {
        Err(error.unwrap_or(default_err))
    } else {
        Ok(flags)
    }
}

mod reply;
pub use reply::{encode_me, encode_meta, encode_mn, MetaStatus, ReturnFlags, ME_MISS};

#[cfg(test)]
mod tests;
