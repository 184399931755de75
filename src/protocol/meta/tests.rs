//! Transcripts marked "memcached 1.6.18" were taken from `/usr/bin/memcached` 1.6.18 (see
//! the text tests). `drive` shows error replies byte for byte and a `<tag>` for each
//! complete request: `<mg KEY [FLAGS]>`, `b64:` before a decoded base64 key, and the data
//! of an `ms`.

use super::super::text::tests::{drive, drive_with};
use super::super::text::{parse, Request, StorageCommand};
use super::*;

fn meta(buf: &[u8]) -> MetaRequest<'_> {
    match parse(buf, &Limits::default()) {
        Parsed::Complete(Request::Meta(m), n) => {
            assert_eq!(n, buf.len());
            m
        }
        other => panic!("{other:?}"),
    }
}

fn ce(msg: &str) -> String {
    format!("CLIENT_ERROR {msg}\r\n")
}

fn k(n: usize) -> String {
    "k".repeat(n)
}

#[test]
fn mg_flags_are_read() {
    let m = meta(b"mg foo v t f c s k O123 h l u q T30 N-1 R5 P L I\r\n");
    assert_eq!(m.command, MetaCommand::Get);
    assert_eq!(m.key.as_bytes(), b"foo");
    assert!(!m.key.is_binary());
    let f = m.flags;
    assert!(f.value && f.ttl_remaining && f.client_flags && f.cas && f.size && f.key);
    assert!(f.hit && f.last_access && f.no_bump && f.quiet && f.invalidate);
    assert!(!f.base64_key);
    assert_eq!(f.opaque, Some(&b"O123"[..]));
    assert_eq!(
        (f.new_ttl, f.vivify_ttl, f.recache_ttl),
        (Some(30), Some(-1), Some(5))
    );
    assert_eq!(f.tokens.count(), 17);
    assert_eq!(
        f.tokens.take(3).collect::<Vec<_>>(),
        [&b"v"[..], b"t", b"f"]
    );
    assert_eq!(m.data, b"");
    // memcached 1.6.18: "mg foo T+5 v t" and "mg foo T-1 v" are accepted.
    assert_eq!(meta(b"mg foo T+5\r\n").flags.new_ttl, Some(5));
    assert_eq!(drive(b"mg  foo   v  \r\n"), "<mg foo [v]>");
    assert_eq!(drive(b"mg foo\r\n"), "<mg foo []>");
    // A tab is part of the key, as in memcached ("mg foo\tv" misses).
    assert_eq!(drive(b"mg foo\tv\r\n"), "<mg foo\tv []>");
}

#[test]
fn mg_errors() {
    // memcached 1.6.18 transcripts.
    assert_eq!(drive(b"mg\r\n"), "ERROR\r\n");
    assert_eq!(drive(b"mg foo zz\r\n"), ce("invalid flag"));
    assert_eq!(drive(b"mg foo y\r\n"), ce("invalid flag"));
    assert_eq!(drive(b"mg foo HTTP/1.1\r\n"), ce("invalid flag"));
    assert_eq!(drive(b"mg foo v v\r\n"), ce("duplicate flag"));
    assert_eq!(drive(b"mg foo v vx\r\n"), ce("duplicate flag"));
    assert_eq!(drive(b"mg foo \xff\r\n"), ce("duplicate flag"));
    let bad_token = ce("bad token in command line format");
    assert_eq!(drive(b"mg foo Tabc\r\n"), bad_token);
    assert_eq!(drive(b"mg foo T\r\n"), bad_token);
    assert_eq!(drive(b"mg foo T5x v\r\n"), bad_token);
    assert_eq!(drive(b"mg foo N\r\n"), bad_token);
    assert_eq!(drive(b"mg foo C\r\n"), bad_token);
    // A value error is reported after the loop, so a later unknown flag wins; between
    // value errors the last message wins, and F has no message of its own.
    assert_eq!(drive(b"mg foo Tabc z\r\n"), ce("invalid flag"));
    assert_eq!(drive(b"mg foo z Tabc\r\n"), ce("invalid flag"));
    assert_eq!(drive(b"mg foo Tabc Fxyz\r\n"), bad_token);
    assert_eq!(drive(b"mg foo Fxyz Tabc\r\n"), bad_token);
    assert_eq!(drive(b"mg foo F\r\n"), ce("bad command line format"));
    assert_eq!(drive(b"mg foo Fabc\r\n"), ce("bad command line format"));
    assert_eq!(drive(b"mg foo MZZ\r\n"), ce("incorrect length for M token"));
    assert_eq!(drive(b"mg foo M\r\n"), ce("incorrect length for M token"));
    assert_eq!(drive(b"mg foo Jx\r\n"), ce("invalid numeric initial value"));
    assert_eq!(drive(b"mg foo J\r\n"), ce("invalid numeric initial value"));
    assert_eq!(drive(b"mg foo Dx\r\n"), ce("invalid numeric delta value"));
    // Opaque: 32 bytes with the O is fine, 33 is not; q does not hide errors.
    let ok = format!("mg foo O{}\r\n", "a".repeat(31));
    assert_eq!(
        drive(ok.as_bytes()),
        format!("<mg foo [O{}]>", "a".repeat(31))
    );
    let long = format!("mg foo O{}\r\n", "a".repeat(32));
    assert_eq!(drive(long.as_bytes()), ce("opaque token too long"));
    let long = format!("mg missing O{} q\r\n", "a".repeat(32));
    assert_eq!(drive(long.as_bytes()), ce("opaque token too long"));
    assert_eq!(drive(b"mg foo O\r\n"), "<mg foo [O]>");
    // Key length.
    let key = format!("mg {} v\r\n", k(251));
    assert_eq!(drive(key.as_bytes()), ce("bad command line format"));
    let key = format!("mg {} v\r\n", k(250));
    assert_eq!(drive(key.as_bytes()), format!("<mg {} [v]>", k(250)));
    // At most 17 flags after the key.
    let too_many = ce("options flags are too long");
    assert_eq!(
        drive(b"mg foo a b c d e f g h i j k l m n o p q r\r\n"),
        too_many
    );
    assert_eq!(
        drive(b"mg foo v t f c s k O1 h l u q T1 N1 R1 b P L I\r\n"),
        too_many
    );
    assert_eq!(
        drive(b"mg foo a b c d e f g h i j k l m n o p q\r\n"),
        ce("invalid flag")
    );
    assert_eq!(
        drive(b"mg foo v t f c s k O1 h l u T1 N1 R1 P L I\r\n"),
        "<mg foo [v t f c s k O1 h l u T1 N1 R1 P L I]>"
    );
}

#[test]
fn base64_keys() {
    // memcached 1.6.18: "mg Zm9v b v k" finds "foo" and echoes "kZm9v b".
    let m = meta(b"mg Zm9v b v k\r\n");
    assert_eq!(m.key.as_bytes(), b"foo");
    assert_eq!(m.key.raw(), b"Zm9v");
    assert!(m.key.is_binary() && m.flags.base64_key);
    assert_eq!(drive(b"mg Zm8= b v k\r\n"), "<mg b64:fo [b v k]>");
    assert_eq!(drive(b"mg Zm9vYg== b v k\r\n"), "<mg b64:foob [b v k]>");
    assert_eq!(drive(b"mg AAAA b\r\n"), "<mg b64:\0\0\0 [b]>");
    // Non-zero trailing bits are accepted: "Zh==" is "f" as "Zg==" is.
    assert_eq!(drive(b"mg Zh== b v k\r\n"), "<mg b64:f [b v k]>");
    assert_eq!(drive(b"mg Zm9= b v\r\n"), "<mg b64:fo [b v]>");
    let bad = ce("error decoding key");
    for line in [
        &b"mg Zm9 b v\r\n"[..],
        b"mg Zm8 b v k\r\n",
        b"mg Zg= b v k\r\n",
        b"mg Zg b v k\r\n",
        b"mg !!!! b v\r\n",
        b"mg b b\r\n",
        b"mg foo b\r\n",
        b"mg ==== b v\r\n",
        b"mg Z=== b v k\r\n",
        b"mg Zm-_ b v k\r\n",
        b"mg Zm9v\tb b v k\r\n",
    ] {
        assert_eq!(drive(line), bad, "{line:?}");
    }
    // memcached's decoder skips bytes outside the alphabet and stops after the first
    // padded quartet (memcached 1.6.18: "mg Zg==Zg== b k" => "EN kZg== b").
    assert_eq!(drive(b"mg Zg==Zg== b v\r\n"), "<mg b64:f [b v]>");
    assert_eq!(drive(b"mg Zm9v\r b\r\n"), "<mg b64:foo [b]>");
    assert_eq!(drive(b"mg Z!m9v b\r\n"), "<mg b64:foo [b]>");
    // "Zm9v=" is a token starting with Z after the key: an unknown flag.
    assert_eq!(drive(b"mg foo Zm9v= b\r\n"), ce("invalid flag"));
    // A 250-byte base64 key decodes into the inline buffer.
    let long = format!("mg {} b\r\n", "A".repeat(248));
    assert_eq!(meta(long.as_bytes()).key.as_bytes().len(), 186);
}

#[test]
fn ms_commands() {
    let m = meta(b"ms foo 3 T0 F7 c k O9 q MA C5 I\r\nbar\r\n");
    assert_eq!(m.command, MetaCommand::Set);
    assert_eq!(m.key.as_bytes(), b"foo");
    assert_eq!(m.data, b"bar");
    let f = m.flags;
    assert_eq!(
        (f.new_ttl, f.set_client_flags, f.compare_cas),
        (Some(0), Some(7), Some(5))
    );
    assert!(f.cas && f.key && f.quiet && f.invalidate);
    assert_eq!(f.opaque, Some(&b"O9"[..]));
    assert_eq!(f.store_mode(), StorageCommand::Append);
    assert_eq!(f.tokens.count(), 9);
    // memcached 1.6.18 transcripts.
    assert_eq!(drive(b"ms foo 3\r\nbar\r\n"), "<ms foo [] \"bar\">");
    assert_eq!(drive(b"ms foo 0\r\n\r\n"), "<ms foo [] \"\">");
    assert_eq!(
        drive(b"ms Zm9v 3 b k c\r\nbar\r\n"),
        "<ms b64:foo [b k c] \"bar\">"
    );
    // The data length is read like any memcached number: 4294967299 is 3.
    assert_eq!(
        drive(b"ms foo 4294967299\r\nbar\r\n"),
        "<ms foo [] \"bar\">"
    );
    assert_eq!(
        meta(b"ms foo 3 F4294967296\r\nbar\r\n")
            .flags
            .set_client_flags,
        Some(0)
    );
    assert_eq!(meta(b"ms foo 3 T-1\r\nbar\r\n").flags.new_ttl, Some(-1));
    assert_eq!(
        drive(b"ms foo 3 N10 D5 J1\r\nbar\r\n"),
        "<ms foo [N10 D5 J1] \"bar\">"
    );
    for (mode, kind) in [
        ("ME", StorageCommand::Add),
        ("MA", StorageCommand::Append),
        ("MP", StorageCommand::Prepend),
        ("MR", StorageCommand::Replace),
        ("MS", StorageCommand::Set),
    ] {
        let line = format!("ms foo 1 {mode}\r\nx\r\n");
        assert_eq!(meta(line.as_bytes()).flags.store_mode(), kind);
    }
    assert_eq!(
        meta(b"ms foo 1\r\nx\r\n").flags.store_mode(),
        StorageCommand::Set
    );
}

#[test]
fn ms_errors() {
    // memcached 1.6.18: errors on the line itself leave the data to be read as a command.
    assert_eq!(drive(b"ms\r\n"), "ERROR\r\n");
    let fmt = ce("bad command line format");
    assert_eq!(drive(b"ms foo\r\n"), fmt);
    assert_eq!(drive(b"ms foo abc\r\nbar\r\n"), format!("{fmt}ERROR\r\n"));
    assert_eq!(drive(b"ms foo -1\r\nbar\r\n"), format!("{fmt}ERROR\r\n"));
    assert_eq!(
        drive(b"ms foo S3\r\nbar\r\nmn\r\n"),
        format!("{fmt}ERROR\r\n<mn  []>")
    );
    assert_eq!(
        drive(b"ms foo 2147483646\r\nmn\r\n"),
        format!("{fmt}<mn  []>")
    );
    let key = format!("ms {} 3\r\nbar\r\nmn\r\n", k(251));
    assert_eq!(drive(key.as_bytes()), format!("{fmt}ERROR\r\n<mn  []>"));
    let too_many = ce("options flags too long");
    assert_eq!(
        drive(b"ms foo 3 a b c d e f g h i j k l m n o p q\r\nbar\r\nmn\r\n"),
        format!("{too_many}ERROR\r\n<mn  []>")
    );
    // memcached 1.6.18: flag errors swallow the data block, even with q.
    for (line, msg) in [
        (&b"ms foo 3 zz"[..], "invalid flag"),
        (b"ms foo 3 zz q", "invalid flag"),
        (b"ms foo 3 HTTP/1.1", "invalid flag"),
        (b"ms foo 3 Zm9=", "invalid flag"),
        (b"ms foo 3 Tabc", "bad token in command line format"),
        (b"ms foo 3 Cx", "bad token in command line format"),
        (b"ms foo 3 F", "bad command line format"),
        (b"ms foo 3 Dx", "invalid numeric delta value"),
        (b"ms foo 3 MX", "invalid mode for ms M token"),
        (b"ms foo 3 Ms", "invalid mode for ms M token"),
        (b"ms foo 3 MEE", "incorrect length for M token"),
        (b"ms foo 3 v v", "duplicate flag"),
        (b"ms foo 3 T0 T1", "duplicate flag"),
        (b"ms foo 3 b", "error decoding key"),
        (b"ms Zm9 3 b", "error decoding key"),
    ] {
        let input = [line, &b"\r\nbar\r\nmn\r\n"[..]].concat();
        assert_eq!(drive(&input), format!("{}<mn  []>", ce(msg)), "{line:?}");
    }
    let opaque = format!("ms foo 3 O{}\r\nbar\r\nmn\r\n", "a".repeat(32));
    assert_eq!(
        drive(opaque.as_bytes()),
        format!("{}<mn  []>", ce("opaque token too long"))
    );
    // An invalid mode is reported before a long opaque.
    let both = format!("ms foo 3 O{} MX\r\nbar\r\nmn\r\n", "a".repeat(32));
    assert_eq!(
        drive(both.as_bytes()),
        format!("{}<mn  []>", ce("invalid mode for ms M token"))
    );
    // memcached 1.6.18: bad data chunk is written even with q; len + 2 bytes consumed.
    for q in ["", " q"] {
        let input = format!("ms foo 3{q}\r\nbarx\r\nmn\r\n");
        assert_eq!(
            drive(input.as_bytes()),
            format!("{}ERROR\r\n<mn  []>", ce("bad data chunk"))
        );
    }
    // memcached 1.6.18 -I 1m: too large, swallowed, written even with q.
    for q in ["", " q"] {
        let mut input = format!("ms foo 2000000{q}\r\n").into_bytes();
        input.resize(input.len() + 2_000_000, b'x');
        input.extend_from_slice(b"\r\nmn\r\n");
        assert_eq!(
            drive(&input),
            "SERVER_ERROR object too large for cache\r\n<mn  []>"
        );
    }
    // The size check counts the decoded key and the F flags: memcached 1.6.18 -I 1m stores
    // "ms Zm9v 1048514 b" and "ms foo 1048510 F1" but refuses one byte more.
    let l = Limits::default();
    for (line, fits) in [
        ("ms Zm9v 1048514 b\r\n", true),
        ("ms Zm9v 1048515 b\r\n", false),
        ("ms foo 1048510 F1\r\n", true),
        ("ms foo 1048511 F1\r\n", false),
    ] {
        let expect = if fits {
            "<wait>"
        } else {
            "SERVER_ERROR object too large for cache\r\n"
        };
        assert_eq!(drive_with(line.as_bytes(), &l), expect, "{line}");
    }
    let small = Limits { item_size_max: 100 };
    assert_eq!(drive_with(b"ms k 40\r\n", &small), "<wait>");
    assert_eq!(
        drive_with(b"ms k 37 F1\r\n", &small),
        "SERVER_ERROR object too large for cache\r\n"
    );
    assert_eq!(drive_with(b"ms Zm9v 38 b\r\n", &small), "<wait>");
}

#[test]
fn explicit_cas_and_remove_value() {
    // Later memcached 1.6 (not 1.6.18): E<cas> on every command, x read by all.
    for line in [
        &b"mg foo E7 x\r\n"[..],
        b"md foo E7 x\r\n",
        b"ma foo E7 x\r\n",
    ] {
        let f = meta(line).flags;
        assert_eq!((f.new_cas, f.remove_value), (Some(7), true));
    }
    let f = meta(b"ms foo 1 E18446744073709551615\r\na\r\n").flags;
    assert_eq!((f.new_cas, f.remove_value), (Some(u64::MAX), false));
    let f = meta(b"md foo\r\n").flags;
    assert_eq!((f.new_cas, f.remove_value), (None, false));
    let bad_token = ce("bad token in command line format");
    assert_eq!(drive(b"mg foo Eabc\r\n"), bad_token);
    assert_eq!(drive(b"mg foo E\r\n"), bad_token);
    assert_eq!(drive(b"mg foo E18446744073709551616\r\n"), bad_token);
    assert_eq!(drive(b"mg foo E1 E2\r\n"), ce("duplicate flag"));
    assert_eq!(drive(b"ms foo 1 Ex\r\na\r\n"), bad_token);
    let generic = ce("invalid or duplicate flag");
    assert_eq!(drive(b"md foo Eabc\r\n"), generic);
    assert_eq!(drive(b"md foo x x\r\n"), generic);
    assert_eq!(drive(b"ma foo E-1\r\n"), generic);
}

#[test]
fn md_and_ma() {
    // memcached 1.6.18 transcripts.
    assert_eq!(drive(b"md\r\nma\r\n"), "ERROR\r\nERROR\r\n");
    assert_eq!(drive(b"md foo q\r\n"), "<md foo [q]>");
    assert_eq!(drive(b"md missing k O5\r\n"), "<md missing [k O5]>");
    let m = meta(b"md foo C5 I T30\r\n");
    assert_eq!(m.command, MetaCommand::Delete);
    assert_eq!(
        (m.flags.compare_cas, m.flags.invalidate, m.flags.new_ttl),
        (Some(5), true, Some(30))
    );
    let generic = ce("invalid or duplicate flag");
    for line in [
        &b"md foo zz\r\n"[..],
        b"md foo v v\r\n",
        b"md foo Tabc\r\n",
        b"md foo b\r\n",
        b"md foo a b c d e f g h i j k l m n o p q\r\n",
        b"ma n MDD\r\n",
        b"ma n Dx\r\n",
        b"ma n D18446744073709551616\r\n",
        b"ma n zz\r\n",
        b"ma n v v\r\n",
    ] {
        assert_eq!(drive(line), generic, "{line:?}");
    }
    let too_many = ce("options flags too long");
    assert_eq!(
        drive(b"md foo a b c d e f g h i j k l m n o p q r\r\n"),
        too_many
    );
    assert_eq!(
        drive(b"ma n a b c d e f g h i j k l m n o p q r\r\n"),
        too_many
    );
    let opaque = ce("opaque token too long");
    let long = "a".repeat(32);
    assert_eq!(drive(format!("md foo O{long}\r\n").as_bytes()), opaque);
    assert_eq!(drive(format!("ma n O{long}\r\n").as_bytes()), opaque);
    let fmt = ce("bad command line format");
    assert_eq!(drive(format!("md {}\r\n", k(251)).as_bytes()), fmt);
    assert_eq!(drive(format!("ma {}\r\n", k(251)).as_bytes()), fmt);
    assert_eq!(drive(b"ma n MX\r\n"), ce("invalid mode for ma M token"));
    assert_eq!(
        drive(b"md foo v t f c s k O1 h l u q T1 N1 R1 P\r\n"),
        "<md foo [v t f c s k O1 h l u q T1 N1 R1 P]>"
    );
    // ma: defaults and modes.
    let m = meta(b"ma n\r\n");
    assert_eq!(m.command, MetaCommand::Arithmetic);
    assert_eq!(
        (m.flags.delta, m.flags.initial, m.flags.incr()),
        (None, None, true)
    );
    for (mode, incr) in [("MI", true), ("M+", true), ("MD", false), ("M-", false)] {
        let line = format!("ma n {mode} D3\r\n");
        let m = meta(line.as_bytes());
        assert_eq!((m.flags.incr(), m.flags.delta), (incr, Some(3)));
    }
    let m = meta(b"ma missing N0 J5 v q O1 k\r\n");
    assert_eq!(
        (m.flags.vivify_ttl, m.flags.initial, m.flags.value),
        (Some(0), Some(5), true)
    );
}

#[test]
fn mn_me_and_unknown() {
    // memcached 1.6.18: "mn" and "mn foo bar" => "MN\r\n".
    assert_eq!(drive(b"mn\r\nmn foo bar\r\n"), "<mn  []><mn  []>");
    let m = meta(b"me foo\r\n");
    assert_eq!(
        (m.command, m.key.as_bytes()),
        (MetaCommand::Debug, &b"foo"[..])
    );
    assert_eq!(drive(b"me foo x y z\r\n"), "<me foo []>");
    assert_eq!(drive(b"me Zm9v b\r\n"), "<me b64:foo []>");
    assert_eq!(drive(b"me Zm9v b x\r\n"), "<me b64:foo []>");
    // Only a token that is exactly "b" asks for decoding.
    assert_eq!(drive(b"me Zm9v bb\r\n"), "<me Zm9v []>");
    let fmt = ce("bad command line format");
    assert_eq!(drive(b"me\r\n"), fmt);
    assert_eq!(drive(b"me Zm9 b\r\n"), fmt);
    assert_eq!(drive(b"me foo b\r\n"), fmt);
    assert_eq!(drive(format!("me {}\r\n", k(251)).as_bytes()), fmt);
    // memcached 1.6.18: other m-commands.
    assert_eq!(
        drive(b"mx foo\r\nMG foo\r\nmgx foo\r\nm foo\r\n"),
        "ERROR\r\n".repeat(4)
    );
}

#[test]
fn meta_prefixes_are_incomplete() {
    for req in [
        &b"mg foo v k O1\r\n"[..],
        b"ms foo 3 T10\r\nbar\r\n",
        b"ms Zm9v 0 b\r\n\r\n",
        b"md foo q\r\n",
        b"ma foo MD D2\r\n",
        b"mn\r\n",
        b"me foo\r\n",
    ] {
        meta(req);
        for cut in 0..req.len() {
            assert_eq!(
                parse(&req[..cut], &Limits::default()),
                Parsed::Incomplete,
                "{:?}",
                &req[..cut]
            );
        }
    }
}

fn reply(req: &[u8], status: MetaStatus, ret: ReturnFlags) -> String {
    let m = meta(req);
    let mut out = Vec::new();
    encode_meta(&mut out, status, &m, &ret);
    String::from_utf8(out).unwrap()
}

#[test]
fn meta_replies_are_exact() {
    // memcached 1.6.18: "mg foo v t f c s k O123 h l" on a 3-byte item with flags 5 =>
    // "VA 3 t-1 f5 c1 s3 kfoo O123 h0 l0\r\n".
    let hit = ReturnFlags {
        size: Some(3),
        ttl: Some(-1),
        cas: Some(1),
        client_flags: Some(5),
        last_access: Some(0),
        fetched: Some(false),
        ..ReturnFlags::default()
    };
    assert_eq!(
        reply(b"mg foo v t f c s k O123 h l\r\n", MetaStatus::Va(3), hit),
        "VA 3 t-1 f5 c1 s3 kfoo O123 h0 l0\r\n"
    );
    // memcached 1.6.18: "mg foo2 N30 v c t" vivifies => "VA 0 c2 t30 W".
    let viv = ReturnFlags {
        cas: Some(2),
        ttl: Some(30),
        won: true,
        ..ReturnFlags::default()
    };
    assert_eq!(
        reply(b"mg foo2 N30 v c t\r\n", MetaStatus::Va(0), viv),
        "VA 0 c2 t30 W\r\n"
    );
    // memcached 1.6.18: a miss echoes only O and k: "mg missing k O1" => "EN kmissing O1".
    assert_eq!(
        reply(
            b"mg missing k O1 v s\r\n",
            MetaStatus::En,
            ReturnFlags::default()
        ),
        "EN kmissing O1\r\n"
    );
    // memcached 1.6.18: base64 keys are echoed re-encoded: "mg Zh== b v k" => "EN kZg== b".
    assert_eq!(
        reply(b"mg Zh== b v k\r\n", MetaStatus::En, ReturnFlags::default()),
        "EN kZg== b\r\n"
    );
    // memcached 1.6.18: "ms cXs0 2 k O1 c b" => "HD kcXs0 b O1 c39".
    let set = ReturnFlags {
        cas: Some(39),
        ..ReturnFlags::default()
    };
    assert_eq!(
        reply(b"ms cXs0 2 k O1 c b\r\nhi\r\n", MetaStatus::Hd, set),
        "HD kcXs0 b O1 c39\r\n"
    );
    // memcached 1.6.18: "ma num t c v k O3 N5" => "VA 1 t100 c42 knum O3".
    let arith = ReturnFlags {
        ttl: Some(100),
        cas: Some(42),
        ..ReturnFlags::default()
    };
    assert_eq!(
        reply(b"ma num t c v k O3 N5\r\n", MetaStatus::Va(1), arith),
        "VA 1 t100 c42 knum O3\r\n"
    );
    // memcached 1.6.18: "md num O4 k" => "NF O4 knum".
    assert_eq!(
        reply(b"md num O4 k\r\n", MetaStatus::Nf, ReturnFlags::default()),
        "NF O4 knum\r\n"
    );
    let all = ReturnFlags {
        token_sent: true,
        stale: true,
        won: true,
        ..ReturnFlags::default()
    };
    assert_eq!(reply(b"mg k\r\n", MetaStatus::Hd, all), "HD Z X W\r\n");
    for (status, text) in [(MetaStatus::Ns, "NS"), (MetaStatus::Ex, "EX")] {
        assert_eq!(
            reply(b"ms k 0\r\n\r\n", status, ReturnFlags::default()),
            format!("{text}\r\n")
        );
    }
    let mut out = Vec::new();
    encode_mn(&mut out);
    // memcached 1.6.18: "me foo" => "ME foo exp=-1 la=1 cas=1 fetch=yes cls=1 size=69".
    encode_me(&mut out, b"foo", false, -1, 1, 1, true, 1, 69);
    encode_me(&mut out, b"foo", true, 5, 0, 7, false, 2, 70);
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "MN\r\nME foo exp=-1 la=1 cas=1 fetch=yes cls=1 size=69\r\n\
         ME Zm9v exp=5 la=0 cas=7 fetch=no cls=2 size=70\r\n"
    );
}

#[test]
fn quiet_mode_follows_memcached() {
    // memcached 1.6.18: "mg k q" hides EN only; "ms k 1 q" hides HD (NS, EX, NF shown);
    // "md k q" hides HD (NF, EX shown); "ma k q" hides HD and VA except right after
    // vivifying, NF shown.
    let mg = meta(b"mg k q v\r\n");
    assert!(mg.quiet_hides(MetaStatus::En, false));
    assert!(!mg.quiet_hides(MetaStatus::Hd, false));
    assert!(!mg.quiet_hides(MetaStatus::Va(1), false));
    let ms = meta(b"ms k 1 q\r\nx\r\n");
    assert!(ms.quiet_hides(MetaStatus::Hd, false));
    for s in [MetaStatus::Ns, MetaStatus::Ex, MetaStatus::Nf] {
        assert!(!ms.quiet_hides(s, false));
    }
    let md = meta(b"md k q\r\n");
    assert!(md.quiet_hides(MetaStatus::Hd, false));
    assert!(!md.quiet_hides(MetaStatus::Nf, false));
    assert!(!md.quiet_hides(MetaStatus::Ex, false));
    let ma = meta(b"ma k q N0 v\r\n");
    assert!(ma.quiet_hides(MetaStatus::Va(1), false));
    assert!(ma.quiet_hides(MetaStatus::Hd, false));
    assert!(!ma.quiet_hides(MetaStatus::Va(1), true));
    assert!(!ma.quiet_hides(MetaStatus::Nf, false));
    // Without q nothing is hidden.
    assert!(!meta(b"mg k\r\n").quiet_hides(MetaStatus::En, false));
}
