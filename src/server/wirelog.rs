//! `-vv` logging of text requests and replies, in memcached's form:
//!
//! ```text
//! <24 set a 0 0 1
//! >24 STORED
//! <24 get a
//! >24 sending key a
//! >24 END
//! ```
//!
//! `<fd` is the command line received, `>fd` a one-line reply, `sending key K` each value
//! of a retrieval. Replies of several lines (stats, listings) are not logged, as memcached
//! logs none of them.
//!
//! Binary requests are logged as memcached 1.6.18's `proto_bin.c` logs them: the request
//! header as hex, the command's own line (`<fd GET key`, `<fd SET key Value len is N`,
//! `Deleting key`, `incr key delta, initial, exptime`, ...), then for each response an
//! error line if it carries one and its header as hex:
//!
//! ```text
//! <24 Read binary protocol data:
//! <24    0x80 0x00 0x00 0x01
//! ... (six lines of four bytes)
//! <24 GET k
//! >24 Writing an error: Not found
//! >24 Writing bin response:
//! >24   0x81 0x00 0x00 0x00
//! ... (six lines)
//! ```
//!
//! A connection's dialect is announced once (`24: Client using the binary protocol`).
//! Records go to the `wire` log target at debug level (`-vv`, or `verbosity 2` at run
//! time), printed without a prefix. When the level is off this costs one relaxed load per
//! request.

use crate::protocol::line::Tokens;
use crate::protocol::Dialect;
use std::fmt::Write as _;

/// The log target of these records (printed bare by the daemon's logger).
pub const TARGET: &str = "wire";

/// Whether request logging is on.
#[inline]
pub fn enabled() -> bool {
    log::log_enabled!(target: TARGET, log::Level::Debug)
}

/// Logs the dialect a connection's first byte chose, as memcached does at `-vv`.
pub fn negotiated(fd: i32, dialect: Dialect) {
    if enabled() {
        let name = match dialect {
            Dialect::Text => "ascii",
            Dialect::Binary => "binary",
        };
        log::debug!(target: TARGET, "{fd}: Client using the {name} protocol");
    }
}

/// Logs the request at the front of `input`, whatever the level is now: the caller
/// checked [`enabled`] before executing it (so `verbosity 0` is logged itself).
pub fn request(dialect: Dialect, fd: i32, input: &[u8]) {
    match dialect {
        Dialect::Text => text_request(fd, input),
        Dialect::Binary => binary_request(fd, input),
    }
}

/// Logs the replies `out` written for one request.
pub fn reply(dialect: Dialect, fd: i32, out: &[u8]) {
    match dialect {
        Dialect::Text => text_reply(fd, out),
        Dialect::Binary => binary_reply(fd, out),
    }
}

/// Bytes of a binary header.
const HEADER: usize = 24;

/// memcached's hex dump of a binary header: `title`, then four bytes a line, each line
/// prefixed with `prefix`.
fn hex_header(prefix: &str, title: &str, header: &[u8]) -> String {
    let mut s = String::with_capacity(200);
    s.push_str(title);
    for (i, b) in header.iter().enumerate() {
        if i % 4 == 0 {
            s.push('\n');
            s.push_str(prefix);
        }
        let _ = write!(s, " 0x{b:02x}");
    }
    s
}

fn binary_request(fd: i32, input: &[u8]) {
    let Some(h) = input.get(..HEADER) else {
        return;
    };
    log::debug!(
        target: TARGET,
        "{}",
        hex_header(&format!("<{fd}   "), &format!("<{fd} Read binary protocol data:"), h)
    );
    let opcode = h[1];
    let keylen = usize::from(u16::from_be_bytes([h[2], h[3]]));
    let extlen = usize::from(h[4]);
    let bodylen = u32::from_be_bytes([h[8], h[9], h[10], h[11]]) as usize;
    let body = input.get(HEADER..).unwrap_or_default();
    let extras = body.get(..extlen).unwrap_or_default();
    let key = String::from_utf8_lossy(body.get(extlen..extlen + keylen).unwrap_or_default());
    let vlen = bodylen.saturating_sub(keylen + extlen);
    match opcode {
        // Get, GetQ, GetK, GetKQ.
        0x00 | 0x09 | 0x0c | 0x0d => log::debug!(target: TARGET, "<{fd} GET {key}"),
        // Touch, GAT, GATQ, GATK, GATKQ.
        0x1c | 0x1d | 0x1e | 0x23 | 0x24 => log::debug!(target: TARGET, "<{fd} TOUCH {key}"),
        // Set, Add, Replace and their quiet forms.
        0x01..=0x03 | 0x11..=0x13 => {
            let cmd = match opcode & 0x0f {
                0x01 => "SET",
                0x02 => "ADD",
                _ => "REPLACE",
            };
            log::debug!(target: TARGET, "<{fd} {cmd} {key} Value len is {vlen}");
        }
        // Append, Prepend and their quiet forms: memcached prints no prefix.
        0x0e | 0x0f | 0x19 | 0x1a => log::debug!(target: TARGET, "Value len is {vlen}"),
        0x04 | 0x14 => log::debug!(target: TARGET, "Deleting {key}"),
        // Increment, Decrement and quiet forms: memcached says "incr" for all four.
        0x05 | 0x06 | 0x15 | 0x16 if extras.len() == 20 => {
            let delta = u64::from_be_bytes(extras[..8].try_into().expect("8 bytes")) as i64;
            let initial = u64::from_be_bytes(extras[8..16].try_into().expect("8 bytes"));
            let exptime = i32::from_be_bytes(extras[16..].try_into().expect("4 bytes"));
            log::debug!(target: TARGET, "incr {key} {delta}, {initial}, {exptime}");
        }
        0x10 => log::debug!(target: TARGET, "<{fd} STATS {key}"),
        _ => {}
    }
}

fn binary_reply(fd: i32, out: &[u8]) {
    let mut rest = out;
    while rest.len() >= HEADER {
        let h = &rest[..HEADER];
        let bodylen = u32::from_be_bytes([h[8], h[9], h[10], h[11]]) as usize;
        let end = (HEADER + bodylen).min(rest.len());
        let (opcode, status) = (h[1], u16::from_be_bytes([h[6], h[7]]));
        // memcached builds stats replies without logging them.
        if opcode != 0x10 {
            // An error response's body is its message, except a GetK/GATK miss (the key).
            if status != 0 && !matches!(opcode, 0x0c | 0x0d | 0x23 | 0x24) {
                let extlen = usize::from(h[4]);
                let keylen = usize::from(u16::from_be_bytes([h[2], h[3]]));
                let msg = rest.get(HEADER + extlen + keylen..end).unwrap_or_default();
                log::debug!(
                    target: TARGET,
                    ">{fd} Writing an error: {}",
                    String::from_utf8_lossy(msg)
                );
            }
            log::debug!(
                target: TARGET,
                "{}",
                hex_header(&format!(">{fd}  "), &format!(">{fd} Writing bin response:"), h)
            );
        }
        rest = &rest[end..];
    }
}

fn text_request(fd: i32, input: &[u8]) {
    let end = memchr::memchr(b'\n', input).unwrap_or(input.len());
    let line = input[..end].strip_suffix(b"\r").unwrap_or(&input[..end]);
    log::logger().log(
        &log::Record::builder()
            .args(format_args!("<{fd} {}", String::from_utf8_lossy(line)))
            .level(log::Level::Debug)
            .target(TARGET)
            .build(),
    );
}

fn text_reply(fd: i32, out: &[u8]) {
    let mut rest = out;
    let mut sent_values = false;
    while let Some(nl) = memchr::memchr(b'\n', rest) {
        let line = rest[..nl].strip_suffix(b"\r").unwrap_or(&rest[..nl]);
        rest = &rest[nl + 1..];
        let toks = Tokens::new(line);
        if toks.get(0) == b"VALUE" && toks.len() >= 4 {
            log::debug!(
                target: TARGET,
                ">{fd} sending key {}",
                String::from_utf8_lossy(toks.get(1))
            );
            sent_values = true;
            let len = std::str::from_utf8(toks.get(3))
                .ok()
                .and_then(|n| n.parse::<usize>().ok())
                .unwrap_or(0);
            rest = rest.get(len + 2..).unwrap_or_default();
            continue;
        }
        if rest.is_empty() || sent_values {
            log::debug!(target: TARGET, ">{fd} {}", String::from_utf8_lossy(line));
        }
        // A multi-line reply other than values (stats, listings): not logged.
        if !sent_values {
            return;
        }
    }
}
