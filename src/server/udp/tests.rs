//! Unit tests of the UDP framing: the header checks and the split of replies into
//! memcached's response objects.

use super::*;
use proptest::prelude::*;

proptest! {
    /// Whatever the request and the reply, the response objects cover the reply exactly,
    /// in order, with no gap or overlap (empty ones aside).
    #[test]
    fn response_objects_partition_the_reply(
        keys in proptest::collection::vec(prop_oneof![Just("a"), Just("b"), Just("cc")], 0..6),
        blocks in proptest::collection::vec((prop_oneof![Just("a"), Just("b"), Just("zz")], 0usize..4), 0..6),
        end in any::<bool>(),
        junk in proptest::collection::vec(any::<u8>(), 0..8),
        resume in 0usize..3,
        prefix in 0usize..5,
    ) {
        let input = format!("get {}\r\n", keys.join(" "));
        let mut out = vec![b'#'; prefix];
        for (key, len) in &blocks {
            out.extend_from_slice(format!("VALUE {key} 0 {len}\r\n").as_bytes());
            out.extend_from_slice(&vec![b'x'; *len]);
            out.extend_from_slice(b"\r\n");
        }
        if end {
            out.extend_from_slice(b"END\r\n");
        }
        out.extend_from_slice(&junk);
        let mut q = VecDeque::new();
        split_reply(Dialect::Text, input.as_bytes(), resume, &out, prefix, false, &mut q);
        let mut at = prefix;
        for seg in &q {
            prop_assert!(seg.start <= seg.end && seg.end <= out.len());
            if seg.start != seg.end {
                prop_assert_eq!(seg.start, at);
                at = seg.end;
            }
        }
        prop_assert_eq!(at, out.len());
    }
}

fn split(input: &[u8], resume: usize, out: &[u8], quit: bool) -> Vec<&'static str> {
    let mut q = VecDeque::new();
    split_reply(Dialect::Text, input, resume, out, 0, quit, &mut q);
    q.iter()
        .map(|s| {
            let text = String::from_utf8(out[s.start..s.end].to_vec()).expect("utf8");
            &*Box::leak(text.into_boxed_str())
        })
        .collect()
}

const A: &[u8] = b"VALUE a 0 1\r\nx\r\n";

#[test]
fn header_checks_are_memcacheds() {
    assert_eq!(
        parse_header(b"\x12\x34\x00\x00\x00\x01\x00\x00get a\r\n"),
        Some(0x1234)
    );
    // The sequence number and the reserved field are not checked.
    assert_eq!(parse_header(b"\x00\x07\x00\x05\x00\x01\xff\xffx"), Some(7));
    assert_eq!(
        parse_header(b"\x00\x07\x00\x00\x00\x02\x00\x00get a\r\n"),
        None
    );
    assert_eq!(
        parse_header(b"\x00\x07\x00\x00\x00\x00\x00\x00get a\r\n"),
        None
    );
    assert_eq!(parse_header(b"\x00\x07\x00\x00\x00\x01\x00\x00"), None);
    assert_eq!(parse_header(b"\x00\x07\x00"), None);
    assert_eq!(parse_header(b""), None);
    assert_eq!(header(0x1234, 2, 4), *b"\x12\x34\x00\x02\x00\x04\x00\x00");
    assert_eq!(total_datagrams(0), 0);
    assert_eq!(total_datagrams(1), 1);
    assert_eq!(total_datagrams(PAYLOAD_MAX), 1);
    assert_eq!(total_datagrams(PAYLOAD_MAX + 1), 2);
    assert_eq!(total_datagrams(5027), 4);
    assert_eq!(total_datagrams(usize::MAX / 2), u16::MAX);
}

#[test]
fn replies_split_into_memcacheds_response_objects() {
    let end = b"END\r\n";
    let cat = |parts: &[&[u8]]| parts.concat();
    // One key: one object.
    assert_eq!(
        split(b"get a\r\n", 0, &cat(&[A, end]), false),
        ["VALUE a 0 1\r\nx\r\nEND\r\n"]
    );
    assert_eq!(split(b"get a\r\n", 0, end, false), ["END\r\n"]);
    // Several keys: one object per hit, END on the last key's (alone if it missed), and
    // an empty first object when the first key missed.
    let two = cat(&[A, A, end]);
    assert_eq!(
        split(b"get a a\r\n", 0, &two, false),
        ["VALUE a 0 1\r\nx\r\n", "VALUE a 0 1\r\nx\r\nEND\r\n"]
    );
    assert_eq!(
        split(b"get a b\r\n", 0, &cat(&[A, end]), false),
        ["VALUE a 0 1\r\nx\r\n", "END\r\n"]
    );
    assert_eq!(
        split(b"get b a\r\n", 0, &cat(&[A, end]), false),
        ["", "VALUE a 0 1\r\nx\r\nEND\r\n"]
    );
    assert_eq!(split(b"get b c d\r\n", 0, end, false), ["", "END\r\n"]);
    assert_eq!(
        split(b"gats 0 a b a\r\n", 0, &two, false),
        ["VALUE a 0 1\r\nx\r\n", "VALUE a 0 1\r\nx\r\nEND\r\n"]
    );
    // A paused multiget: the first part has no END and no empty object for a later
    // part's first key.
    assert_eq!(
        split(b"get a b a\r\n", 0, A, false),
        ["VALUE a 0 1\r\nx\r\n"]
    );
    assert_eq!(
        split(b"get a b a c\r\n", 1, &cat(&[A, end]), false),
        ["VALUE a 0 1\r\nx\r\n", "END\r\n"]
    );
    // Anything else is one object; an empty reply none, except quit's.
    assert_eq!(split(b"get\r\n", 0, b"ERROR\r\n", false), ["ERROR\r\n"]);
    assert_eq!(
        split(b"stats\r\n", 0, b"STAT pid 1\r\nEND\r\n", false),
        ["STAT pid 1\r\nEND\r\n"]
    );
    assert_eq!(split(b"mg a v q\r\n", 0, b"", false), Vec::<&str>::new());
    assert_eq!(split(b"quit\r\n", 0, b"", true), [""]);
    let long = cat(&[b"get ", &[b'k'; 300], b"\r\n"]);
    assert_eq!(
        split(&long, 0, b"CLIENT_ERROR bad command line format\r\n", false),
        ["CLIENT_ERROR bad command line format\r\n"]
    );
    // A reply that does not match its keys stays whole.
    assert_eq!(
        split(b"get b\r\n", 0, &cat(&[A, end]), false),
        ["VALUE a 0 1\r\nx\r\nEND\r\n"]
    );
}
