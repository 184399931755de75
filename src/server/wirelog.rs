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
//! logs none of them; binary requests are not logged. Records go to the `wire` log target
//! at debug level (`-vv`, or `verbosity 2` at run time), printed without a prefix. When
//! the level is off this costs one relaxed load per request.

use crate::protocol::text::Tokens;

/// The log target of these records (printed bare by the daemon's logger).
pub const TARGET: &str = "wire";

/// Whether request logging is on.
#[inline]
pub fn enabled() -> bool {
    log::log_enabled!(target: TARGET, log::Level::Debug)
}

/// Logs the command line at the front of `input`, whatever the level is now: the caller
/// checked [`enabled`] before executing it (so `verbosity 0` is logged itself).
pub fn request(fd: i32, input: &[u8]) {
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

/// Logs the reply `out` written for one request.
pub fn reply(fd: i32, out: &[u8]) {
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
