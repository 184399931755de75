//! Client side of the three memcached dialects the load generator speaks: request encoding into
//! a reusable buffer and incremental, sans-IO reply parsing.
//!
//! Only what a load generator needs: `get`/`set` in text, `mg <key> v`/`ms <key> <len> T0` in
//! meta, and opcodes 0x00 (get) and 0x01 (set) in binary. Replies arrive in request order, so the
//! parser is told which operation the oldest outstanding request was.

use std::io::Write;

/// The wire dialect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// Classic text protocol (`get`, `set`).
    Text,
    /// Meta text protocol (`mg`, `ms`).
    Meta,
    /// Binary protocol (24-byte headers).
    Binary,
}

impl Protocol {
    /// Parses `text`, `meta` or `binary`.
    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "text" | "ascii" => Ok(Protocol::Text),
            "meta" => Ok(Protocol::Meta),
            "binary" | "bin" => Ok(Protocol::Binary),
            _ => Err(format!("protocol {s:?}: expected text, meta or binary")),
        }
    }

    /// The name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Text => "text",
            Protocol::Meta => "meta",
            Protocol::Binary => "binary",
        }
    }
}

/// A request kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// Fetch one key.
    Get,
    /// Store one key.
    Set,
}

/// What one reply said.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reply {
    /// A get found its key.
    Hit,
    /// A get missed.
    Miss,
    /// A set stored its value.
    Stored,
    /// A set was refused without an error (NOT_STORED, EXISTS, NS, ...).
    NotStored,
    /// An error reply (ERROR, CLIENT_ERROR, SERVER_ERROR, a binary error status).
    Error,
}

/// Outcome of parsing the front of a read buffer.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    /// One complete reply and how many bytes it used.
    Complete(Reply, usize),
    /// More bytes are needed.
    Incomplete,
    /// The bytes cannot be a reply to the given operation; the connection is unusable.
    Invalid(String),
}

const BIN_REQ: u8 = 0x80;
const BIN_RES: u8 = 0x81;
const BIN_GET: u8 = 0x00;
const BIN_SET: u8 = 0x01;
const BIN_HEADER: usize = 24;

/// Appends a get for `key` to `out`.
pub fn encode_get(proto: Protocol, key: &[u8], out: &mut Vec<u8>) {
    match proto {
        Protocol::Text => {
            out.extend_from_slice(b"get ");
            out.extend_from_slice(key);
            out.extend_from_slice(b"\r\n");
        }
        Protocol::Meta => {
            out.extend_from_slice(b"mg ");
            out.extend_from_slice(key);
            out.extend_from_slice(b" v\r\n");
        }
        Protocol::Binary => bin_header(out, BIN_GET, key.len(), 0, 0),
    }
    if proto == Protocol::Binary {
        out.extend_from_slice(key);
    }
}

/// Appends a set of `key` to `value` (flags 0, no expiry) to `out`.
pub fn encode_set(proto: Protocol, key: &[u8], value: &[u8], out: &mut Vec<u8>) {
    match proto {
        Protocol::Text => {
            out.extend_from_slice(b"set ");
            out.extend_from_slice(key);
            // Writing into a Vec cannot fail.
            let _ = write!(out, " 0 0 {}\r\n", value.len());
        }
        Protocol::Meta => {
            out.extend_from_slice(b"ms ");
            out.extend_from_slice(key);
            let _ = write!(out, " {} T0\r\n", value.len());
        }
        Protocol::Binary => {
            bin_header(out, BIN_SET, key.len(), 8, value.len());
            out.extend_from_slice(&[0u8; 8]); // extras: flags u32, exptime u32
            out.extend_from_slice(key);
            out.extend_from_slice(value);
            return;
        }
    }
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

fn bin_header(out: &mut Vec<u8>, opcode: u8, key_len: usize, extras: usize, value_len: usize) {
    let body = (extras + key_len + value_len) as u32;
    out.push(BIN_REQ);
    out.push(opcode);
    out.extend_from_slice(&(key_len as u16).to_be_bytes());
    out.push(extras as u8);
    out.push(0); // data type
    out.extend_from_slice(&[0, 0]); // vbucket
    out.extend_from_slice(&body.to_be_bytes());
    out.extend_from_slice(&[0u8; 4]); // opaque
    out.extend_from_slice(&[0u8; 8]); // cas
}

/// Parses the reply at the front of `buf` to a request of kind `op`.
pub fn parse_reply(proto: Protocol, op: Op, buf: &[u8]) -> Parsed {
    match proto {
        Protocol::Binary => parse_binary(op, buf),
        Protocol::Text | Protocol::Meta => parse_text(proto, op, buf),
    }
}

fn parse_binary(op: Op, buf: &[u8]) -> Parsed {
    if buf.len() < BIN_HEADER {
        return Parsed::Incomplete;
    }
    if buf[0] != BIN_RES {
        return Parsed::Invalid(format!("binary reply magic 0x{:02x}", buf[0]));
    }
    let body = u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]) as usize;
    let total = BIN_HEADER + body;
    if buf.len() < total {
        return Parsed::Incomplete;
    }
    let status = u16::from_be_bytes([buf[6], buf[7]]);
    let reply = match (op, status) {
        (Op::Get, 0) => Reply::Hit,
        (Op::Get, 1) => Reply::Miss,
        (Op::Set, 0) => Reply::Stored,
        (Op::Set, 2) | (Op::Set, 5) => Reply::NotStored,
        _ => Reply::Error,
    };
    Parsed::Complete(reply, total)
}

fn parse_text(proto: Protocol, op: Op, buf: &[u8]) -> Parsed {
    let Some(nl) = buf.iter().position(|&b| b == b'\n') else {
        return Parsed::Incomplete;
    };
    let line_len = nl + 1;
    let line = buf[..nl].strip_suffix(b"\r").unwrap_or(&buf[..nl]);
    if line.starts_with(b"ERROR")
        || line.starts_with(b"CLIENT_ERROR")
        || line.starts_with(b"SERVER_ERROR")
    {
        return Parsed::Complete(Reply::Error, line_len);
    }
    match (proto, op) {
        (Protocol::Text, Op::Get) => {
            if line == b"END" {
                return Parsed::Complete(Reply::Miss, line_len);
            }
            if !line.starts_with(b"VALUE ") {
                return Parsed::Invalid(lossy("get reply", line));
            }
            // VALUE <key> <flags> <bytes> [<cas>]
            let Some(len) = line.split(|&b| b == b' ').nth(3).and_then(parse_usize) else {
                return Parsed::Invalid(lossy("VALUE line", line));
            };
            let total = line_len + len + 2 + 5;
            if buf.len() < total {
                return Parsed::Incomplete;
            }
            if &buf[line_len + len..total] != b"\r\nEND\r\n" {
                return Parsed::Invalid(lossy("value trailer", &buf[line_len + len..total]));
            }
            Parsed::Complete(Reply::Hit, total)
        }
        (Protocol::Meta, Op::Get) => {
            if line == b"EN" {
                return Parsed::Complete(Reply::Miss, line_len);
            }
            if line == b"HD" || line.starts_with(b"HD ") {
                return Parsed::Complete(Reply::Hit, line_len);
            }
            if !line.starts_with(b"VA ") {
                return Parsed::Invalid(lossy("mg reply", line));
            }
            let Some(len) = line.split(|&b| b == b' ').nth(1).and_then(parse_usize) else {
                return Parsed::Invalid(lossy("VA line", line));
            };
            let total = line_len + len + 2;
            if buf.len() < total {
                return Parsed::Incomplete;
            }
            if &buf[line_len + len..total] != b"\r\n" {
                return Parsed::Invalid(lossy("value trailer", &buf[line_len + len..total]));
            }
            Parsed::Complete(Reply::Hit, total)
        }
        (Protocol::Text, Op::Set) => match line {
            b"STORED" => Parsed::Complete(Reply::Stored, line_len),
            b"NOT_STORED" | b"EXISTS" | b"NOT_FOUND" => {
                Parsed::Complete(Reply::NotStored, line_len)
            }
            _ => Parsed::Invalid(lossy("set reply", line)),
        },
        (Protocol::Meta, Op::Set) => {
            let head = line.get(..2).unwrap_or(line);
            match head {
                b"HD" => Parsed::Complete(Reply::Stored, line_len),
                b"NS" | b"EX" | b"NF" => Parsed::Complete(Reply::NotStored, line_len),
                _ => Parsed::Invalid(lossy("ms reply", line)),
            }
        }
        (Protocol::Binary, _) => parse_binary(op, buf),
    }
}

fn parse_usize(t: &[u8]) -> Option<usize> {
    if t.is_empty() || t.len() > 12 {
        return None;
    }
    t.iter().try_fold(0usize, |acc, &b| {
        b.is_ascii_digit().then(|| acc * 10 + usize::from(b - b'0'))
    })
}

fn lossy(what: &str, bytes: &[u8]) -> String {
    let shown = &bytes[..bytes.len().min(60)];
    format!("unexpected {what}: {:?}", String::from_utf8_lossy(shown))
}
