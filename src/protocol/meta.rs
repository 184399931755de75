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

use super::text::{item_too_large, parse_i32, parse_u32, parse_u64, Keys, Tokens};
use super::{ErrorReply, Limits, ParseError, Parsed, MAX_KEY_LEN};
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
/// [`super::text::parse_i32`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MetaFlags<'a> {
    /// All flag tokens, in order, as sent.
    pub tokens: Keys<'a>,
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
    pub fn store_mode(&self) -> super::text::StoreKind {
        use super::text::StoreKind;
        match self.mode {
            Some(b'E') => StoreKind::Add,
            Some(b'A') => StoreKind::Append,
            Some(b'P') => StoreKind::Prepend,
            Some(b'R') => StoreKind::Replace,
            _ => StoreKind::Set,
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
    if item_too_large(limits, key.as_bytes().len(), client_flags, vlen) {
        return line.swallow(ErrorReply::Server("object too large for cache"), block);
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
        tokens: Keys::new(toks.rest_from(start)),
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

// ---------------------------------------------------------------------------------------------
// Reply encoding
// ---------------------------------------------------------------------------------------------

/// The status code that opens a meta reply line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetaStatus {
    /// `HD`: success, no value.
    Hd,
    /// `VA <len>`: success, the value follows (the caller appends it and `\r\n`).
    Va(usize),
    /// `EN`: `mg` miss.
    En,
    /// `NF`: not found (`md`, `ma`, `ms` in replace/append/prepend modes or with `C`).
    Nf,
    /// `NS`: not stored.
    Ns,
    /// `EX`: CAS mismatch.
    Ex,
}

/// What a reply can report through the return flags the client asked for. A flag whose
/// field is `None` (or `false`) is not written: memcached writes `s t c f l h` only for a
/// `mg` hit, `c` and `t` for `ma`, `c` for `ms`, and `O` and `k` always.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReturnFlags {
    /// `s`: value size in bytes.
    pub size: Option<usize>,
    /// `t`: seconds until expiry, `-1` for none.
    pub ttl: Option<i64>,
    /// `c`: CAS value.
    pub cas: Option<u64>,
    /// `f`: client flags.
    pub client_flags: Option<u32>,
    /// `l`: seconds since last access.
    pub last_access: Option<u64>,
    /// `h`: whether the item had been fetched before.
    pub fetched: Option<bool>,
    /// `mg`: another client already holds the recache token (` Z`).
    pub token_sent: bool,
    /// `mg`: the item is stale (` X`).
    pub stale: bool,
    /// `mg`: this client won the recache token (` W`).
    pub won: bool,
    /// `mg` hit: whether the *item* was stored with a base64 key, which decides how `k`
    /// echoes it (memcached's ITEM_KEY_BINARY); `None` follows the request's `b`.
    pub key_binary: Option<bool>,
}

impl MetaRequest<'_> {
    /// Whether the `q` flag hides a reply with this status, as in memcached 1.6.18: `mg`
    /// hides `EN`; `ms` and `md` hide `HD`; `ma` hides its success (`HD` or `VA`) unless it
    /// just created the item (`N` vivify), for which pass `created`. Errors are never hidden.
    pub fn quiet_hides(&self, status: MetaStatus, created: bool) -> bool {
        self.flags.quiet
            && match self.command {
                MetaCommand::Get => status == MetaStatus::En,
                MetaCommand::Set | MetaCommand::Delete => status == MetaStatus::Hd,
                MetaCommand::Arithmetic => {
                    matches!(status, MetaStatus::Hd | MetaStatus::Va(_)) && !created
                }
                MetaCommand::Noop | MetaCommand::Debug => false,
            }
    }
}

/// Appends the key as memcached prints it: its bytes, or re-encoded in base64 when it is
/// `binary` (memcached re-encodes rather than copying the client's text).
fn push_key_text(out: &mut Vec<u8>, key: &[u8], binary: bool) {
    if binary {
        let start = out.len();
        out.resize(start + key.len().div_ceil(3) * 4, 0);
        // The slice was sized for the padded encoding, so this cannot fail.
        let written = KEY_BASE64.encode_slice(key, &mut out[start..]).unwrap_or(0);
        out.truncate(start + written);
    } else {
        out.extend_from_slice(key);
    }
}

/// Appends a key as a `k` return flag echoes it: [`push_key_text`], plus ` b` for base64.
fn push_key(out: &mut Vec<u8>, key: &[u8], binary: bool) {
    push_key_text(out, key, binary);
    if binary {
        out.extend_from_slice(b" b");
    }
}

/// Writes a meta reply line: the status, then the return flags in the order the request
/// listed them (`s t c f l h` from `ret`, `O` echoed, `k` the key), then mg's ` Z`, ` X`,
/// ` W`, then `\r\n`. For [`MetaStatus::Va`] the caller appends the value and `\r\n`.
pub fn encode_meta(
    out: &mut Vec<u8>,
    status: MetaStatus,
    req: &MetaRequest<'_>,
    ret: &ReturnFlags,
) {
    use super::text::push_decimal;
    match status {
        MetaStatus::Hd => out.extend_from_slice(b"HD"),
        MetaStatus::Va(len) => {
            out.extend_from_slice(b"VA ");
            push_decimal(out, len as u64);
        }
        MetaStatus::En => out.extend_from_slice(b"EN"),
        MetaStatus::Nf => out.extend_from_slice(b"NF"),
        MetaStatus::Ns => out.extend_from_slice(b"NS"),
        MetaStatus::Ex => out.extend_from_slice(b"EX"),
    }
    let number = |out: &mut Vec<u8>, letter: u8, n: u64| {
        out.push(b' ');
        out.push(letter);
        push_decimal(out, n);
    };
    for tok in req.flags.tokens {
        match tok[0] {
            b's' => ret.size.map_or((), |v| number(out, b's', v as u64)),
            b't' => match ret.ttl {
                Some(t) if t < 0 => out.extend_from_slice(b" t-1"),
                Some(t) => number(out, b't', t as u64),
                None => {}
            },
            b'c' => ret.cas.map_or((), |v| number(out, b'c', v)),
            b'f' => ret
                .client_flags
                .map_or((), |v| number(out, b'f', u64::from(v))),
            b'l' => ret.last_access.map_or((), |v| number(out, b'l', v)),
            b'h' => ret.fetched.map_or((), |v| number(out, b'h', u64::from(v))),
            b'O' => {
                out.push(b' ');
                out.extend_from_slice(tok);
            }
            b'k' => {
                out.extend_from_slice(b" k");
                let binary = ret.key_binary.unwrap_or(req.key.is_binary());
                push_key(out, req.key.as_bytes(), binary);
            }
            _ => {}
        }
    }
    for (set, flag) in [
        (ret.token_sent, b" Z"),
        (ret.stale, b" X"),
        (ret.won, b" W"),
    ] {
        if set {
            out.extend_from_slice(flag);
        }
    }
    out.extend_from_slice(b"\r\n");
}

/// `MN\r\n`: the reply to `mn`.
pub fn encode_mn(out: &mut Vec<u8>) {
    out.extend_from_slice(b"MN\r\n");
}

/// The `me` reply line, memcached's debug dump of an item:
/// `ME <key> exp=<exp> la=<la> cas=<cas> fetch=<yes|no> cls=<class> size=<bytes>\r\n`, the
/// key in base64 (without ` b`) when it was stored as binary (`key_binary`). `exp` is `-1`
/// for no expiry.
#[allow(clippy::too_many_arguments)]
pub fn encode_me(
    out: &mut Vec<u8>,
    key: &[u8],
    key_binary: bool,
    exp: i64,
    last_access: u64,
    cas: u64,
    fetched: bool,
    class: u32,
    size: usize,
) {
    use super::text::push_decimal;
    out.extend_from_slice(b"ME ");
    push_key_text(out, key, key_binary);
    out.extend_from_slice(b" exp=");
    if exp < 0 {
        out.push(b'-');
    }
    push_decimal(out, exp.unsigned_abs());
    out.extend_from_slice(b" la=");
    push_decimal(out, last_access);
    out.extend_from_slice(b" cas=");
    push_decimal(out, cas);
    out.extend_from_slice(if fetched { b" fetch=yes" } else { b" fetch=no" });
    out.extend_from_slice(b" cls=");
    push_decimal(out, u64::from(class));
    out.extend_from_slice(b" size=");
    push_decimal(out, size as u64);
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    //! Transcripts marked "memcached 1.6.18" were taken from `/usr/bin/memcached` 1.6.18 (see
    //! the text tests). `drive` shows error replies byte for byte and a `<tag>` for each
    //! complete request: `<mg KEY [FLAGS]>`, `b64:` before a decoded base64 key, and the data
    //! of an `ms`.

    use super::super::text::tests::{drive, drive_with};
    use super::super::text::{parse, Request, StoreKind};
    use super::*;

    fn meta(buf: &[u8]) -> MetaRequest<'_> {
        match parse(buf, &Limits::default()) {
            Parsed::Complete(Request::Meta(m), n) => {
                assert_eq!(n, buf.len());
                m
            }
            other => panic!("{other:?}"),
        }
    }

    fn ce(msg: &str) -> String {
        format!("CLIENT_ERROR {msg}\r\n")
    }

    fn k(n: usize) -> String {
        "k".repeat(n)
    }

    #[test]
    fn mg_flags_are_read() {
        let m = meta(b"mg foo v t f c s k O123 h l u q T30 N-1 R5 P L I\r\n");
        assert_eq!(m.command, MetaCommand::Get);
        assert_eq!(m.key.as_bytes(), b"foo");
        assert!(!m.key.is_binary());
        let f = m.flags;
        assert!(f.value && f.ttl_remaining && f.client_flags && f.cas && f.size && f.key);
        assert!(f.hit && f.last_access && f.no_bump && f.quiet && f.invalidate);
        assert!(!f.base64_key);
        assert_eq!(f.opaque, Some(&b"O123"[..]));
        assert_eq!(
            (f.new_ttl, f.vivify_ttl, f.recache_ttl),
            (Some(30), Some(-1), Some(5))
        );
        assert_eq!(f.tokens.count(), 17);
        assert_eq!(
            f.tokens.take(3).collect::<Vec<_>>(),
            [&b"v"[..], b"t", b"f"]
        );
        assert_eq!(m.data, b"");
        // memcached 1.6.18: "mg foo T+5 v t" and "mg foo T-1 v" are accepted.
        assert_eq!(meta(b"mg foo T+5\r\n").flags.new_ttl, Some(5));
        assert_eq!(drive(b"mg  foo   v  \r\n"), "<mg foo [v]>");
        assert_eq!(drive(b"mg foo\r\n"), "<mg foo []>");
        // A tab is part of the key, as in memcached ("mg foo\tv" misses).
        assert_eq!(drive(b"mg foo\tv\r\n"), "<mg foo\tv []>");
    }

    #[test]
    fn mg_errors() {
        // memcached 1.6.18 transcripts.
        assert_eq!(drive(b"mg\r\n"), "ERROR\r\n");
        assert_eq!(drive(b"mg foo zz\r\n"), ce("invalid flag"));
        assert_eq!(drive(b"mg foo y\r\n"), ce("invalid flag"));
        assert_eq!(drive(b"mg foo HTTP/1.1\r\n"), ce("invalid flag"));
        assert_eq!(drive(b"mg foo v v\r\n"), ce("duplicate flag"));
        assert_eq!(drive(b"mg foo v vx\r\n"), ce("duplicate flag"));
        assert_eq!(drive(b"mg foo \xff\r\n"), ce("duplicate flag"));
        let bad_token = ce("bad token in command line format");
        assert_eq!(drive(b"mg foo Tabc\r\n"), bad_token);
        assert_eq!(drive(b"mg foo T\r\n"), bad_token);
        assert_eq!(drive(b"mg foo T5x v\r\n"), bad_token);
        assert_eq!(drive(b"mg foo N\r\n"), bad_token);
        assert_eq!(drive(b"mg foo C\r\n"), bad_token);
        // A value error is reported after the loop, so a later unknown flag wins; between
        // value errors the last message wins, and F has no message of its own.
        assert_eq!(drive(b"mg foo Tabc z\r\n"), ce("invalid flag"));
        assert_eq!(drive(b"mg foo z Tabc\r\n"), ce("invalid flag"));
        assert_eq!(drive(b"mg foo Tabc Fxyz\r\n"), bad_token);
        assert_eq!(drive(b"mg foo Fxyz Tabc\r\n"), bad_token);
        assert_eq!(drive(b"mg foo F\r\n"), ce("bad command line format"));
        assert_eq!(drive(b"mg foo Fabc\r\n"), ce("bad command line format"));
        assert_eq!(drive(b"mg foo MZZ\r\n"), ce("incorrect length for M token"));
        assert_eq!(drive(b"mg foo M\r\n"), ce("incorrect length for M token"));
        assert_eq!(drive(b"mg foo Jx\r\n"), ce("invalid numeric initial value"));
        assert_eq!(drive(b"mg foo J\r\n"), ce("invalid numeric initial value"));
        assert_eq!(drive(b"mg foo Dx\r\n"), ce("invalid numeric delta value"));
        // Opaque: 32 bytes with the O is fine, 33 is not; q does not hide errors.
        let ok = format!("mg foo O{}\r\n", "a".repeat(31));
        assert_eq!(
            drive(ok.as_bytes()),
            format!("<mg foo [O{}]>", "a".repeat(31))
        );
        let long = format!("mg foo O{}\r\n", "a".repeat(32));
        assert_eq!(drive(long.as_bytes()), ce("opaque token too long"));
        let long = format!("mg missing O{} q\r\n", "a".repeat(32));
        assert_eq!(drive(long.as_bytes()), ce("opaque token too long"));
        assert_eq!(drive(b"mg foo O\r\n"), "<mg foo [O]>");
        // Key length.
        let key = format!("mg {} v\r\n", k(251));
        assert_eq!(drive(key.as_bytes()), ce("bad command line format"));
        let key = format!("mg {} v\r\n", k(250));
        assert_eq!(drive(key.as_bytes()), format!("<mg {} [v]>", k(250)));
        // At most 17 flags after the key.
        let too_many = ce("options flags are too long");
        assert_eq!(
            drive(b"mg foo a b c d e f g h i j k l m n o p q r\r\n"),
            too_many
        );
        assert_eq!(
            drive(b"mg foo v t f c s k O1 h l u q T1 N1 R1 b P L I\r\n"),
            too_many
        );
        assert_eq!(
            drive(b"mg foo a b c d e f g h i j k l m n o p q\r\n"),
            ce("invalid flag")
        );
        assert_eq!(
            drive(b"mg foo v t f c s k O1 h l u T1 N1 R1 P L I\r\n"),
            "<mg foo [v t f c s k O1 h l u T1 N1 R1 P L I]>"
        );
    }

    #[test]
    fn base64_keys() {
        // memcached 1.6.18: "mg Zm9v b v k" finds "foo" and echoes "kZm9v b".
        let m = meta(b"mg Zm9v b v k\r\n");
        assert_eq!(m.key.as_bytes(), b"foo");
        assert_eq!(m.key.raw(), b"Zm9v");
        assert!(m.key.is_binary() && m.flags.base64_key);
        assert_eq!(drive(b"mg Zm8= b v k\r\n"), "<mg b64:fo [b v k]>");
        assert_eq!(drive(b"mg Zm9vYg== b v k\r\n"), "<mg b64:foob [b v k]>");
        assert_eq!(drive(b"mg AAAA b\r\n"), "<mg b64:\0\0\0 [b]>");
        // Non-zero trailing bits are accepted: "Zh==" is "f" as "Zg==" is.
        assert_eq!(drive(b"mg Zh== b v k\r\n"), "<mg b64:f [b v k]>");
        assert_eq!(drive(b"mg Zm9= b v\r\n"), "<mg b64:fo [b v]>");
        let bad = ce("error decoding key");
        for line in [
            &b"mg Zm9 b v\r\n"[..],
            b"mg Zm8 b v k\r\n",
            b"mg Zg= b v k\r\n",
            b"mg Zg b v k\r\n",
            b"mg !!!! b v\r\n",
            b"mg b b\r\n",
            b"mg foo b\r\n",
            b"mg ==== b v\r\n",
            b"mg Z=== b v k\r\n",
            b"mg Zm-_ b v k\r\n",
            b"mg Zm9v\tb b v k\r\n",
        ] {
            assert_eq!(drive(line), bad, "{line:?}");
        }
        // memcached's decoder skips bytes outside the alphabet and stops after the first
        // padded quartet (memcached 1.6.18: "mg Zg==Zg== b k" => "EN kZg== b").
        assert_eq!(drive(b"mg Zg==Zg== b v\r\n"), "<mg b64:f [b v]>");
        assert_eq!(drive(b"mg Zm9v\r b\r\n"), "<mg b64:foo [b]>");
        assert_eq!(drive(b"mg Z!m9v b\r\n"), "<mg b64:foo [b]>");
        // "Zm9v=" is a token starting with Z after the key: an unknown flag.
        assert_eq!(drive(b"mg foo Zm9v= b\r\n"), ce("invalid flag"));
        // A 250-byte base64 key decodes into the inline buffer.
        let long = format!("mg {} b\r\n", "A".repeat(248));
        assert_eq!(meta(long.as_bytes()).key.as_bytes().len(), 186);
    }

    #[test]
    fn ms_commands() {
        let m = meta(b"ms foo 3 T0 F7 c k O9 q MA C5 I\r\nbar\r\n");
        assert_eq!(m.command, MetaCommand::Set);
        assert_eq!(m.key.as_bytes(), b"foo");
        assert_eq!(m.data, b"bar");
        let f = m.flags;
        assert_eq!(
            (f.new_ttl, f.set_client_flags, f.compare_cas),
            (Some(0), Some(7), Some(5))
        );
        assert!(f.cas && f.key && f.quiet && f.invalidate);
        assert_eq!(f.opaque, Some(&b"O9"[..]));
        assert_eq!(f.store_mode(), StoreKind::Append);
        assert_eq!(f.tokens.count(), 9);
        // memcached 1.6.18 transcripts.
        assert_eq!(drive(b"ms foo 3\r\nbar\r\n"), "<ms foo [] \"bar\">");
        assert_eq!(drive(b"ms foo 0\r\n\r\n"), "<ms foo [] \"\">");
        assert_eq!(
            drive(b"ms Zm9v 3 b k c\r\nbar\r\n"),
            "<ms b64:foo [b k c] \"bar\">"
        );
        // The data length is read like any memcached number: 4294967299 is 3.
        assert_eq!(
            drive(b"ms foo 4294967299\r\nbar\r\n"),
            "<ms foo [] \"bar\">"
        );
        assert_eq!(
            meta(b"ms foo 3 F4294967296\r\nbar\r\n")
                .flags
                .set_client_flags,
            Some(0)
        );
        assert_eq!(meta(b"ms foo 3 T-1\r\nbar\r\n").flags.new_ttl, Some(-1));
        assert_eq!(
            drive(b"ms foo 3 N10 D5 J1\r\nbar\r\n"),
            "<ms foo [N10 D5 J1] \"bar\">"
        );
        for (mode, kind) in [
            ("ME", StoreKind::Add),
            ("MA", StoreKind::Append),
            ("MP", StoreKind::Prepend),
            ("MR", StoreKind::Replace),
            ("MS", StoreKind::Set),
        ] {
            let line = format!("ms foo 1 {mode}\r\nx\r\n");
            assert_eq!(meta(line.as_bytes()).flags.store_mode(), kind);
        }
        assert_eq!(
            meta(b"ms foo 1\r\nx\r\n").flags.store_mode(),
            StoreKind::Set
        );
    }

    #[test]
    fn ms_errors() {
        // memcached 1.6.18: errors on the line itself leave the data to be read as a command.
        assert_eq!(drive(b"ms\r\n"), "ERROR\r\n");
        let fmt = ce("bad command line format");
        assert_eq!(drive(b"ms foo\r\n"), fmt);
        assert_eq!(drive(b"ms foo abc\r\nbar\r\n"), format!("{fmt}ERROR\r\n"));
        assert_eq!(drive(b"ms foo -1\r\nbar\r\n"), format!("{fmt}ERROR\r\n"));
        assert_eq!(
            drive(b"ms foo S3\r\nbar\r\nmn\r\n"),
            format!("{fmt}ERROR\r\n<mn  []>")
        );
        assert_eq!(
            drive(b"ms foo 2147483646\r\nmn\r\n"),
            format!("{fmt}<mn  []>")
        );
        let key = format!("ms {} 3\r\nbar\r\nmn\r\n", k(251));
        assert_eq!(drive(key.as_bytes()), format!("{fmt}ERROR\r\n<mn  []>"));
        let too_many = ce("options flags too long");
        assert_eq!(
            drive(b"ms foo 3 a b c d e f g h i j k l m n o p q\r\nbar\r\nmn\r\n"),
            format!("{too_many}ERROR\r\n<mn  []>")
        );
        // memcached 1.6.18: flag errors swallow the data block, even with q.
        for (line, msg) in [
            (&b"ms foo 3 zz"[..], "invalid flag"),
            (b"ms foo 3 zz q", "invalid flag"),
            (b"ms foo 3 HTTP/1.1", "invalid flag"),
            (b"ms foo 3 Zm9=", "invalid flag"),
            (b"ms foo 3 Tabc", "bad token in command line format"),
            (b"ms foo 3 Cx", "bad token in command line format"),
            (b"ms foo 3 F", "bad command line format"),
            (b"ms foo 3 Dx", "invalid numeric delta value"),
            (b"ms foo 3 MX", "invalid mode for ms M token"),
            (b"ms foo 3 Ms", "invalid mode for ms M token"),
            (b"ms foo 3 MEE", "incorrect length for M token"),
            (b"ms foo 3 v v", "duplicate flag"),
            (b"ms foo 3 T0 T1", "duplicate flag"),
            (b"ms foo 3 b", "error decoding key"),
            (b"ms Zm9 3 b", "error decoding key"),
        ] {
            let input = [line, &b"\r\nbar\r\nmn\r\n"[..]].concat();
            assert_eq!(drive(&input), format!("{}<mn  []>", ce(msg)), "{line:?}");
        }
        let opaque = format!("ms foo 3 O{}\r\nbar\r\nmn\r\n", "a".repeat(32));
        assert_eq!(
            drive(opaque.as_bytes()),
            format!("{}<mn  []>", ce("opaque token too long"))
        );
        // An invalid mode is reported before a long opaque.
        let both = format!("ms foo 3 O{} MX\r\nbar\r\nmn\r\n", "a".repeat(32));
        assert_eq!(
            drive(both.as_bytes()),
            format!("{}<mn  []>", ce("invalid mode for ms M token"))
        );
        // memcached 1.6.18: bad data chunk is written even with q; len + 2 bytes consumed.
        for q in ["", " q"] {
            let input = format!("ms foo 3{q}\r\nbarx\r\nmn\r\n");
            assert_eq!(
                drive(input.as_bytes()),
                format!("{}ERROR\r\n<mn  []>", ce("bad data chunk"))
            );
        }
        // memcached 1.6.18 -I 1m: too large, swallowed, written even with q.
        for q in ["", " q"] {
            let mut input = format!("ms foo 2000000{q}\r\n").into_bytes();
            input.resize(input.len() + 2_000_000, b'x');
            input.extend_from_slice(b"\r\nmn\r\n");
            assert_eq!(
                drive(&input),
                "SERVER_ERROR object too large for cache\r\n<mn  []>"
            );
        }
        // The size check counts the decoded key and the F flags: memcached 1.6.18 -I 1m stores
        // "ms Zm9v 1048514 b" and "ms foo 1048510 F1" but refuses one byte more.
        let l = Limits::default();
        for (line, fits) in [
            ("ms Zm9v 1048514 b\r\n", true),
            ("ms Zm9v 1048515 b\r\n", false),
            ("ms foo 1048510 F1\r\n", true),
            ("ms foo 1048511 F1\r\n", false),
        ] {
            let expect = if fits {
                "<wait>"
            } else {
                "SERVER_ERROR object too large for cache\r\n"
            };
            assert_eq!(drive_with(line.as_bytes(), &l), expect, "{line}");
        }
        let small = Limits { item_size_max: 100 };
        assert_eq!(drive_with(b"ms k 40\r\n", &small), "<wait>");
        assert_eq!(
            drive_with(b"ms k 37 F1\r\n", &small),
            "SERVER_ERROR object too large for cache\r\n"
        );
        assert_eq!(drive_with(b"ms Zm9v 38 b\r\n", &small), "<wait>");
    }

    #[test]
    fn explicit_cas_and_remove_value() {
        // Later memcached 1.6 (not 1.6.18): E<cas> on every command, x read by all.
        for line in [
            &b"mg foo E7 x\r\n"[..],
            b"md foo E7 x\r\n",
            b"ma foo E7 x\r\n",
        ] {
            let f = meta(line).flags;
            assert_eq!((f.new_cas, f.remove_value), (Some(7), true));
        }
        let f = meta(b"ms foo 1 E18446744073709551615\r\na\r\n").flags;
        assert_eq!((f.new_cas, f.remove_value), (Some(u64::MAX), false));
        let f = meta(b"md foo\r\n").flags;
        assert_eq!((f.new_cas, f.remove_value), (None, false));
        let bad_token = ce("bad token in command line format");
        assert_eq!(drive(b"mg foo Eabc\r\n"), bad_token);
        assert_eq!(drive(b"mg foo E\r\n"), bad_token);
        assert_eq!(drive(b"mg foo E18446744073709551616\r\n"), bad_token);
        assert_eq!(drive(b"mg foo E1 E2\r\n"), ce("duplicate flag"));
        assert_eq!(drive(b"ms foo 1 Ex\r\na\r\n"), bad_token);
        let generic = ce("invalid or duplicate flag");
        assert_eq!(drive(b"md foo Eabc\r\n"), generic);
        assert_eq!(drive(b"md foo x x\r\n"), generic);
        assert_eq!(drive(b"ma foo E-1\r\n"), generic);
    }

    #[test]
    fn md_and_ma() {
        // memcached 1.6.18 transcripts.
        assert_eq!(drive(b"md\r\nma\r\n"), "ERROR\r\nERROR\r\n");
        assert_eq!(drive(b"md foo q\r\n"), "<md foo [q]>");
        assert_eq!(drive(b"md missing k O5\r\n"), "<md missing [k O5]>");
        let m = meta(b"md foo C5 I T30\r\n");
        assert_eq!(m.command, MetaCommand::Delete);
        assert_eq!(
            (m.flags.compare_cas, m.flags.invalidate, m.flags.new_ttl),
            (Some(5), true, Some(30))
        );
        let generic = ce("invalid or duplicate flag");
        for line in [
            &b"md foo zz\r\n"[..],
            b"md foo v v\r\n",
            b"md foo Tabc\r\n",
            b"md foo b\r\n",
            b"md foo a b c d e f g h i j k l m n o p q\r\n",
            b"ma n MDD\r\n",
            b"ma n Dx\r\n",
            b"ma n D18446744073709551616\r\n",
            b"ma n zz\r\n",
            b"ma n v v\r\n",
        ] {
            assert_eq!(drive(line), generic, "{line:?}");
        }
        let too_many = ce("options flags too long");
        assert_eq!(
            drive(b"md foo a b c d e f g h i j k l m n o p q r\r\n"),
            too_many
        );
        assert_eq!(
            drive(b"ma n a b c d e f g h i j k l m n o p q r\r\n"),
            too_many
        );
        let opaque = ce("opaque token too long");
        let long = "a".repeat(32);
        assert_eq!(drive(format!("md foo O{long}\r\n").as_bytes()), opaque);
        assert_eq!(drive(format!("ma n O{long}\r\n").as_bytes()), opaque);
        let fmt = ce("bad command line format");
        assert_eq!(drive(format!("md {}\r\n", k(251)).as_bytes()), fmt);
        assert_eq!(drive(format!("ma {}\r\n", k(251)).as_bytes()), fmt);
        assert_eq!(drive(b"ma n MX\r\n"), ce("invalid mode for ma M token"));
        assert_eq!(
            drive(b"md foo v t f c s k O1 h l u q T1 N1 R1 P\r\n"),
            "<md foo [v t f c s k O1 h l u q T1 N1 R1 P]>"
        );
        // ma: defaults and modes.
        let m = meta(b"ma n\r\n");
        assert_eq!(m.command, MetaCommand::Arithmetic);
        assert_eq!(
            (m.flags.delta, m.flags.initial, m.flags.incr()),
            (None, None, true)
        );
        for (mode, incr) in [("MI", true), ("M+", true), ("MD", false), ("M-", false)] {
            let line = format!("ma n {mode} D3\r\n");
            let m = meta(line.as_bytes());
            assert_eq!((m.flags.incr(), m.flags.delta), (incr, Some(3)));
        }
        let m = meta(b"ma missing N0 J5 v q O1 k\r\n");
        assert_eq!(
            (m.flags.vivify_ttl, m.flags.initial, m.flags.value),
            (Some(0), Some(5), true)
        );
    }

    #[test]
    fn mn_me_and_unknown() {
        // memcached 1.6.18: "mn" and "mn foo bar" => "MN\r\n".
        assert_eq!(drive(b"mn\r\nmn foo bar\r\n"), "<mn  []><mn  []>");
        let m = meta(b"me foo\r\n");
        assert_eq!(
            (m.command, m.key.as_bytes()),
            (MetaCommand::Debug, &b"foo"[..])
        );
        assert_eq!(drive(b"me foo x y z\r\n"), "<me foo []>");
        assert_eq!(drive(b"me Zm9v b\r\n"), "<me b64:foo []>");
        assert_eq!(drive(b"me Zm9v b x\r\n"), "<me b64:foo []>");
        // Only a token that is exactly "b" asks for decoding.
        assert_eq!(drive(b"me Zm9v bb\r\n"), "<me Zm9v []>");
        let fmt = ce("bad command line format");
        assert_eq!(drive(b"me\r\n"), fmt);
        assert_eq!(drive(b"me Zm9 b\r\n"), fmt);
        assert_eq!(drive(b"me foo b\r\n"), fmt);
        assert_eq!(drive(format!("me {}\r\n", k(251)).as_bytes()), fmt);
        // memcached 1.6.18: other m-commands.
        assert_eq!(
            drive(b"mx foo\r\nMG foo\r\nmgx foo\r\nm foo\r\n"),
            "ERROR\r\n".repeat(4)
        );
    }

    #[test]
    fn meta_prefixes_are_incomplete() {
        for req in [
            &b"mg foo v k O1\r\n"[..],
            b"ms foo 3 T10\r\nbar\r\n",
            b"ms Zm9v 0 b\r\n\r\n",
            b"md foo q\r\n",
            b"ma foo MD D2\r\n",
            b"mn\r\n",
            b"me foo\r\n",
        ] {
            meta(req);
            for cut in 0..req.len() {
                assert_eq!(
                    parse(&req[..cut], &Limits::default()),
                    Parsed::Incomplete,
                    "{:?}",
                    &req[..cut]
                );
            }
        }
    }

    fn reply(req: &[u8], status: MetaStatus, ret: ReturnFlags) -> String {
        let m = meta(req);
        let mut out = Vec::new();
        encode_meta(&mut out, status, &m, &ret);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn meta_replies_are_exact() {
        // memcached 1.6.18: "mg foo v t f c s k O123 h l" on a 3-byte item with flags 5 =>
        // "VA 3 t-1 f5 c1 s3 kfoo O123 h0 l0\r\n".
        let hit = ReturnFlags {
            size: Some(3),
            ttl: Some(-1),
            cas: Some(1),
            client_flags: Some(5),
            last_access: Some(0),
            fetched: Some(false),
            ..ReturnFlags::default()
        };
        assert_eq!(
            reply(b"mg foo v t f c s k O123 h l\r\n", MetaStatus::Va(3), hit),
            "VA 3 t-1 f5 c1 s3 kfoo O123 h0 l0\r\n"
        );
        // memcached 1.6.18: "mg foo2 N30 v c t" vivifies => "VA 0 c2 t30 W".
        let viv = ReturnFlags {
            cas: Some(2),
            ttl: Some(30),
            won: true,
            ..ReturnFlags::default()
        };
        assert_eq!(
            reply(b"mg foo2 N30 v c t\r\n", MetaStatus::Va(0), viv),
            "VA 0 c2 t30 W\r\n"
        );
        // memcached 1.6.18: a miss echoes only O and k: "mg missing k O1" => "EN kmissing O1".
        assert_eq!(
            reply(
                b"mg missing k O1 v s\r\n",
                MetaStatus::En,
                ReturnFlags::default()
            ),
            "EN kmissing O1\r\n"
        );
        // memcached 1.6.18: base64 keys are echoed re-encoded: "mg Zh== b v k" => "EN kZg== b".
        assert_eq!(
            reply(b"mg Zh== b v k\r\n", MetaStatus::En, ReturnFlags::default()),
            "EN kZg== b\r\n"
        );
        // memcached 1.6.18: "ms cXs0 2 k O1 c b" => "HD kcXs0 b O1 c39".
        let set = ReturnFlags {
            cas: Some(39),
            ..ReturnFlags::default()
        };
        assert_eq!(
            reply(b"ms cXs0 2 k O1 c b\r\nhi\r\n", MetaStatus::Hd, set),
            "HD kcXs0 b O1 c39\r\n"
        );
        // memcached 1.6.18: "ma num t c v k O3 N5" => "VA 1 t100 c42 knum O3".
        let arith = ReturnFlags {
            ttl: Some(100),
            cas: Some(42),
            ..ReturnFlags::default()
        };
        assert_eq!(
            reply(b"ma num t c v k O3 N5\r\n", MetaStatus::Va(1), arith),
            "VA 1 t100 c42 knum O3\r\n"
        );
        // memcached 1.6.18: "md num O4 k" => "NF O4 knum".
        assert_eq!(
            reply(b"md num O4 k\r\n", MetaStatus::Nf, ReturnFlags::default()),
            "NF O4 knum\r\n"
        );
        let all = ReturnFlags {
            token_sent: true,
            stale: true,
            won: true,
            ..ReturnFlags::default()
        };
        assert_eq!(reply(b"mg k\r\n", MetaStatus::Hd, all), "HD Z X W\r\n");
        for (status, text) in [(MetaStatus::Ns, "NS"), (MetaStatus::Ex, "EX")] {
            assert_eq!(
                reply(b"ms k 0\r\n\r\n", status, ReturnFlags::default()),
                format!("{text}\r\n")
            );
        }
        let mut out = Vec::new();
        encode_mn(&mut out);
        // memcached 1.6.18: "me foo" => "ME foo exp=-1 la=1 cas=1 fetch=yes cls=1 size=69".
        encode_me(&mut out, b"foo", false, -1, 1, 1, true, 1, 69);
        encode_me(&mut out, b"foo", true, 5, 0, 7, false, 2, 70);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "MN\r\nME foo exp=-1 la=1 cas=1 fetch=yes cls=1 size=69\r\n\
             ME Zm9v exp=5 la=0 cas=7 fetch=no cls=2 size=70\r\n"
        );
    }

    #[test]
    fn quiet_mode_follows_memcached() {
        // memcached 1.6.18: "mg k q" hides EN only; "ms k 1 q" hides HD (NS, EX, NF shown);
        // "md k q" hides HD (NF, EX shown); "ma k q" hides HD and VA except right after
        // vivifying, NF shown.
        let mg = meta(b"mg k q v\r\n");
        assert!(mg.quiet_hides(MetaStatus::En, false));
        assert!(!mg.quiet_hides(MetaStatus::Hd, false));
        assert!(!mg.quiet_hides(MetaStatus::Va(1), false));
        let ms = meta(b"ms k 1 q\r\nx\r\n");
        assert!(ms.quiet_hides(MetaStatus::Hd, false));
        for s in [MetaStatus::Ns, MetaStatus::Ex, MetaStatus::Nf] {
            assert!(!ms.quiet_hides(s, false));
        }
        let md = meta(b"md k q\r\n");
        assert!(md.quiet_hides(MetaStatus::Hd, false));
        assert!(!md.quiet_hides(MetaStatus::Nf, false));
        assert!(!md.quiet_hides(MetaStatus::Ex, false));
        let ma = meta(b"ma k q N0 v\r\n");
        assert!(ma.quiet_hides(MetaStatus::Va(1), false));
        assert!(ma.quiet_hides(MetaStatus::Hd, false));
        assert!(!ma.quiet_hides(MetaStatus::Va(1), true));
        assert!(!ma.quiet_hides(MetaStatus::Nf, false));
        // Without q nothing is hidden.
        assert!(!meta(b"mg k\r\n").quiet_hides(MetaStatus::En, false));
    }
}
