//! The invariants each fuzz target asserts, one `check_*` function per target.
//!
//! Every parser is driven the way a connection drives it: parse the front of the input,
//! act on the outcome (drop what was consumed, skip what is to be swallowed, stop on a
//! close or on "need more"), again until the input is used up. On every step:
//!
//! - nothing panics (libFuzzer reports a panic as a crash);
//! - `consumed` is never past the input, and an outcome that neither closes nor waits
//!   consumes at least one byte (a connection would otherwise spin on it);
//! - a complete request does not depend on bytes after it: parsing exactly the bytes it
//!   consumed gives the same request;
//! - strict prefixes of a complete request are "need more" (text: when its line fits in
//!   the 2048-byte framing limit; binary: always);
//! - a complete request re-encodes: binary frames byte for byte to what was read; text
//!   and meta requests (whose spelling has freedom: spaces, `+5`, `bget`) to a canonical
//!   line that parses back to the same request.
#![allow(missing_docs)]

use larder::command::auth::{self, AsciiAuth, Credentials};
use larder::config::{Config, ConfigOutcome};
use larder::protocol::binary::{self, Body, Frame};
use larder::protocol::meta::MetaCommand;
use larder::protocol::text::{self, Request, StorageCommand};
use larder::protocol::{Limits, Parsed};

/// Steps at most this many requests per input (inputs are small; this only bounds time).
const MAX_STEPS: usize = 512;

/// The limits the text and binary parsers run under: memcached's default `-I 1m`, and a
/// tiny `-I` that makes the too-large paths (and their swallowing) reachable.
const LIMITS: [Limits; 2] = [
    Limits {
        item_size_max: 1024 * 1024,
    },
    Limits {
        item_size_max: 1024,
    },
];

// ---------------------------------------------------------------------------------------
// text and meta
// ---------------------------------------------------------------------------------------

/// Fuzz target `text`: the classic text protocol (and anything starting with `m`, which
/// reaches the meta parser too).
pub fn check_text(data: &[u8]) {
    for limits in &LIMITS {
        drive_text(data, limits);
    }
}

/// Fuzz target `meta`: the first byte picks a meta command (`mg ms md ma mn me`), the rest
/// of the input follows it, so that every run exercises the meta flag grammar.
pub fn check_meta(data: &[u8]) {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let cmds: [&[u8]; 6] = [b"mg ", b"ms ", b"md ", b"ma ", b"mn", b"me "];
    let mut input = cmds[usize::from(pick) % cmds.len()].to_vec();
    input.extend_from_slice(rest);
    for limits in &LIMITS {
        drive_text(&input, limits);
    }
}

fn drive_text(data: &[u8], limits: &Limits) {
    let mut rest = data;
    for _ in 0..MAX_STEPS {
        if rest.is_empty() {
            return;
        }
        match text::parse(rest, limits) {
            Parsed::Incomplete => return,
            Parsed::Invalid(e) => {
                assert!(e.consumed <= rest.len(), "error consumed past the input");
                if e.close {
                    return;
                }
                assert!(
                    e.consumed > 0 || e.swallow > 0,
                    "an error that neither closes nor consumes: {e:?}"
                );
                rest = &rest[e.consumed..];
                let skip = e.swallow.min(rest.len());
                rest = &rest[skip..];
            }
            Parsed::Complete(req, n) => {
                assert!(n > 0 && n <= rest.len(), "consumed {n} of {}", rest.len());
                let used = &rest[..n];
                match text::parse(used, limits) {
                    Parsed::Complete(again, m) => {
                        assert_eq!(again, req, "request depends on bytes after it");
                        assert_eq!(m, n);
                    }
                    other => panic!("its own bytes parse as {other:?}, not {req:?}"),
                }
                text_prefixes_incomplete(used, limits);
                if let Some(encoded) = encode_text(&req) {
                    match text::parse(&encoded, limits) {
                        Parsed::Complete(again, m) => {
                            assert_eq!(
                                again,
                                req,
                                "re-encoded as {:?}",
                                String::from_utf8_lossy(&encoded)
                            );
                            assert_eq!(m, encoded.len());
                        }
                        other => panic!(
                            "{req:?} re-encoded as {:?} parses as {other:?}",
                            String::from_utf8_lossy(&encoded)
                        ),
                    }
                }
                rest = &rest[n..];
            }
        }
    }
}

/// Strict prefixes of a complete request whose line fits the framing limit need more input.
fn text_prefixes_incomplete(used: &[u8], limits: &Limits) {
    let line_end = used
        .iter()
        .position(|&b| b == b'\n')
        .map_or(used.len(), |i| i + 1);
    if line_end > larder::protocol::line::MAX_LINE_WITHOUT_NEWLINE {
        return;
    }
    let n = used.len();
    // Every prefix of short requests; a spread of cut points of long ones.
    let cuts: Vec<usize> = if n <= 300 {
        (0..n).collect()
    } else {
        let mut v: Vec<usize> = (0..16).map(|i| i * n / 16).collect();
        v.extend([line_end - 1, line_end, n - 2, n - 1]);
        v.retain(|&k| k < n);
        v
    };
    for k in cuts {
        let p = text::parse(&used[..k], limits);
        assert!(
            p == Parsed::Incomplete,
            "prefix {k} of {:?} is {p:?}",
            String::from_utf8_lossy(used)
        );
    }
}

fn push_num(out: &mut Vec<u8>, n: impl std::fmt::Display) {
    out.extend_from_slice(n.to_string().as_bytes());
}

fn push_keys<'a>(out: &mut Vec<u8>, keys: impl Iterator<Item = &'a [u8]>) {
    for k in keys {
        out.push(b' ');
        out.extend_from_slice(k);
    }
}

fn noreply(out: &mut Vec<u8>, on: bool) {
    if on {
        out.extend_from_slice(b" noreply");
    }
}

/// The canonical spelling of a text or meta request; `None` for requests that carry an
/// error to report instead (a bad key in a multiget).
pub fn encode_text(req: &Request<'_>) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    match *req {
        Request::Get {
            keys,
            with_cas,
            bad_key,
        } => {
            if bad_key.is_some() {
                return None;
            }
            out.extend_from_slice(if with_cas { b"gets" } else { b"get" });
            push_keys(&mut out, keys);
        }
        Request::Gat {
            exptime,
            keys,
            with_cas,
            bad_key,
        } => {
            if bad_key.is_some() {
                return None;
            }
            out.extend_from_slice(if with_cas { b"gats " } else { b"gat " });
            push_num(&mut out, exptime);
            push_keys(&mut out, keys);
        }
        Request::Store {
            kind,
            key,
            flags,
            exptime,
            data,
            cas_unique,
            noreply: nr,
        } => {
            out.extend_from_slice(match kind {
                StorageCommand::Set => b"set ".as_slice(),
                StorageCommand::Add => b"add ",
                StorageCommand::Replace => b"replace ",
                StorageCommand::Append => b"append ",
                StorageCommand::Prepend => b"prepend ",
                StorageCommand::Cas => b"cas ",
            });
            out.extend_from_slice(key);
            out.extend_from_slice(format!(" {flags} {exptime} {}", data.len()).as_bytes());
            if kind == StorageCommand::Cas {
                out.push(b' ');
                push_num(&mut out, cas_unique);
            }
            noreply(&mut out, nr);
            out.extend_from_slice(b"\r\n");
            out.extend_from_slice(data);
        }
        Request::Delete { key, noreply: nr } => {
            out.extend_from_slice(b"delete ");
            out.extend_from_slice(key);
            noreply(&mut out, nr);
        }
        Request::Arith {
            key,
            incr,
            delta,
            noreply: nr,
        } => {
            out.extend_from_slice(if incr { b"incr " } else { b"decr " });
            out.extend_from_slice(key);
            out.push(b' ');
            push_num(&mut out, delta);
            noreply(&mut out, nr);
        }
        Request::Touch {
            key,
            exptime,
            noreply: nr,
        } => {
            out.extend_from_slice(b"touch ");
            out.extend_from_slice(key);
            out.push(b' ');
            push_num(&mut out, exptime);
            noreply(&mut out, nr);
        }
        Request::FlushAll { delay, noreply: nr } => {
            out.extend_from_slice(b"flush_all ");
            push_num(&mut out, delay);
            noreply(&mut out, nr);
        }
        Request::FlushPrefix {
            prefix,
            noreply: nr,
        } => {
            out.extend_from_slice(b"flush_prefix ");
            out.extend_from_slice(prefix);
            noreply(&mut out, nr);
        }
        Request::Snapshot => out.extend_from_slice(b"snapshot"),
        // Operator commands have many spellings of one request; not re-encoded.
        Request::Admin(_) => return None,
        Request::Version => out.extend_from_slice(b"version"),
        Request::RefreshCerts => out.extend_from_slice(b"refresh_certs"),
        Request::Verbosity { level, noreply: nr } => {
            out.extend_from_slice(b"verbosity ");
            push_num(&mut out, level);
            noreply(&mut out, nr);
        }
        Request::Quit => out.extend_from_slice(b"quit"),
        Request::Shutdown { graceful } => {
            out.extend_from_slice(if graceful {
                b"shutdown graceful".as_slice()
            } else {
                b"shutdown"
            });
        }
        Request::CacheMemlimit {
            megabytes,
            noreply: nr,
        } => {
            out.extend_from_slice(b"cache_memlimit ");
            push_num(&mut out, megabytes);
            noreply(&mut out, nr);
        }
        Request::Stats { args } => {
            out.extend_from_slice(b"stats");
            push_keys(&mut out, args);
        }
        Request::Meta(m) => {
            out.extend_from_slice(match m.command {
                MetaCommand::Get => b"mg".as_slice(),
                MetaCommand::Set => b"ms",
                MetaCommand::Delete => b"md",
                MetaCommand::Arithmetic => b"ma",
                MetaCommand::Noop => b"mn",
                MetaCommand::Debug => b"me",
            });
            if m.command != MetaCommand::Noop {
                out.push(b' ');
                out.extend_from_slice(m.key.raw());
            }
            if m.command == MetaCommand::Set {
                out.push(b' ');
                push_num(&mut out, m.data.len());
            }
            push_keys(&mut out, m.flags.tokens);
            if m.command == MetaCommand::Debug && m.flags.base64_key {
                // `me` keeps no flag tokens, only whether its key is base64.
                out.extend_from_slice(b" b");
            }
            if m.command == MetaCommand::Set {
                out.extend_from_slice(b"\r\n");
                out.extend_from_slice(m.data);
            }
        }
    }
    out.extend_from_slice(b"\r\n");
    Some(out)
}

// ---------------------------------------------------------------------------------------
// binary
// ---------------------------------------------------------------------------------------

/// Fuzz target `binary`: the binary protocol's framing and body decoding.
pub fn check_binary(data: &[u8]) {
    for limits in &LIMITS {
        drive_binary(data, limits);
    }
}

fn drive_binary(data: &[u8], limits: &Limits) {
    let mut rest = data;
    for _ in 0..MAX_STEPS {
        if rest.is_empty() {
            return;
        }
        match binary::parse(rest, limits) {
            Parsed::Incomplete => {
                if let Some(h) = binary::Header::read(rest) {
                    assert!(
                        rest.len() < h.frame_len(),
                        "a whole frame ({} bytes of {}) is incomplete",
                        h.frame_len(),
                        rest.len()
                    );
                }
                return;
            }
            Parsed::Invalid(e) => {
                assert!(e.consumed <= rest.len());
                assert!(e.close, "binary: an invalid frame must close: {e:?}");
                return;
            }
            Parsed::Complete(Frame::Reject(r), n) => {
                assert_eq!(n, r.consumed);
                assert!(n <= rest.len(), "reject consumed past the input");
                assert!(r.consumed + r.swallow <= r.header.frame_len().max(n));
                if r.close {
                    return;
                }
                assert!(
                    n > 0 || r.swallow > 0,
                    "a reject that neither closes nor consumes"
                );
                rest = &rest[n..];
                let skip = r.swallow.min(rest.len());
                rest = &rest[skip..];
            }
            Parsed::Complete(Frame::Request(req), n) => {
                assert!(n <= rest.len(), "consumed past the input");
                assert_eq!(n, req.header.frame_len(), "a request is one whole frame");
                let used = &rest[..n];
                // Config Get (0x60) is taken in any shape (the command layer answers it or
                // refuses it), so only its key is kept and it cannot be re-encoded.
                if !matches!(req.body, Body::ConfigGet { .. }) {
                    assert_eq!(
                        encode_binary(&req),
                        used,
                        "{req:?} does not re-encode to what was read"
                    );
                }
                for k in [0, 1, 23, 24, n / 2, n - 1] {
                    if k < n {
                        let p = binary::parse(&used[..k], limits);
                        assert!(
                            p == Parsed::Incomplete,
                            "prefix {k} of a {n}-byte request is {p:?}"
                        );
                    }
                }
                rest = &rest[n..];
            }
        }
    }
}

/// The frame a binary request was read from: header, extras, key, value.
pub fn encode_binary(req: &binary::Request<'_>) -> Vec<u8> {
    let h = &req.header;
    let mut extras = Vec::new();
    let (key, value): (&[u8], &[u8]) = match req.body {
        Body::Get { key } | Body::Delete { key } => (key, &[]),
        Body::Touch { key, exptime } => {
            extras.extend_from_slice(&exptime.to_be_bytes());
            (key, &[])
        }
        Body::Store {
            key,
            flags,
            exptime,
            value,
        } => {
            extras.extend_from_slice(&flags.to_be_bytes());
            extras.extend_from_slice(&exptime.to_be_bytes());
            (key, value)
        }
        Body::Concat { key, value } => (key, value),
        Body::Arith {
            key,
            delta,
            initial,
            exptime,
        } => {
            extras.extend_from_slice(&delta.to_be_bytes());
            extras.extend_from_slice(&initial.to_be_bytes());
            extras.extend_from_slice(&exptime.to_be_bytes());
            (key, &[])
        }
        Body::Flush { exptime } => {
            if h.extras_len == 4 {
                extras.extend_from_slice(&exptime.to_be_bytes());
            }
            (&[], &[])
        }
        Body::Stat { group } => (group, &[]),
        Body::ConfigGet { key } => (key, &[]),
        Body::Sasl { mechanism, data } => (mechanism, data),
        Body::Empty => (&[], &[]),
    };
    let mut out = Vec::with_capacity(24 + extras.len() + key.len() + value.len());
    out.push(h.magic);
    out.push(h.opcode);
    out.extend_from_slice(&(key.len() as u16).to_be_bytes());
    out.push(extras.len() as u8);
    out.push(h.data_type);
    out.extend_from_slice(&h.vbucket.to_be_bytes());
    out.extend_from_slice(&((extras.len() + key.len() + value.len()) as u32).to_be_bytes());
    out.extend_from_slice(&h.opaque.to_be_bytes());
    out.extend_from_slice(&h.cas.to_be_bytes());
    out.extend_from_slice(&extras);
    out.extend_from_slice(key);
    out.extend_from_slice(value);
    out
}

// ---------------------------------------------------------------------------------------
// ASCII authentication and the credentials file
// ---------------------------------------------------------------------------------------

/// Fuzz target `auth`: memcached's ASCII authentication (`set <any> <flags> <exp> <len>`
/// with `user password` as the data) against fixed credentials, driven like a connection;
/// and the credentials file parser on the same bytes.
pub fn check_auth(data: &[u8]) {
    let creds = Credentials::parse(b"alice:secret\nbob:pa:ss\n").expect("valid credentials");
    let mut rest = data;
    for _ in 0..MAX_STEPS {
        match auth::ascii_step(rest, &creds) {
            AsciiAuth::NeedInput | AsciiAuth::Close => break,
            AsciiAuth::Done {
                consumed,
                swallow,
                reply,
                attempt,
                authenticated,
            } => {
                assert!(
                    consumed > 0 && consumed <= rest.len(),
                    "consumed {consumed}"
                );
                assert!(reply.ends_with(b"\r\n"));
                if authenticated {
                    assert!(attempt && reply == b"STORED\r\n" && swallow == 0);
                    let used = &rest[..consumed];
                    let ok = [b"alice secret".as_slice(), b"bob pa:ss"]
                        .iter()
                        .any(|cred| used.windows(cred.len()).any(|w| w == *cred));
                    assert!(ok, "authenticated without the credentials: {used:?}");
                }
                if swallow == 0 && consumed >= 2 {
                    // The outcome depends only on the bytes it consumed. (ascii_step waits
                    // for two bytes before it looks at anything, so a lone "\n" is answered
                    // only once another byte follows it.)
                    let again = auth::ascii_step(&rest[..consumed], &creds);
                    assert!(
                        matches!(again, AsciiAuth::Done { consumed: c, reply: r, .. } if c == consumed && r == reply),
                        "{again:?}"
                    );
                }
                rest = &rest[consumed..];
                rest = &rest[swallow.min(rest.len())..];
                if rest.is_empty() {
                    break;
                }
            }
        }
    }
    if let Ok(c) = Credentials::parse(data) {
        // Whatever was accepted, no empty password matches a user that has one.
        let _ = c.check(b"", b"");
        let _ = c.len();
    }
}

// ---------------------------------------------------------------------------------------
// the configuration file
// ---------------------------------------------------------------------------------------

/// Fuzz target `config`: the conf file's word splitting (quotes, comments, `logfile`)
/// and the option grammar behind it. Words re-encode: each written double-quoted on one
/// line splits back to the same words.
pub fn check_config(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok((words, _ignored)) = Config::file_words(&text) {
        let words: Vec<String> = words
            .iter()
            .map(|w| w.to_str().expect("words of a str are UTF-8").to_string())
            .collect();
        if !words.is_empty() && words[0] != "logfile" {
            let mut line = String::new();
            for w in &words {
                line.push('"');
                for c in w.chars() {
                    if c == '"' || c == '\\' {
                        line.push('\\');
                    }
                    line.push(c);
                }
                line.push_str("\" ");
            }
            line.push('\n');
            let (again, _) = Config::file_words(&line).expect("re-encoded words split");
            let again: Vec<String> = again
                .iter()
                .map(|w| w.to_string_lossy().into_owned())
                .collect();
            assert_eq!(again, words, "re-encoded as {line:?}");
        }
    }
    if let Ok(ConfigOutcome::Run(config)) = Config::from_file_text(&text) {
        let _ = config.validate();
        let _ = config.stats_settings();
        let _ = config.listen_addrs();
    }
}
