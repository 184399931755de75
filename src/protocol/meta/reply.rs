//! Meta replies: the status line with the return flags a request asked for (`encode_meta`),
//! `mn`'s and `me`'s replies, and keys echoed as sent (base64 where they came so).

use super::*;
use crate::decimal::push_u64;

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

/// `EN\r\n`: `me` found no item (it has no flags to echo).
pub const ME_MISS: &[u8] = b"EN\r\n";

/// Writes a meta reply line: the status, then the return flags in the order the request
/// listed them (`s t c f l h` from `ret`, `O` echoed, `k` the key), then mg's ` Z`, ` X`,
/// ` W`, then `\r\n`. For [`MetaStatus::Va`] the caller appends the value and `\r\n`.
pub fn encode_meta(
    out: &mut Vec<u8>,
    status: MetaStatus,
    req: &MetaRequest<'_>,
    ret: &ReturnFlags,
) {
    match status {
        MetaStatus::Hd => out.extend_from_slice(b"HD"),
        MetaStatus::Va(len) => {
            out.extend_from_slice(b"VA ");
            push_u64(out, len as u64);
        }
        MetaStatus::En => out.extend_from_slice(b"EN"),
        MetaStatus::Nf => out.extend_from_slice(b"NF"),
        MetaStatus::Ns => out.extend_from_slice(b"NS"),
        MetaStatus::Ex => out.extend_from_slice(b"EX"),
    }
    let number = |out: &mut Vec<u8>, letter: u8, n: u64| {
        out.push(b' ');
        out.push(letter);
        push_u64(out, n);
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
    out.extend_from_slice(b"ME ");
    push_key_text(out, key, key_binary);
    out.extend_from_slice(b" exp=");
    if exp < 0 {
        out.push(b'-');
    }
    push_u64(out, exp.unsigned_abs());
    out.extend_from_slice(b" la=");
    push_u64(out, last_access);
    out.extend_from_slice(b" cas=");
    push_u64(out, cas);
    out.extend_from_slice(if fetched { b" fetch=yes" } else { b" fetch=no" });
    out.extend_from_slice(b" cls=");
    push_u64(out, u64::from(class));
    out.extend_from_slice(b" size=");
    push_u64(out, size as u64);
    out.extend_from_slice(b"\r\n");
}
