//! Transcripts marked "memcached 1.6.18" were taken from `/usr/bin/memcached` 1.6.18 (Debian
//! 1.6.18-1+deb12u1, `-I 1m`): the input bytes were sent on a fresh connection and the
//! reply bytes recorded. [`drive`] replays the same input through [`parse`] the way a
//! connection would and writes the error replies exactly, plus a short tag for each
//! complete request (whose reply depends on the store).

use super::*;
use crate::protocol::line::MAX_TOKENS;
use proptest::prelude::*;

fn lim() -> Limits {
    Limits::default()
}

fn p(buf: &[u8]) -> Parsed<Request<'_>> {
    parse(buf, &lim())
}

fn list(keys: Words<'_>) -> Vec<&[u8]> {
    keys.collect()
}

fn err(reply: ErrorReply, consumed: usize) -> ParseError {
    ParseError::new(reply, consumed)
}

/// A short, stable description of a complete request.
fn tag(req: &Request<'_>) -> String {
    let s = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let keys = |k: &Words<'_>| k.map(s).collect::<Vec<_>>().join(",");
    let nr = |n: bool| if n { " noreply" } else { "" };
    match req {
        Request::Get {
            keys: k,
            with_cas,
            bad_key,
        } => format!(
            "get{}[{}]{}",
            if *with_cas { "s" } else { "" },
            keys(k),
            if bad_key.is_some() { "+bad" } else { "" }
        ),
        Request::Gat {
            exptime,
            keys: k,
            with_cas,
            bad_key,
        } => format!(
            "gat{} {exptime}[{}]{}",
            if *with_cas { "s" } else { "" },
            keys(k),
            if bad_key.is_some() { "+bad" } else { "" }
        ),
        Request::Store {
            kind,
            key,
            flags,
            exptime,
            data,
            cas_unique,
            noreply,
        } => format!(
            "{kind:?} {} {flags} {exptime} {:?} {cas_unique}{}",
            s(key),
            s(data),
            nr(*noreply)
        ),
        Request::Delete { key, noreply } => format!("delete {}{}", s(key), nr(*noreply)),
        Request::Arith {
            key,
            incr,
            delta,
            noreply,
        } => format!(
            "{} {} {delta}{}",
            if *incr { "incr" } else { "decr" },
            s(key),
            nr(*noreply)
        ),
        Request::Touch {
            key,
            exptime,
            noreply,
        } => format!("touch {} {exptime}{}", s(key), nr(*noreply)),
        Request::FlushAll { delay, noreply } => format!("flush_all {delay}{}", nr(*noreply)),
        Request::FlushPrefix { prefix, noreply } => {
            format!("flush_prefix {}{}", s(prefix), nr(*noreply))
        }
        Request::Version => "version".into(),
        Request::RefreshCerts => "refresh_certs".into(),
        Request::Verbosity { level, noreply } => format!("verbosity {level}{}", nr(*noreply)),
        Request::Quit => "quit".into(),
        Request::Shutdown { graceful } => format!("shutdown graceful={graceful}"),
        Request::Snapshot => "snapshot".into(),
        Request::CacheMemlimit { megabytes, noreply } => {
            format!("cache_memlimit {megabytes}{}", nr(*noreply))
        }
        Request::Stats { args } => format!("stats[{}]", keys(args)),
        // A reply decided by the parser reads as that reply.
        Request::Admin(crate::protocol::admin::Admin::Reply(r)) => s(r),
        Request::Admin(a) => format!("{a:?}"),
        Request::Meta(m) => {
            let cmd = match m.command {
                meta::MetaCommand::Get => "mg",
                meta::MetaCommand::Set => "ms",
                meta::MetaCommand::Delete => "md",
                meta::MetaCommand::Arithmetic => "ma",
                meta::MetaCommand::Noop => "mn",
                meta::MetaCommand::Debug => "me",
            };
            let key = if m.key.is_binary() { "b64:" } else { "" };
            let data = if m.command == meta::MetaCommand::Set {
                format!(" {:?}", s(m.data))
            } else {
                String::new()
            };
            format!(
                "{cmd} {key}{} [{}]{data}",
                s(m.key.as_bytes()),
                keys(&m.flags.tokens).replace(',', " ")
            )
        }
    }
}

/// Feeds `input` through `parse` like a connection: returns the error bytes written and a
/// `<tag>` per complete request, `<close>` on a close, `<wait>` if input is left over.
pub(crate) fn drive_with(input: &[u8], limits: &Limits) -> String {
    let mut out = Vec::new();
    let mut pos = 0;
    let mut swallow = 0usize;
    loop {
        let skip = swallow.min(input.len() - pos);
        pos += skip;
        swallow -= skip;
        if pos == input.len() {
            break;
        }
        match parse(&input[pos..], limits) {
            Parsed::Complete(req, n) => {
                out.extend_from_slice(format!("<{}>", tag(&req)).as_bytes());
                pos += n;
            }
            Parsed::Incomplete => {
                out.extend_from_slice(b"<wait>");
                break;
            }
            Parsed::Invalid(e) => {
                e.write_reply(&mut out);
                pos += e.consumed;
                swallow = e.swallow;
                if e.close {
                    out.extend_from_slice(b"<close>");
                    break;
                }
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub(crate) fn drive(input: &[u8]) -> String {
    drive_with(input, &lim())
}

fn k(n: usize) -> Vec<u8> {
    vec![b'k'; n]
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

// --- framing -------------------------------------------------------------------------

#[test]
fn frame_rules() {
    assert_eq!(
        frame(b"get a\r\n"),
        LineFrame::Line {
            line: b"get a",
            len: 7
        }
    );
    assert_eq!(
        frame(b"get a\nx"),
        LineFrame::Line {
            line: b"get a",
            len: 6
        }
    );
    // The '\r' is stripped only after at least one other byte.
    assert_eq!(
        frame(b"\r\n"),
        LineFrame::Line {
            line: b"\r",
            len: 2
        }
    );
    assert_eq!(frame(b"\n"), LineFrame::Line { line: b"", len: 1 });
    assert_eq!(
        frame(b"a\r\r\n"),
        LineFrame::Line {
            line: b"a\r",
            len: 4
        }
    );
    assert_eq!(
        frame(b"ver\0sion\r\n"),
        LineFrame::Line {
            line: b"ver",
            len: 10
        }
    );
    assert_eq!(frame(b"get a\r"), LineFrame::Incomplete);
    assert_eq!(frame(&[b'x'; 2048]), LineFrame::Incomplete);
    assert_eq!(frame(&[b'x'; 2049]), LineFrame::Close);
}

#[test]
fn tokens_follow_memcached() {
    let t = Tokens::new(b"  set  k\t0 0 ");
    assert_eq!(t.len(), 3);
    assert_eq!(t.get(0), b"set");
    assert_eq!(t.get(1), b"k\t0");
    assert_eq!(t.last(), b"0");
    assert_eq!(t.get(9), b"");
    let many: Vec<u8> = (0..30)
        .flat_map(|i| format!("t{i} ").into_bytes())
        .collect();
    let t = Tokens::new(&many);
    assert_eq!(t.len(), MAX_TOKENS - 1);
    assert_eq!(t.last(), b"t22");
    assert_eq!(list(Words::new(t.rest_from(20))).len(), 10);
    assert!(Tokens::new(b"   ").is_empty());
}

#[test]
fn keys_iterate_and_compare_by_token() {
    let keys = Words::new(b" a  bb c ");
    assert_eq!(list(keys), vec![&b"a"[..], b"bb", b"c"]);
    assert_eq!(keys, Words::new(b"a bb c"));
    assert_ne!(keys, Words::new(b"a bb"));
    assert!(Words::new(b"   ").is_empty());
    assert!(!keys.is_empty());
    assert_eq!(format!("{keys:?}"), r#"["a", "bb", "c"]"#);
}

// --- numbers -------------------------------------------------------------------------

#[test]
fn numbers_follow_safe_strto() {
    assert_eq!(parse_u64(b"18446744073709551615"), Some(u64::MAX));
    assert_eq!(parse_u64(b"18446744073709551616"), None);
    assert_eq!(parse_u64(b"+5"), Some(5));
    assert_eq!(parse_u64(b"-1"), None);
    assert_eq!(parse_u64(b"-0"), Some(0));
    assert_eq!(parse_u64(b"-18446744073709551615"), Some(1));
    assert_eq!(parse_u64(b"\t7"), Some(7));
    assert_eq!(parse_u64(b"7\tjunk"), Some(7));
    assert_eq!(parse_u64(b"7\r"), Some(7));
    assert_eq!(parse_u64(b"7x"), None);
    assert_eq!(parse_u64(b""), None);
    assert_eq!(parse_u64(b"-"), None);
    assert_eq!(parse_u64(b"abc"), None);
    assert_eq!(parse_u32(b"4294967295"), Some(u32::MAX));
    assert_eq!(parse_u32(b"4294967296"), Some(0));
    assert_eq!(parse_u32(b"4294967304"), Some(8));
    assert_eq!(parse_i32(b"-1"), Some(-1));
    assert_eq!(parse_i32(b"2147483648"), Some(i32::MIN));
    assert_eq!(parse_i32(b"4294967297"), Some(1));
    assert_eq!(parse_i32(b"9223372036854775807"), Some(-1));
    assert_eq!(parse_i32(b"9223372036854775808"), None);
    assert_eq!(parse_i32(b"-9223372036854775808"), Some(0));
    assert_eq!(parse_i32(b"-9223372036854775809"), None);
    assert_eq!(parse_i32(b"01"), Some(1));
}

#[test]
fn item_size_limit_counts_memcacheds_overhead() {
    // memcached 1.6.18 -I 1m: largest storable data for key "k": 1048516 bytes with
    // flags 0, 1048512 with flags 1; for a 100-byte key: 1048417 and 1048413.
    let l = lim();
    assert!(!l.item_too_large(1, 0, 1_048_516));
    assert!(l.item_too_large(1, 0, 1_048_517));
    assert!(!l.item_too_large(1, 1, 1_048_512));
    assert!(l.item_too_large(1, 1, 1_048_513));
    assert!(!l.item_too_large(100, 0, 1_048_417));
    assert!(l.item_too_large(100, 0, 1_048_418));
    assert!(!l.item_too_large(100, 7, 1_048_413));
    assert!(l.item_too_large(100, 7, 1_048_414));
    assert!(l.item_too_large(1, 0, usize::MAX));
}

// --- every command, complete -----------------------------------------------------------

#[test]
fn get_family() {
    let buf = b"get a bb\r\n";
    match p(buf) {
        Parsed::Complete(
            Request::Get {
                keys,
                with_cas: false,
                bad_key: None,
            },
            10,
        ) => assert_eq!(list(keys), vec![&b"a"[..], b"bb"]),
        other => panic!("{other:?}"),
    }
    assert_eq!(drive(b"gets a\r\n"), "<gets[a]>");
    assert_eq!(drive(b"bget a\r\n"), "<get[a]>");
    assert_eq!(drive(b"gat 10 a b\r\n"), "<gat 10[a,b]>");
    assert_eq!(drive(b"gats -5 a\r\n"), "<gats -5[a]>");
    // memcached 1.6.18: "gat 10\r\n" => "END\r\n" (no keys is fine after an exptime).
    assert_eq!(drive(b"gat 10\r\n"), "<gat 10[]>");
    // memcached 1.6.18: "get\r\n", "gets\r\n", "gat\r\n" => "ERROR\r\n".
    assert_eq!(
        drive(b"get\r\ngets\r\ngat\r\nbget\r\n"),
        "ERROR\r\n".repeat(4)
    );
    // memcached 1.6.18: "gat abc a\r\n" / "gat 10x n" => invalid exptime.
    assert_eq!(
        drive(b"gat abc a\r\ngat 10x n\r\n"),
        "CLIENT_ERROR invalid exptime argument\r\n".repeat(2)
    );
    // memcached 1.6.18: "gat 4294967296 n" and "gat +10 n" both succeed.
    assert_eq!(
        drive(b"gat 4294967296 n\r\ngat +10 n\r\n"),
        "<gat 0[n]><gat 10[n]>"
    );
    // NUL ends the line for the tokenizer; '\r' inside a key is part of the key.
    assert_eq!(drive(b"get a\0 b\r\n"), "<get[a]>");
    assert_eq!(drive(b"get a\rb\r\n"), "<get[a\rb]>");
    assert_eq!(drive(b"get a\r\r\n"), "<get[a\r]>");
    // Other words starting with 'g' are unknown.
    assert_eq!(drive(b"gx a\r\ngetx a\r\n"), "ERROR\r\nERROR\r\n");
}

#[test]
fn multiget_with_a_long_key() {
    // memcached 1.6.18: "get a <251 k>\r\n" => "CLIENT_ERROR bad command line format\r\n"
    // (the VALUE line already built for "a" is discarded); same for gets and gat.
    let buf = cat(&[b"get a ", &k(251), b" c\r\n"]);
    match p(&buf) {
        Parsed::Complete(Request::Get { keys, bad_key, .. }, n) => {
            assert_eq!(n, buf.len());
            assert_eq!(list(keys), vec![&b"a"[..]]);
            assert_eq!(bad_key, Some(BAD_FORMAT));
        }
        other => panic!("{other:?}"),
    }
    let buf = cat(&[b"gat 10 a ", &k(251), b"\r\n"]);
    assert_eq!(drive(&buf), "<gat 10[a]+bad>");
    let buf = cat(&[b"gets ", &k(251), b"\r\n"]);
    assert_eq!(drive(&buf), "<gets[]+bad>");
    // memcached 1.6.18: a 250-byte key is fine.
    let buf = cat(&[b"get a b ", &k(250), b"\r\n"]);
    assert_eq!(drive(&buf), format!("<get[a,b,{}]>", "k".repeat(250)));
}

#[test]
fn huge_multigets_parse() {
    // memcached 1.6.18 answers all 5000 keys of "get a a ... a\r\n".
    let mut buf = b"get".to_vec();
    for i in 0..50_000 {
        buf.extend_from_slice(format!(" key:{i}").as_bytes());
    }
    // Without the newline: more than 2048 bytes, but a multiget, so keep reading.
    assert_eq!(p(&buf), Parsed::Incomplete);
    let mut spaced = vec![b' '; 100];
    spaced.extend_from_slice(&buf);
    assert_eq!(p(&spaced), Parsed::Incomplete);
    buf.extend_from_slice(b"\r\n");
    match p(&buf) {
        Parsed::Complete(Request::Get { keys, bad_key, .. }, n) => {
            assert_eq!(n, buf.len());
            assert_eq!(bad_key, None);
            assert_eq!(keys.count(), 50_000);
            assert_eq!(keys.last(), Some(&b"key:49999"[..]));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn long_lines_without_newline() {
    // memcached 1.6.18: more than 2048 bytes without '\n' closes unless the line starts
    // (after at most 100 spaces) with "get " or "gets "; 2048 bytes still wait.
    let close = Parsed::Invalid(ParseError::close(2049));
    assert_eq!(p(&[b'x'; 2048]), Parsed::Incomplete);
    assert_eq!(p(&[b'x'; 2049]), close);
    let mut gat = b"gat 0".to_vec();
    gat.resize(2049, b'a');
    assert_eq!(p(&gat), close);
    let mut version = b"version ".to_vec();
    version.resize(2049, b'a');
    assert_eq!(p(&version), close);
    let mut spaced = vec![b' '; 101];
    spaced.extend_from_slice(b"get ");
    spaced.resize(2049, b'a');
    assert_eq!(p(&spaced), close);
    for prefix in [&b"get "[..], b"gets ", b"   get "] {
        let mut ok = prefix.to_vec();
        ok.resize(3000, b'a');
        assert_eq!(p(&ok), Parsed::Incomplete);
    }
    // memcached 1.6.18: a long line *with* its newline is parsed normally.
    version.extend_from_slice(b"\r\n");
    assert_eq!(drive(&version), "<version>");
    // The data block of a set is not a line: a big value just waits.
    let mut set = b"set k 0 0 5000\r\n".to_vec();
    set.resize(3000, b'x');
    assert_eq!(p(&set), Parsed::Incomplete);
}

#[test]
fn storage_commands() {
    let buf = b"set k 5 10 3\r\nabc\r\nget k\r\n";
    assert_eq!(
        p(buf),
        Parsed::Complete(
            Request::Store {
                kind: StorageCommand::Set,
                key: b"k",
                flags: 5,
                exptime: 10,
                data: b"abc",
                cas_unique: 0,
                noreply: false,
            },
            19
        )
    );
    assert_eq!(
        drive(b"add k 0 0 1\r\nx\r\nreplace k 0 0 1\r\nx\r\nappend k 0 0 1\r\nx\r\nprepend k 0 0 1 noreply\r\nx\r\n"),
        "<Add k 0 0 \"x\" 0><Replace k 0 0 \"x\" 0><Append k 0 0 \"x\" 0><Prepend k 0 0 \"x\" 0 noreply>"
    );
    assert_eq!(
        drive(b"cas k 1 2 2 99\r\nab\r\ncas k 0 0 1 7 noreply\r\nx\r\n"),
        "<Cas k 1 2 \"ab\" 99><Cas k 0 0 \"x\" 7 noreply>"
    );
    // memcached 1.6.18: "set k 0 0 0\r\n\r\n" stores an empty value.
    assert_eq!(drive(b"set k 0 0 0\r\n\r\n"), "<Set k 0 0 \"\" 0>");
    // The data block is binary-safe.
    assert_eq!(
        drive(b"set k 0 0 4\r\n\r\n\0\n\r\n"),
        "<Set k 0 0 \"\\r\\n\\0\\n\" 0>"
    );
    // memcached 1.6.18: a line ending in a bare "\n" works: "set k 0 0 1\nx\r\n" => STORED.
    assert_eq!(drive(b"set k 0 0 1\nx\r\n"), "<Set k 0 0 \"x\" 0>");
    // memcached 1.6.18: "set  k  0  0  1 \r\n" (extra spaces) => STORED.
    assert_eq!(drive(b"set  k  0  0  1 \r\nx\r\n"), "<Set k 0 0 \"x\" 0>");
    // memcached 1.6.18: a 6th token that is not "noreply" is ignored: STORED.
    assert_eq!(
        drive(b"set k 0 0 1 garbage\r\nx\r\n"),
        "<Set k 0 0 \"x\" 0>"
    );
    assert_eq!(
        drive(b"cas k 0 0 1 5 garbage\r\nx\r\n"),
        "<Cas k 0 0 \"x\" 5>"
    );
}

#[test]
fn storage_numbers_like_memcached() {
    // memcached 1.6.18, each followed by "get k":
    // flags 4294967296 => "VALUE k 0 1"; flags -18446744073709551615 => "VALUE k 1 1";
    // length 4294967297 => STORED with 1 byte; exptime 4294967296 => never expires;
    // exptime 2147483648 => already expired; "+1", "01", "1\t", "1\tx" lengths all work;
    // flags "0\t" works; "-0" flags works.
    assert_eq!(
        drive(b"set k 4294967296 0 1\r\nx\r\n"),
        "<Set k 0 0 \"x\" 0>"
    );
    assert_eq!(
        drive(b"set k -18446744073709551615 0 1\r\nx\r\n"),
        "<Set k 1 0 \"x\" 0>"
    );
    assert_eq!(
        drive(b"set k 0 0 4294967297\r\nx\r\n"),
        "<Set k 0 0 \"x\" 0>"
    );
    assert_eq!(
        drive(b"set k 0 4294967296 1\r\nx\r\n"),
        "<Set k 0 0 \"x\" 0>"
    );
    assert_eq!(
        drive(b"set k 0 2147483648 1\r\nx\r\n"),
        "<Set k 0 -2147483648 \"x\" 0>"
    );
    assert_eq!(drive(b"set k 0 -1 1\r\nx\r\n"), "<Set k 0 -1 \"x\" 0>");
    for line in [
        &b"set k 0 0 +1\r\n"[..],
        b"set k 0 0 01\r\n",
        b"set k 0 0 1\t\r\n",
        b"set k 0 0 1\tx\r\n",
        b"set k 0\t 0 1\r\n",
        b"set k -0 0 1\r\n",
    ] {
        assert_eq!(drive(&cat(&[line, b"x\r\n"])), "<Set k 0 0 \"x\" 0>");
    }
}

#[test]
fn storage_errors() {
    let fmt = "CLIENT_ERROR bad command line format\r\n";
    // memcached 1.6.18 transcripts: the rejected line's data block is then read as a
    // command, hence the trailing "ERROR\r\n".
    for line in [
        &b"set k 0 0 -1\r\n"[..],
        b"set k 0 0 abc\r\n",
        b"set k abc 0 1\r\n",
        b"set k 0 abc 1\r\n",
        b"set k -1 0 1\r\n",
        b"set k 0 0 1x\r\n",
        b"set k 18446744073709551617 0 1\r\n",
        b"cas a 0 0 1 x\r\n",
        b"cas a 0 0 1 -1\r\n",
        b"set k 0 0 2147483646\r\n",
        b"set k 0 0 2147483648\r\n",
    ] {
        assert_eq!(
            drive(&cat(&[line, b"x\r\n"])),
            format!("{fmt}ERROR\r\n"),
            "{line:?}"
        );
    }
    let long_key = cat(&[b"set ", &k(251), b" 0 0 1\r\nx\r\n"]);
    assert_eq!(drive(&long_key), format!("{fmt}ERROR\r\n"));
    // memcached 1.6.18: with noreply the error is hidden; the data line still errors.
    let long_key = cat(&[b"set ", &k(251), b" 0 0 1 noreply\r\nx\r\n"]);
    assert_eq!(drive(&long_key), "ERROR\r\n");
    assert_eq!(drive(b"set k 0 0 -1 noreply\r\nx\r\n"), "ERROR\r\n");
    // memcached 1.6.18: "cas a 0 0 1 noreply": noreply, then "noreply" is not a cas value.
    assert_eq!(drive(b"cas a 0 0 1 noreply\r\nx\r\n"), "ERROR\r\n");
    // memcached 1.6.18: token count errors are not hidden by noreply.
    assert_eq!(drive(b"cas a 0 0 1\r\nx\r\n"), "ERROR\r\nERROR\r\n");
    assert_eq!(drive(b"set k 0 0\r\nx\r\n"), "ERROR\r\nERROR\r\n");
    assert_eq!(
        drive(b"set k 0 0 1 noreply extra\r\nx\r\n"),
        "ERROR\r\nERROR\r\n"
    );
    assert_eq!(drive(b"set k\t0 0 1\r\nx\r\n"), "ERROR\r\nERROR\r\n");
    assert_eq!(
        drive(b"append k 0 0\r\nreplace k\r\nprepend k 0 0 1 2 3\r\n"),
        "ERROR\r\n".repeat(3)
    );
    // The exact ParseError of a bad line: only the line is consumed.
    assert_eq!(
        p(b"set k 0 0 -1 noreply\r\nx\r\n"),
        Parsed::Invalid(err(BAD_FORMAT, 22).with_noreply(true))
    );
}

#[test]
fn bad_data_chunk() {
    // memcached 1.6.18: "set k 0 0 1\r\nxyz\r\nversion\r\n" =>
    // "CLIENT_ERROR bad data chunk\r\nERROR\r\nVERSION 1.6.18\r\n": exactly len + 2 bytes
    // ("xy"... here "xyz"[..3]) are consumed, the leftover "\r\n" is an (invalid) line.
    assert_eq!(
        p(b"set k 0 0 1\r\nxyz\r\n"),
        Parsed::Invalid(err(BAD_CHUNK, 16))
    );
    assert_eq!(
        drive(b"set k 0 0 1\r\nxyz\r\nversion\r\n"),
        "CLIENT_ERROR bad data chunk\r\nERROR\r\n<version>"
    );
    assert_eq!(
        drive(b"set k 0 0 1\r\nx\n\r\nversion\r\n"),
        "CLIENT_ERROR bad data chunk\r\nERROR\r\n<version>"
    );
    // memcached 1.6.18: "set k 0 0 2\r\nx\n\r\n" => STORED (the data is "x\n").
    assert_eq!(drive(b"set k 0 0 2\r\nx\n\r\n"), "<Set k 0 0 \"x\\n\" 0>");
    // memcached 1.6.18: noreply hides the bad data chunk error too.
    assert_eq!(
        drive(b"set k 0 0 1 noreply\r\nxyz\r\nversion\r\n"),
        "ERROR\r\n<version>"
    );
}

#[test]
fn too_large_values_are_swallowed() {
    // memcached 1.6.18 -I 1m: "set k 0 0 2000000\r\n<2000000 bytes>\r\nversion\r\n" =>
    // "SERVER_ERROR object too large for cache\r\nVERSION 1.6.18\r\n"; with noreply only
    // the VERSION line.
    let mut buf = b"set k 0 0 2000000\r\n".to_vec();
    let line = buf.len();
    buf.extend_from_slice(&[b'x'; 1000]);
    assert_eq!(
        p(&buf),
        Parsed::Invalid(ParseError {
            reply: TOO_LARGE,
            consumed: line + 1000,
            swallow: 2_000_002 - 1000,
            close: false,
            noreply: false,
            too_large: Some(TooLarge::new(&buf, &buf[4..5], false, true)),
        })
    );
    // Only a refused `set` unlinks the key (memcached's process_update_command); every
    // refusal carries the key, so the command layer counts it.
    for (cmd, unlink) in [
        ("set", true),
        ("add", false),
        ("append", false),
        ("cas", false),
    ] {
        let cas = if cmd == "cas" { " 1" } else { "" };
        let line = format!("{cmd} key:1 0 0 2000000{cas}\r\n");
        match p(line.as_bytes()) {
            Parsed::Invalid(e) => {
                let t = e.too_large.expect("refusal carries the key");
                let mut kb = [0; crate::protocol::meta::MAX_DECODED_KEY_LEN];
                let key = t.key(line.as_bytes(), &mut kb);
                assert_eq!((key, t.unlink), (Some(&b"key:1"[..]), unlink), "{cmd}");
            }
            other => panic!("{cmd}: {other:?}"),
        }
    }
    buf.resize(line + 2_000_000, b'x');
    buf.extend_from_slice(b"\r\nversion\r\n");
    assert_eq!(
        drive(&buf),
        "SERVER_ERROR object too large for cache\r\n<version>"
    );
    let mut buf = b"set k 0 0 2000000 noreply\r\n".to_vec();
    buf.resize(buf.len() + 2_000_000, b'x');
    buf.extend_from_slice(b"\r\nversion\r\n");
    assert_eq!(drive(&buf), "<version>");
    // The boundary measured on memcached 1.6.18 -I 1m.
    let mut ok = b"set k 0 0 1048516\r\n".to_vec();
    ok.resize(ok.len() + 1_048_516, b'x');
    ok.extend_from_slice(b"\r\n");
    assert!(matches!(p(&ok), Parsed::Complete(Request::Store { .. }, n) if n == ok.len()));
    let mut big = b"set k 0 0 1048517\r\n".to_vec();
    big.resize(big.len() + 1_048_517, b'x');
    big.extend_from_slice(b"\r\n");
    assert_eq!(drive(&big), "SERVER_ERROR object too large for cache\r\n");
    // A smaller -I.
    let small = Limits { item_size_max: 100 };
    assert_eq!(
        drive_with(b"set k 0 0 40\r\n", &small),
        "<wait>",
        "fits: waits for its data"
    );
    assert_eq!(
        drive_with(b"set k 0 0 41\r\n", &small),
        "SERVER_ERROR object too large for cache\r\n"
    );
    // The largest length memcached does not reject as malformed: answered at once.
    let e = match p(b"set k 0 0 2147483645\r\n") {
        Parsed::Invalid(e) => e,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        (e.reply, e.consumed, e.swallow),
        (TOO_LARGE, 22, 2_147_483_647)
    );
}

const TOO_LARGE: ErrorReply = ErrorReply::Server("object too large for cache");

#[test]
fn delete_forms() {
    // memcached 1.6.18 transcripts.
    assert_eq!(drive(b"delete a\r\n"), "<delete a>");
    assert_eq!(drive(b"delete a 0\r\n"), "<delete a>");
    assert_eq!(drive(b"delete a noreply\r\n"), "<delete a noreply>");
    assert_eq!(drive(b"delete a 0 noreply\r\n"), "<delete a noreply>");
    let usage = "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n";
    assert_eq!(drive(b"delete a 1\r\n"), usage);
    assert_eq!(drive(b"delete a noreply 0\r\n"), usage);
    assert_eq!(drive(b"delete a 1 noreply\r\n"), "");
    assert_eq!(drive(b"delete a x y z\r\ndelete\r\n"), "ERROR\r\nERROR\r\n");
    let long = cat(&[b"delete ", &k(251), b"\r\n"]);
    assert_eq!(drive(&long), "CLIENT_ERROR bad command line format\r\n");
    let long = cat(&[b"delete ", &k(251), b" noreply\r\n"]);
    assert_eq!(drive(&long), "");
    // "delete noreply" deletes the key "noreply".
    assert_eq!(drive(b"delete noreply\r\n"), "<delete noreply>");
}

#[test]
fn incr_decr() {
    assert_eq!(
        p(b"incr n 5\r\n"),
        Parsed::Complete(
            Request::Arith {
                key: b"n",
                incr: true,
                delta: 5,
                noreply: false
            },
            10
        )
    );
    // memcached 1.6.18 transcripts.
    assert_eq!(drive(b"incr n +5\r\n"), "<incr n 5>");
    assert_eq!(drive(b"decr n 3\r\n"), "<decr n 3>");
    assert_eq!(drive(b"incr n 1 noreply\r\n"), "<incr n 1 noreply>");
    assert_eq!(drive(b"incr n 1 x\r\n"), "<incr n 1>");
    assert_eq!(
        drive(b"incr n 18446744073709551615\r\n"),
        "<incr n 18446744073709551615>"
    );
    let delta = "CLIENT_ERROR invalid numeric delta argument\r\n";
    assert_eq!(drive(b"incr n 18446744073709551616\r\n"), delta);
    assert_eq!(drive(b"incr n abc\r\n"), delta);
    assert_eq!(drive(b"incr n -1\r\n"), delta);
    assert_eq!(drive(b"decr n abc\r\n"), delta);
    assert_eq!(drive(b"incr n abc noreply\r\n"), "");
    assert_eq!(drive(b"incr n\r\nincr n 1 2 3\r\n"), "ERROR\r\nERROR\r\n");
    let long = cat(&[b"incr ", &k(251), b" 1\r\n"]);
    assert_eq!(drive(&long), "CLIENT_ERROR bad command line format\r\n");
    let long = cat(&[b"incr ", &k(251), b" 1 noreply\r\n"]);
    assert_eq!(drive(&long), "");
}

#[test]
fn touch() {
    // memcached 1.6.18 transcripts.
    assert_eq!(drive(b"touch a 10\r\n"), "<touch a 10>");
    assert_eq!(drive(b"touch n 10 x\r\n"), "<touch n 10>");
    assert_eq!(drive(b"touch n 10 noreply\r\n"), "<touch n 10 noreply>");
    assert_eq!(
        drive(b"touch a abc\r\n"),
        "CLIENT_ERROR invalid exptime argument\r\n"
    );
    assert_eq!(drive(b"touch a abc noreply\r\n"), "");
    assert_eq!(drive(b"touch a\r\n"), "ERROR\r\n");
    let long = cat(&[b"touch ", &k(251), b" 1\r\n"]);
    assert_eq!(drive(&long), "CLIENT_ERROR bad command line format\r\n");
}

#[test]
fn flush_all() {
    // memcached 1.6.18: "flush_all noreply" is silent; "flush_all -1" => OK (as "now");
    // "flush_all 1 2" => OK; "flush_all noreply 5" => invalid exptime.
    assert_eq!(
        p(b"flush_all\r\n"),
        Parsed::Complete(
            Request::FlushAll {
                delay: 0,
                noreply: false
            },
            11
        )
    );
    assert_eq!(drive(b"flush_all noreply\r\n"), "<flush_all 0 noreply>");
    assert_eq!(drive(b"flush_all -1\r\n"), "<flush_all -1>");
    assert_eq!(drive(b"flush_all 0\r\n"), "<flush_all 0>");
    assert_eq!(drive(b"flush_all 10 noreply\r\n"), "<flush_all 10 noreply>");
    assert_eq!(drive(b"flush_all 1 2\r\n"), "<flush_all 1>");
    assert_eq!(drive(b"flush_all 5 x\r\n"), "<flush_all 5>");
    let exp = "CLIENT_ERROR invalid exptime argument\r\n";
    assert_eq!(drive(b"flush_all abc\r\n"), exp);
    assert_eq!(drive(b"flush_all noreply 5\r\n"), exp);
    assert_eq!(drive(b"flush_all abc noreply\r\n"), "");
    assert_eq!(drive(b"flush_all noreply noreply\r\n"), "");
    assert_eq!(drive(b"flush_all x y z\r\n"), "ERROR\r\n");
}

#[test]
fn small_commands() {
    // memcached 1.6.18 transcripts.
    assert_eq!(p(b"version\r\n"), Parsed::Complete(Request::Version, 9));
    assert_eq!(
        p(b"refresh_certs noreply\r\n"),
        Parsed::Complete(Request::RefreshCerts, 23)
    );
    assert_eq!(drive(b"version\n"), "<version>");
    assert_eq!(drive(b"  version  \r\n"), "<version>");
    assert_eq!(drive(b"version extra\r\n"), "<version>");
    assert_eq!(drive(b"version\0xyz\r\n"), "<version>");
    assert_eq!(drive(b"version HTTP/1.1\r\n"), "<version>");
    assert_eq!(drive(b"quit\r\n"), "<quit>");
    assert_eq!(drive(b"quit extra\r\n"), "<quit>");
    assert_eq!(drive(b"verbosity 1\r\n"), "<verbosity 1>");
    assert_eq!(drive(b"verbosity 1 2\r\n"), "<verbosity 1>");
    assert_eq!(drive(b"verbosity 1 noreply\r\n"), "<verbosity 1 noreply>");
    assert_eq!(drive(b"verbosity 4294967296\r\n"), "<verbosity 0>");
    assert_eq!(drive(b"verbosity\r\n"), "ERROR\r\n");
    let fmt = "CLIENT_ERROR bad command line format\r\n";
    assert_eq!(drive(b"verbosity x\r\n"), fmt);
    assert_eq!(drive(b"verbosity -1\r\n"), fmt);
    assert_eq!(drive(b"verbosity noreply\r\n"), "");
    assert_eq!(drive(b"verbosity x noreply\r\n"), "");
    assert_eq!(drive(b"cache_memlimit 100\r\n"), "<cache_memlimit 100>");
    assert_eq!(
        drive(b"cache_memlimit 100 noreply\r\n"),
        "<cache_memlimit 100 noreply>"
    );
    assert_eq!(drive(b"cache_memlimit 100 x\r\n"), "<cache_memlimit 100>");
    assert_eq!(
        drive(b"cache_memlimit 4294967304\r\n"),
        "<cache_memlimit 8>"
    );
    assert_eq!(
        drive(
            b"cache_memlimit x\r\ncache_memlimit\r\ncache_memlimit -1\r\ncache_memlimit 1 2 3\r\n"
        ),
        "ERROR\r\n".repeat(4)
    );
    assert_eq!(drive(b"cache_memlimit x noreply\r\n"), "");
    assert_eq!(drive(b"shutdown\r\n"), "<shutdown graceful=false>");
    assert_eq!(drive(b"snapshot\r\n"), "<snapshot>");
    assert_eq!(drive(b"snapshot now\r\n"), "ERROR\r\n");
    assert_eq!(drive(b"shutdown graceful\r\n"), "<shutdown graceful=true>");
    assert_eq!(
        drive(b"shutdown foo\r\nshutdown graceful x\r\n"),
        "CLIENT_ERROR invalid shutdown mode\r\n".repeat(2)
    );
}

#[test]
fn stats_args() {
    assert_eq!(drive(b"stats\r\n"), "<stats[]>");
    assert_eq!(drive(b"stats  detail  on\r\n"), "<stats[detail,on]>");
    assert_eq!(drive(b"stats cachedump 1 1\r\n"), "<stats[cachedump,1,1]>");
    assert_eq!(drive(b"stats HTTP/1.1\r\n"), "<stats[HTTP/1.1]>");
}

#[test]
fn unknown_and_malformed_lines() {
    // memcached 1.6.18 transcripts.
    assert_eq!(drive(b"\r\n"), "ERROR\r\n");
    assert_eq!(drive(b"\n"), "ERROR\r\n");
    assert_eq!(drive(b"\r\r\n"), "ERROR\r\n");
    assert_eq!(drive(b"x\r\n"), "ERROR\r\n");
    assert_eq!(drive(b"a\r\n"), "ERROR\r\n");
    assert_eq!(drive(b"\0version\r\n"), "ERROR\r\n");
    assert_eq!(drive(b"VERSION\r\n"), "ERROR\r\n");
    assert_eq!(drive(b"foo bar\r\n"), "ERROR\r\n");
    for cmd in ["lru", "watch"] {
        assert_eq!(drive(format!("{cmd} HTTP/1.1\r\n").as_bytes()), "ERROR\r\n");
    }
    // Parsed as operator commands whose reply the parser decides.
    for cmd in ["slabs", "lru_crawler"] {
        assert_eq!(
            drive(format!("{cmd} HTTP/1.1\r\n").as_bytes()),
            "<ERROR\r\n>"
        );
    }
    // memcached 1.6.18: HTTP/ in the last (of at most 23) tokens closes silently, except
    // for commands dispatched by their first letter ('d', 's', 'g', ...).
    assert_eq!(drive(b"foo HTTP/1.1\r\nversion\r\n"), "<close>");
    assert_eq!(drive(b"GET / HTTP/1.1\r\n"), "<close>");
    assert_eq!(drive(b"HTTP/1.1\r\n"), "<close>");
    assert_eq!(drive(b"foo HTTP/\r\n"), "<close>");
    assert_eq!(drive(b"misbehave HTTP/1.1\r\n"), "<close>");
    assert_eq!(
        p(b"foo HTTP/1.1 \r\n"),
        Parsed::Invalid(ParseError::close(15))
    );
    assert_eq!(drive(b"get / HTTP/1.1\r\n"), "<get[/,HTTP/1.1]>");
    assert_eq!(drive(b"set HTTP/1.1\r\n"), "ERROR\r\n");
    assert_eq!(
        drive(b"dx HTTP/1.1\r\nab HTTP/\r\nz HTTP/\r\nzz HTTP/ x\r\n"),
        "ERROR\r\n".repeat(4)
    );
    let a = "a ";
    assert_eq!(
        drive(format!("foo {} HTTP/1.1 b c\r\n", a.repeat(21)).as_bytes()),
        "<close>"
    );
    assert_eq!(
        drive(format!("foo {} HTTP/1.1 b c\r\n", a.repeat(22)).as_bytes()),
        "ERROR\r\n"
    );
    assert_eq!(
        drive(format!("foo {} HTTP/1.1 b c\r\n", a.repeat(20)).as_bytes()),
        "ERROR\r\n"
    );
}

#[test]
fn pipelines_resynchronise() {
    assert_eq!(
        drive(b"set a 0 0 1\r\nx\r\nget a\r\nbogus\r\nincr a 1\r\ndelete a\r\n"),
        "<Set a 0 0 \"x\" 0><get[a]>ERROR\r\n<incr a 1><delete a>"
    );
}

// --- encoders --------------------------------------------------------------------------

#[test]
fn encoders_are_exact() {
    let mut out = Vec::new();
    encode_value(&mut out, b"k", 0, 1, None);
    encode_value(&mut out, b"key", u32::MAX, 0, Some(u64::MAX));
    for line in [
        END, STORED, NOT_STORED, EXISTS, NOT_FOUND, DELETED, TOUCHED, OK, RESET,
    ] {
        out.extend_from_slice(line);
    }
    encode_version(&mut out, "1.6.18");
    encode_number(&mut out, 0);
    encode_number(&mut out, 18_446_744_073_709_551_615);
    encode_stat(&mut out, "version", "1.6.18");
    encode_stat(&mut out, "curr_items", 42);
    encode_stat(&mut out, "rusage_user", format_args!("{}.{:06}", 0, 12_000));
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "VALUE k 0 1\r\nVALUE key 4294967295 0 18446744073709551615\r\nEND\r\nSTORED\r\n\
         NOT_STORED\r\nEXISTS\r\nNOT_FOUND\r\nDELETED\r\nTOUCHED\r\nOK\r\nRESET\r\n\
         VERSION 1.6.18\r\n0\r\n18446744073709551615\r\nSTAT version 1.6.18\r\n\
         STAT curr_items 42\r\nSTAT rusage_user 0.012000\r\n"
    );
}

// --- prefixes and properties -------------------------------------------------------------

fn valid_requests() -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = [
        &b"get a\r\n"[..],
        b"get a bb ccc\r\n",
        b"gets a\r\n",
        b"gat 10 a\r\n",
        b"gats 0 a b\r\n",
        b"bget a\r\n",
        b"set k 0 0 3\r\nabc\r\n",
        b"set k 1 2 0 noreply\r\n\r\n",
        b"add k 0 0 1\r\nx\r\n",
        b"replace k 0 0 1\r\nx\r\n",
        b"append k 0 0 2\r\n\r\n\r\n",
        b"prepend k 0 0 1\r\nx\r\n",
        b"cas k 0 0 1 7\r\nx\r\n",
        b"cas k 0 0 1 7 noreply\r\nx\r\n",
        b"delete k\r\n",
        b"delete k 0 noreply\r\n",
        b"incr k 1\r\n",
        b"decr k 1 noreply\r\n",
        b"touch k 10\r\n",
        b"flush_all\r\n",
        b"flush_all 10 noreply\r\n",
        b"version\r\n",
        b"verbosity 1\r\n",
        b"quit\r\n",
        b"shutdown graceful\r\n",
        b"cache_memlimit 64\r\n",
        b"stats\r\n",
        b"stats detail on\r\n",
        b"get a\n",
    ]
    .iter()
    .map(|r| r.to_vec())
    .collect();
    let mut big = b"set big 0 0 1000\r\n".to_vec();
    big.resize(big.len() + 1000, b'\r');
    big.extend_from_slice(b"\r\n");
    v.push(big);
    v
}

#[test]
fn every_strict_prefix_is_incomplete() {
    for req in valid_requests() {
        match p(&req) {
            Parsed::Complete(_, n) => assert_eq!(n, req.len(), "{req:?}"),
            other => panic!("{req:?} => {other:?}"),
        }
        for cut in 0..req.len() {
            assert_eq!(p(&req[..cut]), Parsed::Incomplete, "{:?}", &req[..cut]);
        }
        // And a following request never changes what the first one consumed.
        let mut two = req.clone();
        two.extend_from_slice(b"get z\r\n");
        assert!(matches!(p(&two), Parsed::Complete(_, n) if n == req.len()));
    }
}

fn within(outer: &[u8], inner: &[u8]) -> bool {
    let (o, i) = (outer.as_ptr() as usize, inner.as_ptr() as usize);
    i >= o && i + inner.len() <= o + outer.len()
}

fn check_invariants(buf: &[u8]) {
    match parse(buf, &lim()) {
        Parsed::Complete(req, n) => {
            assert!(n <= buf.len() && n > 0);
            let mut slices: Vec<&[u8]> = Vec::new();
            match req {
                Request::Get { keys, .. } | Request::Gat { keys, .. } => slices.extend(keys),
                Request::Stats { args } => slices.extend(args),
                Request::Store { key, data, .. } => slices.extend([key, data]),
                Request::Delete { key, .. }
                | Request::Arith { key, .. }
                | Request::Touch { key, .. } => slices.push(key),
                Request::Meta(m) => {
                    slices.push(m.key.raw());
                    slices.extend(m.flags.tokens);
                    if m.command == meta::MetaCommand::Set {
                        slices.push(m.data);
                    }
                }
                _ => {}
            }
            for s in slices {
                assert!(within(&buf[..n], s));
            }
        }
        Parsed::Incomplete => {}
        Parsed::Invalid(e) => {
            assert!(e.consumed <= buf.len());
            assert!(e.consumed > 0 || e.close);
        }
    }
}

/// Lines made of command words, numbers and keywords: reaches the deep error paths that
/// random bytes rarely do.
fn commandish() -> impl Strategy<Value = String> {
    let word = prop_oneof![
        Just("get".to_string()),
        Just("set".to_string()),
        Just("gat".to_string()),
        Just("cas".to_string()),
        Just("append".to_string()),
        Just("delete".to_string()),
        Just("incr".to_string()),
        Just("touch".to_string()),
        Just("flush_all".to_string()),
        Just("verbosity".to_string()),
        Just("mg".to_string()),
        Just("ms".to_string()),
        Just("md".to_string()),
        Just("ma".to_string()),
        Just("v".to_string()),
        Just("b".to_string()),
        Just("T5".to_string()),
        Just("MS".to_string()),
        Just("noreply".to_string()),
        Just("0".to_string()),
        Just("-1".to_string()),
        Just("5".to_string()),
        Just("2000000".to_string()),
        Just("HTTP/1.1".to_string()),
        "[0-9]{1,12}",
        "[ -~]{0,12}",
    ];
    proptest::collection::vec(word, 0..10).prop_map(|w| w.join(" "))
}

proptest! {
    #[test]
    fn random_bytes_never_panic(buf in proptest::collection::vec(any::<u8>(), 0..600)) {
        check_invariants(&buf);
    }

    #[test]
    fn random_commandish_lines_never_panic(line in commandish()) {
        check_invariants(line.as_bytes());
        let mut buf = line.into_bytes();
        buf.extend_from_slice(b"\r\n");
        check_invariants(&buf);
    }

    /// After any printable line, consuming what parse reports (swallow included), a valid
    /// `get k` is recognised: the parser never loses track of request boundaries. Only a
    /// storage command may legitimately eat it (as its data block, or swallowed).
    #[test]
    fn never_desynchronises(line in prop_oneof!["[ -~]{0,80}", commandish()]) {
        let mut buf = line.clone().into_bytes();
        buf.extend_from_slice(b"\r\nget k\r\n");
        let mut pos = 0;
        let mut swallow = 0usize;
        let mut seen_get = false;
        for _ in 0..4 {
            let skip = swallow.min(buf.len() - pos);
            pos += skip;
            swallow -= skip;
            if pos == buf.len() {
                break;
            }
            match parse(&buf[pos..], &lim()) {
                Parsed::Complete(req, n) => {
                    prop_assert!(n <= buf.len() - pos);
                    pos += n;
                    if pos == buf.len() {
                        if let Request::Get { keys, .. } = req {
                            seen_get = list(keys) == vec![&b"k"[..]];
                        }
                    }
                }
                Parsed::Invalid(e) => {
                    prop_assert!(e.consumed <= buf.len() - pos);
                    if e.close {
                        // Only an HTTP-looking line closes.
                        prop_assert!(line.contains("HTTP/"));
                        seen_get = true;
                        break;
                    }
                    pos += e.consumed;
                    swallow = e.swallow;
                }
                Parsed::Incomplete => break,
            }
        }
        if !seen_get {
            let cmd = Tokens::new(line.as_bytes()).get(0);
            prop_assert!(
                matches!(
                    cmd,
                    b"set" | b"add" | b"replace" | b"append" | b"prepend" | b"cas" | b"ms"
                ),
                "get lost after {:?}", line
            );
        }
    }

    /// Random chunking of a pipeline gives the same requests as parsing it whole.
    #[test]
    fn split_points_do_not_matter(cut in 0usize..60) {
        let input = b"set k 0 0 3\r\nabc\r\nget k\r\nbogus\r\nincr k 1\r\n";
        let whole = drive(input);
        let cut = cut.min(input.len());
        let head = drive(&input[..cut]);
        prop_assert!(whole.starts_with(head.trim_end_matches("<wait>")));
    }
}
