//! Unit tests of the binary framing: every shape rule, prefixes, rejects, and a property
//! test that random bytes never panic, never claim more than the buffer, never desync.

use super::*;
use proptest::prelude::*;

fn frame(op: u8, extras: &[u8], key: &[u8], value: &[u8]) -> Vec<u8> {
    let mut v = vec![REQUEST_MAGIC, op];
    v.extend_from_slice(&(key.len() as u16).to_be_bytes());
    v.push(extras.len() as u8);
    v.extend_from_slice(&[0, 0, 0]);
    v.extend_from_slice(&((extras.len() + key.len() + value.len()) as u32).to_be_bytes());
    v.extend_from_slice(&0x0102_0304u32.to_be_bytes());
    v.extend_from_slice(&7u64.to_be_bytes());
    v.extend_from_slice(extras);
    v.extend_from_slice(key);
    v.extend_from_slice(value);
    v
}

fn lim() -> Limits {
    Limits::default()
}

fn request(buf: &[u8]) -> (Request<'_>, usize) {
    match parse(buf, &lim()) {
        Parsed::Complete(Frame::Request(r), n) => (r, n),
        other => panic!("expected a request, got {other:?}"),
    }
}

fn rejected(buf: &[u8]) -> Reject<'_> {
    match parse(buf, &lim()) {
        Parsed::Complete(Frame::Reject(r), n) => {
            assert_eq!(n, r.consumed);
            r
        }
        other => panic!("expected a reject, got {other:?}"),
    }
}

#[test]
fn get_parses_with_opaque_and_cas() {
    let f = frame(0x00, &[], b"foo", &[]);
    let (r, n) = request(&f);
    assert_eq!(n, f.len());
    assert_eq!(r.opcode, Opcode::Get);
    assert_eq!(r.header.opaque, 0x0102_0304);
    assert_eq!(r.header.cas, 7);
    assert_eq!(r.body, Body::Get { key: b"foo" });
}

#[test]
fn set_decodes_extras_and_value() {
    let mut ex = Vec::new();
    ex.extend_from_slice(&0xcafeu32.to_be_bytes());
    ex.extend_from_slice(&100u32.to_be_bytes());
    let f = frame(0x11, &ex, b"k", b"value");
    let (r, _) = request(&f);
    assert_eq!(r.opcode, Opcode::SetQ);
    assert!(r.opcode.is_quiet());
    assert_eq!(
        r.body,
        Body::Store {
            key: b"k",
            flags: 0xcafe,
            exptime: 100,
            value: b"value"
        }
    );
}

#[test]
fn arith_decodes_delta_initial_exptime() {
    let mut ex = Vec::new();
    ex.extend_from_slice(&5u64.to_be_bytes());
    ex.extend_from_slice(&42u64.to_be_bytes());
    ex.extend_from_slice(&ARITH_NO_CREATE.to_be_bytes());
    let f = frame(0x06, &ex, b"n", &[]);
    assert_eq!(
        request(&f).0.body,
        Body::Arith {
            key: b"n",
            delta: 5,
            initial: 42,
            exptime: ARITH_NO_CREATE
        }
    );
}

#[test]
fn flush_with_and_without_delay() {
    assert_eq!(
        request(&frame(0x08, &[], &[], &[])).0.body,
        Body::Flush { exptime: 0 }
    );
    assert_eq!(
        request(&frame(0x18, &9u32.to_be_bytes(), &[], &[])).0.body,
        Body::Flush { exptime: 9 }
    );
}

#[test]
fn every_strict_prefix_is_incomplete() {
    let mut ex = vec![0u8; 8];
    ex[3] = 1;
    for f in [
        frame(0x01, &ex, b"key", b"some value"),
        frame(0x00, &[], b"key", &[]),
        frame(0x0a, &[], &[], &[]),
        frame(0x21, &[], b"PLAIN", b"\0u\0p"),
        frame(0x1d, &[0, 0, 0, 1], b"key", &[]),
    ] {
        for i in 0..f.len() {
            assert_eq!(
                parse(&f[..i], &lim()),
                Parsed::Incomplete,
                "prefix {i} of {f:?}"
            );
        }
        assert!(matches!(
            parse(&f, &lim()),
            Parsed::Complete(Frame::Request(_), n) if n == f.len()
        ));
    }
}

#[test]
fn wrong_magic_closes_silently() {
    let mut f = frame(0x0a, &[], &[], &[]);
    f[0] = 0x81;
    match parse(&f, &lim()) {
        Parsed::Invalid(e) => {
            assert!(e.close);
            assert_eq!(e.reply, crate::protocol::ErrorReply::Silent);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn key_longer_than_body_is_unknown_command_and_close_before_auth() {
    let mut f = frame(0x00, &[], b"k", &[]);
    f[11] = 0; // body length 0 < key length 1
    let r = rejected(&f);
    assert_eq!(r.status, Status::UnknownCommand);
    assert!(r.close && r.before_auth);
    let mut f = frame(0x00, &[1, 2, 3, 4], b"k", &[]);
    f[11] = 4; // extras + key = 5 > 4
    assert!(rejected(&f).before_auth);
}

#[test]
fn key_over_250_is_invalid_and_close_from_the_header_alone() {
    let f = frame(0x00, &[], &[b'k'; 251], &[]);
    let r = rejected(&f[..HEADER_LEN]);
    assert_eq!(r.status, Status::InvalidArguments);
    assert!(r.close && !r.before_auth);
    assert_eq!(
        request(&frame(0x00, &[], &[b'k'; 250], &[])).0.body,
        Body::Get { key: &[b'k'; 250] }
    );
}

#[test]
fn shapes_memcached_refuses_are_invalid_and_close() {
    let cases = [
        frame(0x00, &[1, 2, 3, 4], b"k", &[]),  // get with extras
        frame(0x00, &[], &[], &[]),             // get without key
        frame(0x01, &[1, 2, 3, 4], b"k", b"v"), // set with 4 extras
        frame(0x01, &[0; 8], &[], b"v"),        // set without key
        frame(0x04, &[], b"k", b"x"),           // delete with value
        frame(0x05, &[0; 16], b"k", &[]),       // incr with 16 extras
        frame(0x0a, &[], &[], b"x"),            // noop with body
        frame(0x0b, &[], b"k", &[]),            // version with key
        frame(0x08, &[1, 2], &[], &[]),         // flush with 2 extras
        frame(0x10, &[1, 2], &[], &[]),         // stat with extras
        frame(0x0e, &[1, 2, 3, 4], b"k", b"x"), // append with extras
        frame(0x1c, &[], b"k", &[]),            // touch without extras
        frame(0x1c, &[0; 4], b"k", b"zz"),      // touch with a value
        frame(0x21, &[], &[], b"x"),            // sasl auth without mechanism
        frame(0x07, &[], &[], b"x"),            // quit with body
    ];
    for f in cases {
        let r = rejected(&f);
        assert_eq!(r.status, Status::InvalidArguments, "{f:?}");
        assert!(r.close);
    }
}

#[test]
fn unknown_opcode_skips_exactly_its_frame() {
    let f = frame(0x50, &[], b"abc", b"xyz");
    let r = rejected(&f[..HEADER_LEN + 2]);
    assert_eq!(r.status, Status::UnknownCommand);
    assert!(!r.close);
    assert_eq!(r.consumed, HEADER_LEN + 2);
    assert_eq!(r.swallow, 4);
    let r = rejected(&f);
    assert_eq!((r.consumed, r.swallow), (f.len(), 0));
}

#[test]
fn too_large_value_is_rejected_before_it_arrives() {
    let limits = Limits {
        item_size_max: 1024,
    };
    let mut f = frame(0x01, &[0; 8], b"key", &[b'x'; 2000]);
    f.truncate(HEADER_LEN + 8 + 3 + 10);
    match parse(&f, &limits) {
        Parsed::Complete(Frame::Reject(r), n) => {
            assert_eq!(r.status, Status::TooLarge);
            assert_eq!(r.key, b"key");
            assert_eq!(n, f.len());
            assert_eq!(r.swallow, 2000 - 10);
            assert!(!r.close);
        }
        other => panic!("{other:?}"),
    }
    // Before the key is in, the decision waits (memcached reads extras and key first).
    assert_eq!(parse(&f[..HEADER_LEN + 4], &limits), Parsed::Incomplete);
    let f = frame(0x21, &[], b"PLAIN", &[0; 1100]);
    match parse(&f, &limits) {
        Parsed::Complete(Frame::Reject(r), _) => assert_eq!(r.status, Status::OutOfMemory),
        other => panic!("{other:?}"),
    }
}

#[test]
fn encoders_write_exact_bytes() {
    let mut out = Vec::new();
    encode_error(&mut out, 0x00, Status::KeyNotFound, 0xdead_beef);
    let mut want = vec![0x81, 0x00, 0, 0, 0, 0, 0, 1, 0, 0, 0, 9];
    want.extend_from_slice(&0xdead_beefu32.to_be_bytes());
    want.extend_from_slice(&[0; 8]);
    want.extend_from_slice(b"Not found");
    assert_eq!(out, want);
    out.clear();
    encode_response(
        &mut out,
        0x0c,
        Status::Success,
        1,
        2,
        &[0, 0, 0, 5],
        b"k",
        b"v",
    );
    assert_eq!(&out[..4], &[0x81, 0x0c, 0, 1]);
    assert_eq!(out[4], 4);
    assert_eq!(&out[8..12], &6u32.to_be_bytes());
    assert_eq!(&out[16..24], &2u64.to_be_bytes());
    assert_eq!(&out[24..], &[0, 0, 0, 5, b'k', b'v']);
}

#[test]
fn every_implemented_opcode_round_trips() {
    for b in 0u8..=0xff {
        if let Some(op) = Opcode::from_u8(b) {
            let code = match op {
                Opcode::Get => 0,
                _ => b,
            };
            assert_eq!(Opcode::from_u8(code), Some(op));
        }
    }
    let known = (0u8..=0xff)
        .filter(|b| Opcode::from_u8(*b).is_some())
        .count();
    assert_eq!(known, 36); // memcached 1.6's 35, and 0x60 Config Get (larder, cluster_config)
    assert_eq!(Opcode::from_u8(0x1b), None); // verbosity: unknown in memcached 1.6
}

proptest! {
    #[test]
    fn random_bytes_never_panic_or_overread(data in proptest::collection::vec(any::<u8>(), 0..400)) {
        let limits = Limits { item_size_max: 512 };
        match parse(&data, &limits) {
            Parsed::Incomplete => {}
            Parsed::Invalid(e) => prop_assert!(e.consumed <= data.len()),
            Parsed::Complete(Frame::Request(r), n) => {
                prop_assert!(n <= data.len());
                prop_assert_eq!(n, r.header.frame_len());
            }
            Parsed::Complete(Frame::Reject(r), n) => {
                prop_assert!(n <= data.len());
                if !r.close {
                    // Skipping never desyncs: exactly the frame goes.
                    prop_assert_eq!(n + r.swallow, r.header.frame_len());
                }
            }
        }
    }

    #[test]
    fn valid_frames_in_a_stream_parse_one_by_one(
        ops in proptest::collection::vec((0u8..0x25, proptest::collection::vec(any::<u8>(), 1..20), proptest::collection::vec(any::<u8>(), 0..40)), 1..8)
    ) {
        let mut stream = Vec::new();
        let mut bounds = Vec::new();
        for (op, key, value) in &ops {
            let f = match *op {
                0x01 | 0x02 | 0x03 | 0x11 | 0x12 | 0x13 => frame(*op, &[0; 8], key, value),
                0x05 | 0x06 | 0x15 | 0x16 => frame(*op, &[0; 20], key, &[]),
                0x1c | 0x1d | 0x1e | 0x23 | 0x24 => frame(*op, &[0; 4], key, &[]),
                0x07 | 0x08 | 0x0a | 0x0b | 0x17 | 0x18 | 0x20 => frame(*op, &[], &[], &[]),
                0x0e | 0x0f | 0x19 | 0x1a | 0x21 | 0x22 => frame(*op, &[], key, value),
                _ => frame(*op, &[], key, &[]),
            };
            stream.extend_from_slice(&f);
            bounds.push(f.len());
        }
        let mut at = 0;
        for len in bounds {
            match parse(&stream[at..], &lim()) {
                Parsed::Complete(_, n) => prop_assert_eq!(n, len),
                other => prop_assert!(false, "{:?}", other),
            }
            at += len;
        }
    }
}
