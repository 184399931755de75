//! The memcached text protocol, client side and sans-IO: request encoders that append to
//! a `Vec<u8>`, and a classifier for reply lines. Wording follows memcached's
//! `doc/protocol.txt`. No sockets here; `conn.rs` moves the bytes.

use std::io::Write;

/// The storage commands (protocol.txt, "Storage commands").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreCmd {
    /// Store unconditionally.
    Set,
    /// Store only if the key is absent.
    Add,
    /// Store only if the key is present.
    Replace,
    /// Append to an existing value.
    Append,
    /// Prepend to an existing value.
    Prepend,
    /// Store only if the CAS token still matches.
    Cas(u64),
}

impl StoreCmd {
    fn verb(self) -> &'static [u8] {
        match self {
            StoreCmd::Set => b"set",
            StoreCmd::Add => b"add",
            StoreCmd::Replace => b"replace",
            StoreCmd::Append => b"append",
            StoreCmd::Prepend => b"prepend",
            StoreCmd::Cas(_) => b"cas",
        }
    }
}

/// `<cmd> <key> <flags> <exptime> <bytes> [<cas>]\r\n<data>\r\n`
pub fn store(out: &mut Vec<u8>, cmd: StoreCmd, key: &[u8], flags: u32, exptime: u32, value: &[u8]) {
    out.extend_from_slice(cmd.verb());
    out.push(b' ');
    out.extend_from_slice(key);
    // Writing into a Vec cannot fail.
    let _ = write!(out, " {flags} {exptime} {}", value.len());
    if let StoreCmd::Cas(token) = cmd {
        let _ = write!(out, " {token}");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// `get|gets <key>*\r\n` or `gat|gats <exptime> <key>*\r\n`.
pub fn retrieve<'k>(
    out: &mut Vec<u8>,
    verb: &str,
    exptime: Option<u32>,
    keys: impl IntoIterator<Item = &'k [u8]>,
) {
    out.extend_from_slice(verb.as_bytes());
    if let Some(exptime) = exptime {
        let _ = write!(out, " {exptime}");
    }
    for key in keys {
        out.push(b' ');
        out.extend_from_slice(key);
    }
    out.extend_from_slice(b"\r\n");
}

/// `delete <key>\r\n`
pub fn delete(out: &mut Vec<u8>, key: &[u8]) {
    out.extend_from_slice(b"delete ");
    out.extend_from_slice(key);
    out.extend_from_slice(b"\r\n");
}

/// `incr|decr <key> <delta>\r\n`
pub fn arith(out: &mut Vec<u8>, incr: bool, key: &[u8], delta: u64) {
    out.extend_from_slice(if incr { b"incr " } else { b"decr " });
    out.extend_from_slice(key);
    let _ = write!(out, " {delta}\r\n");
}

/// `touch <key> <exptime>\r\n`
pub fn touch(out: &mut Vec<u8>, key: &[u8], exptime: u32) {
    out.extend_from_slice(b"touch ");
    out.extend_from_slice(key);
    let _ = write!(out, " {exptime}\r\n");
}

/// `flush_all [delay]\r\n`
pub fn flush_all(out: &mut Vec<u8>, delay: Option<u32>) {
    match delay {
        Some(d) => {
            let _ = write!(out, "flush_all {d}\r\n");
        }
        None => out.extend_from_slice(b"flush_all\r\n"),
    }
}

/// `stats [arg]\r\n`
pub fn stats(out: &mut Vec<u8>, arg: Option<&str>) {
    match arg {
        Some(a) => {
            let _ = write!(out, "stats {a}\r\n");
        }
        None => out.extend_from_slice(b"stats\r\n"),
    }
}

/// A reply line, classified. Borrowed from the connection's read buffer.
#[derive(Debug, PartialEq, Eq)]
pub enum Line<'a> {
    /// `STORED`
    Stored,
    /// `NOT_STORED`
    NotStored,
    /// `EXISTS`
    Exists,
    /// `NOT_FOUND`
    NotFound,
    /// `DELETED`
    Deleted,
    /// `TOUCHED`
    Touched,
    /// `OK`
    Ok,
    /// `END`
    End,
    /// `VALUE <key> <flags> <bytes> [<cas>]`
    Value(ValueHeader<'a>),
    /// `STAT <name> <value>`
    Stat(&'a str, &'a str),
    /// `VERSION <version>`
    Version(&'a str),
    /// A decimal number (incr/decr result).
    Number(u64),
    /// `ERROR`, `CLIENT_ERROR ...`, `SERVER_ERROR ...`: the whole line.
    Error(&'a str),
    /// Anything else.
    Unknown(&'a [u8]),
}

/// The header of one retrieved item.
#[derive(Debug, PartialEq, Eq)]
pub struct ValueHeader<'a> {
    /// The item's key.
    pub key: &'a [u8],
    /// Opaque client flags.
    pub flags: u32,
    /// Length of the data block that follows.
    pub bytes: usize,
    /// CAS token (`gets`/`gats` only).
    pub cas: Option<u64>,
}

/// Classifies one reply line (without its `\r\n`).
pub fn classify(line: &[u8]) -> Line<'_> {
    match line {
        b"STORED" => return Line::Stored,
        b"NOT_STORED" => return Line::NotStored,
        b"EXISTS" => return Line::Exists,
        b"NOT_FOUND" => return Line::NotFound,
        b"DELETED" => return Line::Deleted,
        b"TOUCHED" => return Line::Touched,
        b"OK" => return Line::Ok,
        b"END" => return Line::End,
        _ => {}
    }
    if let Some(rest) = line.strip_prefix(b"VALUE ") {
        return value_header(rest).map_or(Line::Unknown(line), Line::Value);
    }
    let text = std::str::from_utf8(line).ok();
    if let Some(text) = text {
        if let Some(rest) = text.strip_prefix("STAT ") {
            let (name, value) = rest.split_once(' ').unwrap_or((rest, ""));
            return Line::Stat(name, value);
        }
        if let Some(v) = text.strip_prefix("VERSION ") {
            return Line::Version(v);
        }
        if text == "ERROR" || text.starts_with("CLIENT_ERROR") || text.starts_with("SERVER_ERROR") {
            return Line::Error(text);
        }
        if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
            if let Ok(n) = text.parse() {
                return Line::Number(n);
            }
        }
    }
    Line::Unknown(line)
}

fn value_header(rest: &[u8]) -> Option<ValueHeader<'_>> {
    let mut parts = rest.split(|b| *b == b' ');
    let key = parts.next().filter(|k| !k.is_empty())?;
    let num = |p: Option<&[u8]>| -> Option<u64> { std::str::from_utf8(p?).ok()?.parse().ok() };
    let flags = u32::try_from(num(parts.next())?).ok()?;
    let bytes = usize::try_from(num(parts.next())?).ok()?;
    let cas = match parts.next() {
        Some(p) => Some(num(Some(p))?),
        None => None,
    };
    if parts.next().is_some() {
        return None;
    }
    Some(ValueHeader {
        key,
        flags,
        bytes,
        cas,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_requests_byte_exact() {
        let mut out = Vec::new();
        store(&mut out, StoreCmd::Set, b"k", 5, 60, b"abc");
        store(&mut out, StoreCmd::Cas(77), b"k", 0, 0, b"");
        retrieve(&mut out, "gets", None, [&b"a"[..], b"b"]);
        retrieve(&mut out, "gat", Some(9), [&b"a"[..]]);
        delete(&mut out, b"k");
        arith(&mut out, false, b"n", 3);
        touch(&mut out, b"k", 10);
        flush_all(&mut out, None);
        flush_all(&mut out, Some(5));
        stats(&mut out, Some("slabs"));
        assert_eq!(
            out,
            b"set k 5 60 3\r\nabc\r\ncas k 0 0 0 77\r\n\r\ngets a b\r\ngat 9 a\r\n\
delete k\r\ndecr n 3\r\ntouch k 10\r\nflush_all\r\nflush_all 5\r\nstats slabs\r\n"
        );
    }

    #[test]
    fn classifies_replies() {
        assert_eq!(classify(b"STORED"), Line::Stored);
        assert_eq!(classify(b"END"), Line::End);
        assert_eq!(classify(b"42"), Line::Number(42));
        assert_eq!(classify(b"STAT pid 12"), Line::Stat("pid", "12"));
        assert_eq!(classify(b"VERSION 1.6.18"), Line::Version("1.6.18"));
        assert_eq!(
            classify(b"SERVER_ERROR out of memory"),
            Line::Error("SERVER_ERROR out of memory")
        );
        assert_eq!(
            classify(b"VALUE key 3 10 99"),
            Line::Value(ValueHeader {
                key: b"key",
                flags: 3,
                bytes: 10,
                cas: Some(99)
            })
        );
        assert_eq!(
            classify(b"VALUE key 3 10"),
            Line::Value(ValueHeader {
                key: b"key",
                flags: 3,
                bytes: 10,
                cas: None
            })
        );
        for bad in [
            &b"VALUE key x 10"[..],
            b"VALUE key 1",
            b"VALUE key 1 2 3 4",
            b"VALUE  1 2",
            b"HELLO",
        ] {
            assert_eq!(classify(bad), Line::Unknown(bad));
        }
        assert_eq!(
            classify(b"99999999999999999999999"),
            Line::Unknown(b"99999999999999999999999")
        );
    }
}
