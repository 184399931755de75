//! The binary protocol: 24-byte big-endian headers, typed requests and reply encoding.
//!
//! A request frame is a header (magic `0x80`, opcode, key length, extras length, data type,
//! vbucket, total body length, opaque, CAS) followed by the body: extras, key, value.
//! [`parse`] reads the frame at the front of a buffer without copying: a [`Request`] borrows
//! its key and value from the buffer. Framing follows memcached 1.6.18's `proto_bin.c`
//! (`try_read_command_binary` and `dispatch_bin_command`), checked against a running
//! memcached 1.6.18:
//!
//! - a wrong magic closes the connection without a reply ([`Parsed::Invalid`]);
//! - a key or key + extras longer than the body answers "Unknown command" and closes; this
//!   check comes before authentication ([`Reject::before_auth`]);
//! - a key over 250 bytes, or extras/key/body lengths that do not fit the opcode, answer
//!   "Invalid arguments" and close;
//! - an unknown opcode answers "Unknown command" and skips its body;
//! - a stored value that cannot fit in an item of `-I` bytes answers "Too large." and skips
//!   the value; a SASL payload over `-I` answers "Out of memory" and skips it.
//!
//! A reject is decided from the header (and, for values, the extras and key) alone, so a
//! frame announcing a huge body never makes the connection buffer it. Where memcached 1.6
//! misframes a request (an unknown opcode with a key swallows `bodylen` bytes *after* the
//! key; a touch or stat with trailing value bytes leaves them to be read as the next
//! header), larder stays in step with the frame boundaries instead: it skips exactly the
//! unknown frame, and answers "Invalid arguments" and closes for the trailing bytes.
//!
//! Replies are written by [`encode_header`], [`encode_response`] and [`encode_error`].

use super::{Limits, ParseError, Parsed, MAX_KEY_LEN};

/// Length of every request and response header.
pub const HEADER_LEN: usize = 24;
/// Magic byte of a request.
pub const REQUEST_MAGIC: u8 = 0x80;
/// Magic byte of a response.
pub const RESPONSE_MAGIC: u8 = 0x81;
/// Longest SASL mechanism name memcached accepts (`MAX_SASL_MECH_LEN`).
pub const MAX_SASL_MECH_LEN: usize = 32;
/// Increment/decrement expiration meaning "do not create a missing counter".
pub const ARITH_NO_CREATE: u32 = 0xffff_ffff;

/// Every opcode memcached 1.6 implements in the binary protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opcode {
    /// 0x00
    Get,
    /// 0x01
    Set,
    /// 0x02
    Add,
    /// 0x03
    Replace,
    /// 0x04
    Delete,
    /// 0x05
    Increment,
    /// 0x06
    Decrement,
    /// 0x07
    Quit,
    /// 0x08
    Flush,
    /// 0x09
    GetQ,
    /// 0x0a
    Noop,
    /// 0x0b
    Version,
    /// 0x0c
    GetK,
    /// 0x0d
    GetKQ,
    /// 0x0e
    Append,
    /// 0x0f
    Prepend,
    /// 0x10
    Stat,
    /// 0x11
    SetQ,
    /// 0x12
    AddQ,
    /// 0x13
    ReplaceQ,
    /// 0x14
    DeleteQ,
    /// 0x15
    IncrementQ,
    /// 0x16
    DecrementQ,
    /// 0x17
    QuitQ,
    /// 0x18
    FlushQ,
    /// 0x19
    AppendQ,
    /// 0x1a
    PrependQ,
    /// 0x1c
    Touch,
    /// 0x1d
    Gat,
    /// 0x1e
    GatQ,
    /// 0x20
    SaslListMechs,
    /// 0x21
    SaslAuth,
    /// 0x22
    SaslStep,
    /// 0x23
    GatK,
    /// 0x24
    GatKQ,
    /// 0x60: ElastiCache's Config Get (larder, with `-o cluster_config`).
    ConfigGet,
}

impl Opcode {
    /// The opcode for a wire byte; `None` for opcodes memcached 1.6 does not implement.
    pub fn from_u8(b: u8) -> Option<Opcode> {
        use Opcode::*;
        Some(match b {
            0x00 => Get,
            0x01 => Set,
            0x02 => Add,
            0x03 => Replace,
            0x04 => Delete,
            0x05 => Increment,
            0x06 => Decrement,
            0x07 => Quit,
            0x08 => Flush,
            0x09 => GetQ,
            0x0a => Noop,
            0x0b => Version,
            0x0c => GetK,
            0x0d => GetKQ,
            0x0e => Append,
            0x0f => Prepend,
            0x10 => Stat,
            0x11 => SetQ,
            0x12 => AddQ,
            0x13 => ReplaceQ,
            0x14 => DeleteQ,
            0x15 => IncrementQ,
            0x16 => DecrementQ,
            0x17 => QuitQ,
            0x18 => FlushQ,
            0x19 => AppendQ,
            0x1a => PrependQ,
            0x1c => Touch,
            0x1d => Gat,
            0x1e => GatQ,
            0x20 => SaslListMechs,
            0x21 => SaslAuth,
            0x22 => SaslStep,
            0x23 => GatK,
            0x24 => GatKQ,
            0x60 => ConfigGet,
            _ => return None,
        })
    }

    /// Quiet opcodes answer only what the client cannot infer: hits for gets, errors for
    /// mutations, nothing for quit.
    pub fn is_quiet(self) -> bool {
        use Opcode::*;
        matches!(
            self,
            GetQ | GetKQ
                | SetQ
                | AddQ
                | ReplaceQ
                | DeleteQ
                | IncrementQ
                | DecrementQ
                | QuitQ
                | FlushQ
                | AppendQ
                | PrependQ
                | GatQ
                | GatKQ
        )
    }

    /// Whether a retrieval echoes the key in its reply (`GetK`, `GetKQ`, `GatK`, `GatKQ`).
    pub fn returns_key(self) -> bool {
        matches!(
            self,
            Opcode::GetK | Opcode::GetKQ | Opcode::GatK | Opcode::GatKQ
        )
    }

    /// Whether an unauthenticated connection may send it (SASL and version only).
    pub fn allowed_before_auth(b: u8) -> bool {
        matches!(
            Opcode::from_u8(b),
            Some(Opcode::SaslListMechs | Opcode::SaslAuth | Opcode::SaslStep | Opcode::Version)
        )
    }
}

/// Response status codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// 0x0000
    Success,
    /// 0x0001: "Not found".
    KeyNotFound,
    /// 0x0002: "Data exists for key.".
    KeyExists,
    /// 0x0003: "Too large.".
    TooLarge,
    /// 0x0004: "Invalid arguments".
    InvalidArguments,
    /// 0x0005: "Not stored.".
    NotStored,
    /// 0x0006: "Non-numeric server-side value for incr or decr".
    NonNumeric,
    /// 0x0020: "Auth failure.".
    AuthError,
    /// 0x0021: more SASL steps needed (multi-step mechanisms only).
    AuthContinue,
    /// 0x0081: "Unknown command".
    UnknownCommand,
    /// 0x0082: "Out of memory".
    OutOfMemory,
}

impl Status {
    /// The wire code.
    pub fn code(self) -> u16 {
        match self {
            Status::Success => 0x00,
            Status::KeyNotFound => 0x01,
            Status::KeyExists => 0x02,
            Status::TooLarge => 0x03,
            Status::InvalidArguments => 0x04,
            Status::NotStored => 0x05,
            Status::NonNumeric => 0x06,
            Status::AuthError => 0x20,
            Status::AuthContinue => 0x21,
            Status::UnknownCommand => 0x81,
            Status::OutOfMemory => 0x82,
        }
    }

    /// The body memcached sends with the error (`write_bin_error`).
    pub fn message(self) -> &'static str {
        match self {
            Status::Success | Status::AuthContinue => "",
            Status::KeyNotFound => "Not found",
            Status::KeyExists => "Data exists for key.",
            Status::TooLarge => "Too large.",
            Status::InvalidArguments => "Invalid arguments",
            Status::NotStored => "Not stored.",
            Status::NonNumeric => "Non-numeric server-side value for incr or decr",
            Status::AuthError => "Auth failure.",
            Status::UnknownCommand => "Unknown command",
            Status::OutOfMemory => "Out of memory",
        }
    }
}

/// A decoded request header (numbers already in host order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Magic byte (0x80 for a valid request).
    pub magic: u8,
    /// Raw opcode byte.
    pub opcode: u8,
    /// Key length.
    pub key_len: u16,
    /// Extras length.
    pub extras_len: u8,
    /// Data type (unused by memcached).
    pub data_type: u8,
    /// vbucket id (unused by memcached).
    pub vbucket: u16,
    /// Extras + key + value length.
    pub body_len: u32,
    /// Echoed in the reply.
    pub opaque: u32,
    /// CAS: compare-and-swap value for mutations, 0 for none.
    pub cas: u64,
}

impl Header {
    /// Decodes the first [`HEADER_LEN`] bytes; `None` if `buf` is shorter.
    pub fn read(buf: &[u8]) -> Option<Header> {
        let h: &[u8; HEADER_LEN] = buf.get(..HEADER_LEN)?.try_into().ok()?;
        Some(Header {
            magic: h[0],
            opcode: h[1],
            key_len: u16::from_be_bytes([h[2], h[3]]),
            extras_len: h[4],
            data_type: h[5],
            vbucket: u16::from_be_bytes([h[6], h[7]]),
            body_len: u32::from_be_bytes([h[8], h[9], h[10], h[11]]),
            opaque: u32::from_be_bytes([h[12], h[13], h[14], h[15]]),
            cas: u64::from_be_bytes([h[16], h[17], h[18], h[19], h[20], h[21], h[22], h[23]]),
        })
    }

    /// Header plus body, in bytes.
    pub fn frame_len(&self) -> usize {
        HEADER_LEN + self.body_len as usize
    }
}

/// What a request asks for, with its extras decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body<'a> {
    /// Get, GetQ, GetK, GetKQ.
    Get {
        /// The key.
        key: &'a [u8],
    },
    /// Touch, Gat, GatQ, GatK, GatKQ.
    Touch {
        /// The key.
        key: &'a [u8],
        /// New expiration (memcached's exptime rules).
        exptime: u32,
    },
    /// Set, Add, Replace and their quiet forms.
    Store {
        /// The key.
        key: &'a [u8],
        /// Client flags.
        flags: u32,
        /// Expiration.
        exptime: u32,
        /// The value.
        value: &'a [u8],
    },
    /// Append, Prepend and their quiet forms (no extras).
    Concat {
        /// The key.
        key: &'a [u8],
        /// The data to add.
        value: &'a [u8],
    },
    /// Delete, DeleteQ.
    Delete {
        /// The key.
        key: &'a [u8],
    },
    /// Increment, Decrement and their quiet forms.
    Arith {
        /// The key.
        key: &'a [u8],
        /// Amount to add or subtract.
        delta: u64,
        /// Value stored when the key is missing.
        initial: u64,
        /// Expiration of a created counter; [`ARITH_NO_CREATE`] means do not create.
        exptime: u32,
    },
    /// Flush, FlushQ, with an optional delay.
    Flush {
        /// Delay (exptime rules), 0 or absent for now.
        exptime: u32,
    },
    /// Stat with an optional group name.
    Stat {
        /// The group ("" for general stats).
        group: &'a [u8],
    },
    /// Config Get (0x60) with its key (`cluster`).
    ConfigGet {
        /// The config key.
        key: &'a [u8],
    },
    /// SASL auth or step: mechanism and payload.
    Sasl {
        /// Mechanism name.
        mechanism: &'a [u8],
        /// Mechanism data.
        data: &'a [u8],
    },
    /// Opcodes without a body: Noop, Version, Quit, QuitQ, SASL list mechanisms.
    Empty,
}

/// A complete, well-formed request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request<'a> {
    /// The opcode.
    pub opcode: Opcode,
    /// The header as received (opaque and CAS are read from it).
    pub header: Header,
    /// The decoded body.
    pub body: Body<'a>,
}

/// A frame memcached answers with an error status instead of executing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reject<'a> {
    /// The header of the rejected frame.
    pub header: Header,
    /// The status to answer.
    pub status: Status,
    /// The key, when the buffer already holds it (empty otherwise).
    pub key: &'a [u8],
    /// Bytes of the buffer to drop now.
    pub consumed: usize,
    /// Further bytes of the frame to drop as they arrive.
    pub swallow: usize,
    /// Close the connection after the reply.
    pub close: bool,
    /// The check runs before memcached's authentication check (a broken frame), so an
    /// unauthenticated connection gets this status rather than an auth error.
    pub before_auth: bool,
}

/// A parsed frame: a request to execute, or one to answer with an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame<'a> {
    /// Execute it.
    Request(Request<'a>),
    /// Answer `status`, then skip or close as it says.
    Reject(Reject<'a>),
}

fn reject(buf: &[u8], header: Header, status: Status, close: bool) -> Parsed<Frame<'_>> {
    let frame = header.frame_len();
    let consumed = buf.len().min(frame);
    Parsed::Complete(
        Frame::Reject(Reject {
            header,
            status,
            key: &[],
            consumed,
            swallow: if close { 0 } else { frame - consumed },
            close,
            before_auth: false,
        }),
        consumed,
    )
}

/// Whether the extras, key and body lengths fit the opcode (memcached's
/// `dispatch_bin_command` checks, made exact where memcached would lose the frame).
fn shape_ok(op: Opcode, el: usize, kl: usize, bl: usize) -> bool {
    use Opcode::*;
    match op {
        Version | Noop | Quit | QuitQ | SaslListMechs => el == 0 && kl == 0 && bl == 0,
        Flush | FlushQ => kl == 0 && bl == el && (el == 0 || el == 4),
        Set | SetQ | Add | AddQ | Replace | ReplaceQ => el == 8 && kl != 0,
        Get | GetQ | GetK | GetKQ | Delete | DeleteQ => el == 0 && kl > 0 && bl == kl,
        Increment | IncrementQ | Decrement | DecrementQ => kl > 0 && el == 20 && bl == kl + 20,
        Append | AppendQ | Prepend | PrependQ => kl > 0 && el == 0,
        Stat => el == 0 && bl == kl,
        // Any shape: the command layer answers Unknown command unless it is exactly the
        // key `cluster` on a server with a cluster config (memcached has no 0x60 at all).
        ConfigGet => true,
        SaslAuth | SaslStep => el == 0 && kl != 0,
        Touch | Gat | GatQ | GatK | GatKQ => el == 4 && kl != 0 && bl == kl + 4,
    }
}

fn be32(b: &[u8]) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[..4]);
    u32::from_be_bytes(a)
}

fn be64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_be_bytes(a)
}

/// Parses the frame at the front of `buf`.
///
/// `Complete(frame, n)`: the frame spans `n` bytes of `buf` (for a [`Reject`] that skips
/// its body, `n` may be less than the frame and [`Reject::swallow`] says how much more to
/// drop). `Incomplete`: read more. `Invalid`: the magic is wrong; close without a reply.
pub fn parse<'a>(buf: &'a [u8], limits: &Limits) -> Parsed<Frame<'a>> {
    let Some(header) = Header::read(buf) else {
        return Parsed::Incomplete;
    };
    if header.magic != REQUEST_MAGIC {
        return Parsed::Invalid(ParseError::close(buf.len()));
    }
    let el = usize::from(header.extras_len);
    let kl = usize::from(header.key_len);
    let bl = header.body_len as usize;
    if kl > bl || kl + el > bl {
        return Parsed::Complete(
            Frame::Reject(Reject {
                header,
                status: Status::UnknownCommand,
                key: &[],
                consumed: buf.len(),
                swallow: 0,
                close: true,
                before_auth: true,
            }),
            buf.len(),
        );
    }
    if kl > MAX_KEY_LEN {
        return reject(buf, header, Status::InvalidArguments, true);
    }
    let Some(op) = Opcode::from_u8(header.opcode) else {
        return reject(buf, header, Status::UnknownCommand, false);
    };
    if !shape_ok(op, el, kl, bl) {
        return reject(buf, header, Status::InvalidArguments, true);
    }
    let value_len = bl - el - kl;
    let head_len = HEADER_LEN + el + kl;
    if buf.len() < head_len {
        return Parsed::Incomplete;
    }
    let extras = &buf[HEADER_LEN..HEADER_LEN + el];
    let key = &buf[HEADER_LEN + el..head_len];
    use Opcode::*;
    let oversized = match op {
        Set | SetQ | Add | AddQ | Replace | ReplaceQ => limits
            .item_too_large(kl, be32(extras), value_len)
            .then_some(Status::TooLarge),
        Append | AppendQ | Prepend | PrependQ => limits
            .item_too_large(kl, 0, value_len)
            .then_some(Status::TooLarge),
        SaslAuth | SaslStep => (value_len > limits.item_size_max).then_some(Status::OutOfMemory),
        _ => None,
    };
    if let Some(status) = oversized {
        let frame = header.frame_len();
        let consumed = buf.len().min(frame);
        return Parsed::Complete(
            Frame::Reject(Reject {
                header,
                status,
                key,
                consumed,
                swallow: frame - consumed,
                close: false,
                before_auth: false,
            }),
            consumed,
        );
    }
    let frame = header.frame_len();
    if buf.len() < frame {
        return Parsed::Incomplete;
    }
    let value = &buf[head_len..frame];
    let body = match op {
        Get | GetQ | GetK | GetKQ => Body::Get { key },
        Touch | Gat | GatQ | GatK | GatKQ => Body::Touch {
            key,
            exptime: be32(extras),
        },
        Set | SetQ | Add | AddQ | Replace | ReplaceQ => Body::Store {
            key,
            flags: be32(extras),
            exptime: be32(&extras[4..]),
            value,
        },
        Append | AppendQ | Prepend | PrependQ => Body::Concat { key, value },
        Delete | DeleteQ => Body::Delete { key },
        Increment | IncrementQ | Decrement | DecrementQ => Body::Arith {
            key,
            delta: be64(extras),
            initial: be64(&extras[8..]),
            exptime: be32(&extras[16..]),
        },
        Flush | FlushQ => Body::Flush {
            exptime: if el == 4 { be32(extras) } else { 0 },
        },
        Stat => Body::Stat { group: key },
        ConfigGet => Body::ConfigGet { key },
        SaslAuth | SaslStep => Body::Sasl {
            mechanism: key,
            data: value,
        },
        Version | Noop | Quit | QuitQ | SaslListMechs => Body::Empty,
    };
    Parsed::Complete(
        Frame::Request(Request {
            opcode: op,
            header,
            body,
        }),
        frame,
    )
}

mod reply;
pub use reply::{encode_error, encode_header, encode_response, encode_stat};

#[cfg(test)]
mod tests;
