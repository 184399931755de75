//! `Output` against a real store: large values go by reference, the bytes written are the
//! reply exactly, and a value being sent stays intact while the store evicts, overwrites
//! and flushes around it.

use super::*;
use crate::clock::Clock;
use crate::store::{SetMode, SetOutcome, Store, StoreConfig, BY_REF_MIN};

fn store(memory_limit: usize) -> Store {
    let c = StoreConfig {
        memory_limit,
        stripes: 1,
        item_size_max: 1 << 20,
        ..StoreConfig::default()
    };
    Store::new(c, Clock::manual()).expect("valid config")
}

fn set(s: &Store, key: &[u8], value: &[u8]) {
    match s.store(SetMode::Set, key, value, 0, 0) {
        Ok(SetOutcome::Stored { .. }) => {}
        other => panic!("set failed: {other:?}"),
    }
}

fn value(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

/// Writes everything pending the way a connection does, `step` bytes per "write" at most.
fn drain(out: &mut Output, step: usize) -> Vec<u8> {
    let mut got = Vec::new();
    while out.pending() > 0 {
        let mut iov = [IoSlice::new(&[]); MAX_IOVECS];
        let n = out.slices(&mut iov);
        assert!(n > 0);
        let mut take = step;
        let mut done = 0;
        for s in &iov[..n] {
            let k = s.len().min(take);
            got.extend_from_slice(&s[..k]);
            take -= k;
            done += k;
            if take == 0 {
                break;
            }
        }
        out.advance(done);
    }
    got
}

#[test]
fn large_values_go_by_reference_and_the_bytes_are_exact() {
    let s = store(8 << 20);
    let small = value(100, 1);
    let large = value(BY_REF_MIN + 3, 2);
    let chained = value(300_000, 3);
    set(&s, b"small", &small);
    set(&s, b"large", &large);
    set(&s, b"chained", &chained);
    for step in [1 << 30, 4096, 977, 1] {
        let mut out = Output::with_capacity(0, true);
        let mut expect = Vec::new();
        for (key, v) in [
            (&b"small"[..], &small),
            (b"large", &large),
            (b"chained", &chained),
        ] {
            out.extend_from_slice(b"VALUE ");
            expect.extend_from_slice(b"VALUE ");
            s.get(key, |it| out.value(it)).expect("hit");
            expect.extend_from_slice(v);
            out.extend_from_slice(b"\r\n");
            expect.extend_from_slice(b"\r\n");
        }
        assert!(out.has_refs());
        // Only the two large values are not in the buffer.
        assert_eq!(out.len(), expect.len() - large.len() - chained.len());
        assert_eq!(out.size(), expect.len());
        assert_eq!(out.pending(), expect.len());
        assert_eq!(drain(&mut out, step), expect, "step {step}");
        assert!(!out.has_refs());
        assert!(out.is_empty());
    }
}

#[test]
fn copies_when_not_by_reference_and_truncate_drops_refs() {
    let s = store(8 << 20);
    let large = value(BY_REF_MIN * 2, 4);
    set(&s, b"k", &large);
    let mut out = Output::with_capacity(0, false);
    s.get(b"k", |it| out.value(it)).expect("hit");
    assert!(!out.has_refs());
    assert_eq!(&out[..], &large[..]);

    let mut out = Output::with_capacity(0, true);
    out.extend_from_slice(b"head");
    let mark = out.mark();
    out.extend_from_slice(b"VALUE");
    s.get(b"k", |it| out.value(it)).expect("hit");
    assert!(out.has_refs());
    out.truncate(mark);
    assert!(!out.has_refs());
    assert_eq!(out.pending(), 4);
    assert_eq!(drain(&mut out, 3), b"head");
}

#[test]
fn a_value_being_sent_survives_eviction_overwrite_and_flush() {
    // 2 MiB: 32 segments of 64 KiB, so the fill below evicts everything several times.
    let s = store(2 << 20);
    let large = value(40_000, 5);
    let chained = value(200_000, 6);
    set(&s, b"large", &large);
    set(&s, b"chained", &chained);
    let mut out = Output::with_capacity(0, true);
    s.get(b"large", |it| out.value(it)).expect("hit");
    s.get(b"chained", |it| out.value(it)).expect("hit");
    // Overwrite both keys and churn through many times the memory.
    set(&s, b"large", &value(40_000, 7));
    set(&s, b"chained", &value(200_000, 8));
    for i in 0..2000u32 {
        let v = value(1000 + (i as usize % 20_000), i as u8);
        // Some may be refused while most memory is shared with the reader; none may be
        // corrupt (checked below).
        let _ = s.store(SetMode::Set, format!("fill{i}").as_bytes(), &v, 0, 0);
    }
    s.flush_all(0);
    let mut expect = large.clone();
    expect.extend_from_slice(&chained);
    assert_eq!(drain(&mut out, 5000), expect);
    // Once the reader is done, the memory is the store's again: sets succeed.
    for i in 0..500u32 {
        set(&s, format!("after{i}").as_bytes(), &value(30_000, i as u8));
    }
    let last = s
        .get(b"after499", |it| {
            it.value().flatten().copied().collect::<Vec<u8>>()
        })
        .expect("the newest item is held");
    assert_eq!(last, value(30_000, 499u32 as u8));
}

mod model {
    //! `Output` against a model (the bytes it must produce, as one `Vec`): random appends
    //! of bytes and of values (copied or by reference), partial writes of random sizes,
    //! dropping the sent prefix and truncating to a mark, in any order.
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Op {
        Bytes(usize),
        Value(usize),
        Write(usize),
        DropSent,
        MarkThenTruncate(usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (1usize..200).prop_map(Op::Bytes),
            (0usize..4).prop_map(Op::Value),
            (1usize..100_000).prop_map(Op::Write),
            Just(Op::DropSent),
            (0usize..300).prop_map(Op::MarkThenTruncate),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn output_writes_exactly_what_was_queued(ops in proptest::collection::vec(op(), 1..60)) {
            let s = store(16 << 20);
            let values: Vec<Vec<u8>> = [10usize, BY_REF_MIN - 1, BY_REF_MIN, 150_000]
                .iter()
                .enumerate()
                .map(|(i, &n)| value(n, i as u8))
                .collect();
            for (i, v) in values.iter().enumerate() {
                set(&s, format!("v{i}").as_bytes(), v);
            }
            let mut out = Output::with_capacity(0, true);
            let mut model: Vec<u8> = Vec::new();
            let mut sent: Vec<u8> = Vec::new();
            let mut written = 0usize;
            for op in ops {
                match op {
                    Op::Bytes(n) => {
                        let b = value(n, n as u8);
                        out.extend_from_slice(&b);
                        model.extend_from_slice(&b);
                    }
                    Op::Value(i) => {
                        s.get(format!("v{i}").as_bytes(), |it| out.value(it)).expect("hit");
                        model.extend_from_slice(&values[i]);
                    }
                    Op::Write(n) => {
                        let mut iov = [IoSlice::new(&[]); MAX_IOVECS];
                        let k = out.slices(&mut iov);
                        let mut take = n;
                        let mut done = 0;
                        for sl in &iov[..k] {
                            let m = sl.len().min(take);
                            sent.extend_from_slice(&sl[..m]);
                            take -= m;
                            done += m;
                            if take == 0 {
                                break;
                            }
                        }
                        out.advance(done);
                        written += done;
                    }
                    Op::DropSent => out.drop_sent(),
                    Op::MarkThenTruncate(n) => {
                        let mark = out.mark();
                        let len = model.len();
                        let b = value(n, 7);
                        out.extend_from_slice(&b);
                        s.get(b"v3", |it| out.value(it)).expect("hit");
                        out.truncate(mark);
                        model.truncate(len);
                    }
                }
                prop_assert_eq!(out.pending(), model.len() - written);
            }
            sent.extend_from_slice(&drain(&mut out, 7777));
            prop_assert!(sent == model, "{} bytes written, {} queued", sent.len(), model.len());
        }
    }
}
