//! The wire vocabulary: bytes in, typed requests out; replies back to bytes.
//!
//! This module owns everything a connection needs to turn its read buffer into requests and
//! requests' outcomes into reply bytes, for every dialect memcached speaks:
//!
//! - [`line`](mod@line): framing, tokenizing and numbers, shared by every text-family dialect.
//! - [`text`]: the classic text protocol (`get`, `set`, `incr`, `stats`, ...) and the text
//!   reply encoders.
//! - [`meta`]: the meta commands (`mg`, `ms`, `md`, `ma`, `mn`, `me`), parsed on the text
//!   tokenizer and returned as [`text::Request::Meta`].
//! - [`binary`]: the binary protocol (24-byte headers, every opcode of memcached 1.6).
//! - [`auth`]: memcached's ASCII authentication request (`-Y`) and SASL PLAIN messages.
//!
//! It is *sans-IO*: functions take `&[u8]` and return how many bytes they used, or append to a
//! `Vec<u8>`. It never touches a socket, the store, the clock or the configuration; the server
//! hands it a [`Limits`] built from the configuration. Nothing else in larder is imported here.
//!
//! Parsing is a three-way outcome, [`Parsed`]: a complete request (borrowing keys and values
//! from the buffer, plus the number of bytes it used), "need more bytes", or an invalid request
//! described by a [`ParseError`] that says exactly what memcached 1.6 would write back, how much
//! input to drop, and whether to close the connection.
//!
//! The behaviour follows memcached 1.6.18 byte for byte (its `proto_text.c`, which is the real
//! contract where `doc/protocol.txt` is silent); the unit tests in each dialect file are
//! transcripts taken from a running memcached 1.6.18.

pub mod admin;
pub mod auth;
pub mod binary;
pub mod line;
pub mod meta;
pub mod prometheus;
pub mod text;

/// Longest key memcached accepts, in bytes (`KEY_MAX_LENGTH`).
pub const MAX_KEY_LEN: usize = 250;

/// Size limits the parser enforces; built by the server from its configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// `-I` / `--max-item-size`, in bytes: the largest item memcached will store. A storage
    /// command whose item would exceed it is answered `SERVER_ERROR object too large for cache`
    /// and its data block is swallowed. The item size counts memcached's per-item overhead
    /// as well as the data (see [`Limits::item_too_large`]).
    pub item_size_max: usize,
}

/// Bytes of memcached's per-item overhead that count against `-I`: the 48-byte item header
/// and the 8-byte CAS value (`sizeof(item)` + `sizeof(uint64_t)` on 64-bit builds).
pub const ITEM_HEADER_SIZE: usize = 56;

impl Limits {
    /// Whether memcached refuses to allocate an item for this storage command under `-I`:
    /// memcached's `item_size_ok`, which counts the item header and CAS
    /// ([`ITEM_HEADER_SIZE`]), the key and its NUL, 4 bytes of client flags when they are not
    /// zero, and the data with its `\r\n`.
    pub fn item_too_large(&self, key_len: usize, flags: u32, data_len: usize) -> bool {
        let suffix = if flags == 0 { 0 } else { 4 };
        let total = ITEM_HEADER_SIZE
            .saturating_add(key_len + 1 + suffix)
            .saturating_add(data_len.saturating_add(2));
        total > self.item_size_max
    }
}

impl Default for Limits {
    /// memcached's default `-I 1m`.
    fn default() -> Self {
        Limits {
            item_size_max: 1024 * 1024,
        }
    }
}

/// The two framings memcached accepts on one port; chosen once per connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// Line-oriented text protocol, classic and meta commands.
    Text,
    /// The binary protocol (24-byte headers, magic byte `0x80`).
    Binary,
}

/// Chooses the dialect of a connection from the first byte it sends, as memcached does:
/// the binary request magic `0x80` means binary, anything else is text.
pub fn sniff(first_byte: u8) -> Dialect {
    if first_byte == 0x80 {
        Dialect::Binary
    } else {
        Dialect::Text
    }
}

/// Outcome of parsing the front of a read buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed<T> {
    /// A whole request, and the number of bytes of the buffer it spans (drop them once the
    /// request has been handled: the request borrows from the buffer).
    Complete(T, usize),
    /// The buffer holds only the beginning of a request: read more and parse again from the
    /// same position.
    Incomplete,
    /// The front of the buffer is not a valid request; the error says what to do about it.
    Invalid(ParseError),
}

/// What to do about an invalid request: the reply, how much input to drop, whether to close.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseError {
    /// The reply memcached writes (unless [`ParseError::noreply`] hides it).
    pub reply: ErrorReply,
    /// Bytes at the front of the buffer to drop now: the bad line, plus whatever part of a
    /// rejected data block is already in the buffer.
    pub consumed: usize,
    /// Further bytes to drop as they arrive: the rest of a rejected data block (memcached's
    /// `conn_swallow` state). Zero for most errors.
    pub swallow: usize,
    /// Close the connection after writing the reply (if any).
    pub close: bool,
    /// The command carried `noreply`, which in memcached hides every reply of the command,
    /// errors included, once the command's token count has been accepted. When set, write
    /// nothing; [`ParseError::write_reply`] does this check.
    pub noreply: bool,
    /// Set when a storage command was refused because its item would be too large: what
    /// the command layer does about it besides the reply.
    pub too_large: Option<TooLarge>,
}

/// A storage command refused before its data block was read because the item would exceed
/// `-I`. memcached counts every such refusal (`store_too_large`) and, for `set` and every
/// `ms`, unlinks the key, so that readers do not go on seeing the value the client meant to
/// replace. The key stays in the input buffer: this says where, and [`TooLarge::key`] reads
/// it back (decoding a meta `b` key, which arrives in base64).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooLarge {
    /// Offset of the key token in the input the parser was given.
    at: usize,
    /// Length of the key token.
    len: usize,
    /// The token is base64 (meta `b` flag).
    base64: bool,
    /// Unlink the key's current value (`set`, `ms`; not `add`, `replace`, `append`,
    /// `prepend` or `cas`, as memcached's `process_update_command`).
    pub unlink: bool,
}

impl TooLarge {
    /// A refusal of the key token `key`, a slice of `input`.
    pub(crate) fn new(input: &[u8], key: &[u8], base64: bool, unlink: bool) -> Self {
        // Where `key` starts within `input` (both are the same buffer; no unsafe needed).
        let at = (key.as_ptr() as usize).wrapping_sub(input.as_ptr() as usize);
        debug_assert!(at + key.len() <= input.len());
        TooLarge {
            at,
            len: key.len(),
            base64,
            unlink,
        }
    }

    /// The refused command's key as stored, read from the `input` the parser was given
    /// (`buf` holds a decoded base64 key). None if `input` is not that buffer any more or
    /// the base64 is invalid (no key to unlink).
    pub fn key<'a>(
        &self,
        input: &'a [u8],
        buf: &'a mut [u8; meta::MAX_DECODED_KEY_LEN],
    ) -> Option<&'a [u8]> {
        let raw = input.get(self.at..self.at.checked_add(self.len)?)?;
        if self.base64 {
            let n = meta::decode_key(raw, buf)?;
            Some(&buf[..n])
        } else {
            Some(raw)
        }
    }
}

impl ParseError {
    /// An error that drops `consumed` bytes and answers `reply`.
    pub(crate) fn new(reply: ErrorReply, consumed: usize) -> Self {
        ParseError {
            reply,
            consumed,
            swallow: 0,
            close: false,
            noreply: false,
            too_large: None,
        }
    }

    /// An error that closes the connection without a reply.
    pub(crate) fn close(consumed: usize) -> Self {
        ParseError {
            reply: ErrorReply::Silent,
            consumed,
            swallow: 0,
            close: true,
            noreply: false,
            too_large: None,
        }
    }

    /// `SERVER_ERROR object too large for cache` for a storage command of `key` whose data
    /// block of `block` bytes starts after `line` bytes, of which `available` are in the
    /// buffer: the line and what is there are dropped now, the rest as it arrives.
    pub(crate) fn too_large(
        line: usize,
        block: usize,
        available: usize,
        refused: TooLarge,
    ) -> Self {
        let now = block.min(available);
        ParseError {
            reply: ErrorReply::Server("object too large for cache"),
            consumed: line + now,
            swallow: block - now,
            close: false,
            noreply: false,
            too_large: Some(refused),
        }
    }

    /// Same error, with `noreply` set as given.
    pub(crate) fn with_noreply(mut self, noreply: bool) -> Self {
        self.noreply = noreply;
        self
    }

    /// Appends the reply to `out` unless `noreply` hides it.
    pub fn write_reply(&self, out: &mut Vec<u8>) {
        if !self.noreply {
            self.reply.encode(out);
        }
    }
}

/// The error lines of the text protocol (the binary dialect maps them to status codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorReply {
    /// `ERROR\r\n`: unknown command or wrong number of tokens.
    Error,
    /// `CLIENT_ERROR <msg>\r\n`: the request is malformed.
    Client(&'static str),
    /// `SERVER_ERROR <msg>\r\n`: the request is well-formed but cannot be served.
    Server(&'static str),
    /// No reply at all (for example before closing the connection).
    Silent,
}

impl ErrorReply {
    /// Appends the reply line, including its `\r\n`, to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            ErrorReply::Error => out.extend_from_slice(b"ERROR\r\n"),
            ErrorReply::Client(msg) => {
                out.extend_from_slice(b"CLIENT_ERROR ");
                out.extend_from_slice(msg.as_bytes());
                out.extend_from_slice(b"\r\n");
            }
            ErrorReply::Server(msg) => {
                out.extend_from_slice(b"SERVER_ERROR ");
                out.extend_from_slice(msg.as_bytes());
                out.extend_from_slice(b"\r\n");
            }
            ErrorReply::Silent => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(reply: ErrorReply) -> Vec<u8> {
        let mut out = Vec::new();
        reply.encode(&mut out);
        out
    }

    #[test]
    fn sniff_picks_binary_only_on_magic() {
        assert_eq!(sniff(0x80), Dialect::Binary);
        assert_eq!(sniff(b'g'), Dialect::Text);
        assert_eq!(sniff(0x81), Dialect::Text);
        assert_eq!(sniff(0), Dialect::Text);
    }

    #[test]
    fn error_replies_encode_exactly() {
        assert_eq!(encoded(ErrorReply::Error), b"ERROR\r\n");
        assert_eq!(
            encoded(ErrorReply::Client("bad data chunk")),
            b"CLIENT_ERROR bad data chunk\r\n"
        );
        assert_eq!(
            encoded(ErrorReply::Server("object too large for cache")),
            b"SERVER_ERROR object too large for cache\r\n"
        );
        assert_eq!(encoded(ErrorReply::Silent), b"");
    }

    #[test]
    fn write_reply_honours_noreply() {
        let mut out = Vec::new();
        ParseError::new(ErrorReply::Error, 3)
            .with_noreply(true)
            .write_reply(&mut out);
        assert!(out.is_empty());
        ParseError::new(ErrorReply::Error, 3).write_reply(&mut out);
        assert_eq!(out, b"ERROR\r\n");
    }

    #[test]
    fn default_limits_are_memcacheds() {
        assert_eq!(Limits::default().item_size_max, 1 << 20);
    }
}
