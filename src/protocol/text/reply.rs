//! Text replies: the fixed lines (`STORED`, `END`, the refusals), `VALUE` headers, `VERSION`,
//! numbers and `STAT` rows.

use crate::decimal::push_u64;
use std::fmt;

/// `VALUE <key> <flags> <len>[ <cas>]\r\n`; the caller then appends the data and `\r\n`.
pub fn encode_value(out: &mut Vec<u8>, key: &[u8], flags: u32, len: usize, cas: Option<u64>) {
    out.extend_from_slice(b"VALUE ");
    out.extend_from_slice(key);
    out.push(b' ');
    push_u64(out, u64::from(flags));
    out.push(b' ');
    push_u64(out, len as u64);
    if let Some(cas) = cas {
        out.push(b' ');
        push_u64(out, cas);
    }
    out.extend_from_slice(b"\r\n");
}

/// `END\r\n`: the end of a retrieval or of a `stats` listing.
pub const END: &[u8] = b"END\r\n";
/// `STORED\r\n`.
pub const STORED: &[u8] = b"STORED\r\n";
/// `NOT_STORED\r\n`: an `add`/`replace`/`append`/`prepend` condition failed.
pub const NOT_STORED: &[u8] = b"NOT_STORED\r\n";
/// `EXISTS\r\n`: a `cas` lost the race.
pub const EXISTS: &[u8] = b"EXISTS\r\n";
/// `NOT_FOUND\r\n`.
pub const NOT_FOUND: &[u8] = b"NOT_FOUND\r\n";
/// `DELETED\r\n`.
pub const DELETED: &[u8] = b"DELETED\r\n";
/// `TOUCHED\r\n`.
pub const TOUCHED: &[u8] = b"TOUCHED\r\n";
/// `OK\r\n` (`flush_all`, `verbosity`, `cache_memlimit`).
pub const OK: &[u8] = b"OK\r\n";
/// `RESET\r\n` (`stats reset`).
pub const RESET: &[u8] = b"RESET\r\n";
/// `CLIENT_ERROR cannot increment or decrement non-numeric value\r\n`: `incr`/`decr` on a value that is not a decimal number.
pub const NON_NUMERIC: &[u8] = b"CLIENT_ERROR cannot increment or decrement non-numeric value\r\n";
/// `SERVER_ERROR out of memory\r\n`: `incr`/`decr` could not store the longer number.
pub const ARITH_NO_MEMORY: &[u8] = b"SERVER_ERROR out of memory\r\n";
/// `CLIENT_ERROR flush_all not allowed\r\n`: `flush_all` under `-F`.
pub const FLUSH_NOT_ALLOWED: &[u8] = b"CLIENT_ERROR flush_all not allowed\r\n";
/// `ERROR: shutdown not enabled\r\n`: `shutdown` without `-A`.
pub const SHUTDOWN_NOT_ENABLED: &[u8] = b"ERROR: shutdown not enabled\r\n";
/// `ERROR: snapshot not enabled (no -e file)\r\n`: `snapshot` without `-e`.
pub const SNAPSHOT_NOT_ENABLED: &[u8] = b"ERROR: snapshot not enabled (no -e file)\r\n";
/// `BUSY snapshot in progress\r\n`: `snapshot` while one is being written.
pub const SNAPSHOT_BUSY: &[u8] = b"BUSY snapshot in progress\r\n";
/// `MEMLIMIT_TOO_SMALL cannot set maxbytes to less than 8m\r\n`: `cache_memlimit` under 8 MB.
pub const MEMLIMIT_TOO_SMALL: &[u8] = b"MEMLIMIT_TOO_SMALL cannot set maxbytes to less than 8m\r\n";
/// `CLIENT_ERROR flush_prefix not allowed\r\n`: `flush_prefix` under `-F`.
pub const FLUSH_PREFIX_NOT_ALLOWED: &[u8] = b"CLIENT_ERROR flush_prefix not allowed\r\n";
/// `SERVER_ERROR flush_prefix needs CAS (the server runs with -C)\r\n`: `flush_prefix` when CAS is off.
pub const FLUSH_PREFIX_NEEDS_CAS: &[u8] =
    b"SERVER_ERROR flush_prefix needs CAS (the server runs with -C)\r\n";
/// `SERVER_ERROR too many prefix deletes pending\r\n`: `flush_prefix` while the table of pending prefix deletes is full.
pub const TOO_MANY_PREFIX_DELETES: &[u8] = b"SERVER_ERROR too many prefix deletes pending\r\n";
/// `SERVER_ERROR object too large for cache\r\n`: A value larger than the store can hold.
pub const OBJECT_TOO_LARGE: &[u8] = b"SERVER_ERROR object too large for cache\r\n";
/// `SERVER_ERROR out of memory storing object\r\n`: No room could be made for a value.
pub const OUT_OF_MEMORY_STORING: &[u8] = b"SERVER_ERROR out of memory storing object\r\n";
/// `\r\n`: The end of a value's data block.
pub const VALUE_END: &[u8] = b"\r\n";

/// `CLIENT_ERROR usage: stats hotkeys [N]\r\n` (larder's `stats hotkeys`).
pub const HOTKEYS_USAGE: &[u8] = b"CLIENT_ERROR usage: stats hotkeys [N]\r\n";

/// `VERSION <version>\r\n`.
pub fn encode_version(out: &mut Vec<u8>, version: &str) {
    out.extend_from_slice(b"VERSION ");
    out.extend_from_slice(version.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// `<n>\r\n`: the new value after `incr`/`decr`.
pub fn encode_number(out: &mut Vec<u8>, n: u64) {
    push_u64(out, n);
    out.extend_from_slice(b"\r\n");
}

/// `STAT <name> <value>\r\n` (floats such as `rusage_user 0.012000` must be formatted by
/// the caller the way memcached prints them).
pub fn encode_stat(out: &mut Vec<u8>, name: impl fmt::Display, value: impl fmt::Display) {
    use std::io::Write;
    // Writing into a Vec<u8> cannot fail.
    let _ = write!(out, "STAT {name} {value}\r\n");
}
