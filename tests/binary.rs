//! The binary protocol over real sockets, as raw bytes: every opcode, every status, quiet
//! pipelines ending in Noop, CAS round trips, split packets and malformed frames.
//!
//! `LARDER_TEST_BIN=/usr/bin/memcached cargo test --test binary` runs the same tests against
//! memcached 1.6.18; the expected bytes are memcached's.

mod binary_frames;
mod common;

use binary_frames::*;
use common::Server;
use std::time::Duration;

const SILENCE: Duration = Duration::from_millis(200);

#[test]
fn set_get_getk_hit_and_miss() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    let r = call(
        &mut c,
        &frame(op::SET, &set_extras(0xcafe, 0), b"k", b"v", 0xdead_beef, 0),
    );
    assert_eq!(r.opaque, 0xdead_beef);
    let cas = assert_ok(&r, op::SET);
    assert_ne!(cas, 0);

    let r = call(&mut c, &frame(op::GET, &[], b"k", &[], 7, 0));
    assert_eq!(
        r,
        Resp {
            opcode: op::GET,
            status: st::OK,
            opaque: 7,
            cas,
            extras: 0xcafeu32.to_be_bytes().to_vec(),
            key: vec![],
            value: b"v".to_vec()
        }
    );
    let r = call(&mut c, &simple(op::GETK, b"k"));
    assert_eq!(
        (r.key.as_slice(), r.value.as_slice(), r.cas),
        (&b"k"[..], &b"v"[..], cas)
    );

    let r = call(&mut c, &frame(op::GET, &[], b"nokey", &[], 9, 0));
    assert_eq!(r.opaque, 9);
    assert_error(&r, op::GET, st::NOT_FOUND, "Not found");
    // GetK misses carry the key and no message.
    let r = call(&mut c, &simple(op::GETK, b"nokey"));
    assert_eq!(
        (r.status, r.key.as_slice(), r.value.as_slice()),
        (st::NOT_FOUND, &b"nokey"[..], &b""[..])
    );
    // An empty value.
    assert_ok(&call(&mut c, &store(op::SET, b"e", b"", 1, 0)), op::SET);
    let r = call(&mut c, &simple(op::GET, b"e"));
    assert_eq!((r.extras, r.value), (vec![0, 0, 0, 1], vec![]));
}

#[test]
fn add_replace_append_prepend_statuses() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    assert_ok(&call(&mut c, &store(op::ADD, b"k", b"b", 0, 0)), op::ADD);
    let r = call(&mut c, &store(op::ADD, b"k", b"x", 0, 0));
    assert_error(&r, op::ADD, st::EXISTS, "Data exists for key.");
    let r = call(&mut c, &store(op::REPLACE, b"nokey", b"x", 0, 0));
    assert_error(&r, op::REPLACE, st::NOT_FOUND, "Not found");
    assert_ok(
        &call(&mut c, &store(op::REPLACE, b"k", b"c", 0, 0)),
        op::REPLACE,
    );
    assert_ok(
        &call(&mut c, &frame(op::APPEND, &[], b"k", b"d", 0, 0)),
        op::APPEND,
    );
    assert_ok(
        &call(&mut c, &frame(op::PREPEND, &[], b"k", b"a", 0, 0)),
        op::PREPEND,
    );
    assert_eq!(call(&mut c, &simple(op::GET, b"k")).value, b"acd");
    for o in [op::APPEND, op::PREPEND] {
        let r = call(&mut c, &frame(o, &[], b"nokey", b"x", 0, 0));
        assert_error(&r, o, st::NOT_STORED, "Not stored.");
    }
}

#[test]
fn cas_round_trips() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    let cas = assert_ok(&call(&mut c, &store(op::SET, b"k", b"v1", 0, 0)), op::SET);
    assert_eq!(call(&mut c, &simple(op::GET, b"k")).cas, cas);
    let r = call(&mut c, &store(op::SET, b"k", b"v2", 0, cas + 1000));
    assert_error(&r, op::SET, st::EXISTS, "Data exists for key.");
    let cas2 = assert_ok(&call(&mut c, &store(op::SET, b"k", b"v2", 0, cas)), op::SET);
    assert_ne!(cas2, cas);
    let r = call(&mut c, &simple(op::GET, b"k"));
    assert_eq!((r.value.as_slice(), r.cas), (&b"v2"[..], cas2));
    // CAS on a missing key, with set and with add.
    let r = call(&mut c, &store(op::SET, b"nokey", b"x", 0, 5));
    assert_error(&r, op::SET, st::NOT_FOUND, "Not found");
    let r = call(&mut c, &store(op::ADD, b"nokey", b"x", 0, 5));
    assert_error(&r, op::ADD, st::NOT_FOUND, "Not found");
    // Append and delete honour a CAS too.
    let r = call(&mut c, &frame(op::APPEND, &[], b"k", b"x", 0, cas));
    assert_error(&r, op::APPEND, st::EXISTS, "Data exists for key.");
    let cas3 = assert_ok(
        &call(&mut c, &frame(op::APPEND, &[], b"k", b"x", 0, cas2)),
        op::APPEND,
    );
    let r = call(&mut c, &frame(op::DELETE, &[], b"k", &[], 0, cas2));
    assert_error(&r, op::DELETE, st::EXISTS, "Data exists for key.");
    let r = call(&mut c, &frame(op::DELETE, &[], b"k", &[], 0, cas3));
    assert_eq!(assert_ok(&r, op::DELETE), 0);
    let r = call(&mut c, &simple(op::DELETE, b"k"));
    assert_error(&r, op::DELETE, st::NOT_FOUND, "Not found");
}

#[test]
fn incr_decr_initial_no_create_non_numeric() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    assert_ok(&call(&mut c, &store(op::SET, b"n", b"10", 0, 0)), op::SET);
    let r = call(
        &mut c,
        &frame(op::INCR, &arith_extras(5, 0, 0), b"n", &[], 0, 0),
    );
    assert_eq!(
        (r.status, r.value.clone()),
        (st::OK, 15u64.to_be_bytes().to_vec())
    );
    assert_ne!(r.cas, 0);
    let r = call(
        &mut c,
        &frame(op::DECR, &arith_extras(100, 0, 0), b"n", &[], 0, 0),
    );
    assert_eq!(r.value, 0u64.to_be_bytes());
    let r = call(
        &mut c,
        &frame(op::INCR, &arith_extras(1, 0, 0), b"n", &[], 0, 0),
    );
    assert_eq!(r.value, 1u64.to_be_bytes());
    // Wraps at 2^64.
    let r = call(
        &mut c,
        &frame(op::INCR, &arith_extras(u64::MAX, 0, 0), b"n", &[], 0, 0),
    );
    assert_eq!(r.value, 0u64.to_be_bytes());
    // Missing: created with the initial value, stored as its decimal text.
    let r = call(
        &mut c,
        &frame(op::INCR, &arith_extras(5, 42, 0), b"new", &[], 0, 0),
    );
    assert_eq!(
        (r.status, r.value.clone()),
        (st::OK, 42u64.to_be_bytes().to_vec())
    );
    let g = call(&mut c, &simple(op::GET, b"new"));
    assert_eq!(
        (g.value.as_slice(), g.extras.as_slice(), g.cas),
        (&b"42"[..], &[0u8, 0, 0, 0][..], r.cas)
    );
    // 0xffffffff: do not create.
    let r = call(
        &mut c,
        &frame(
            op::DECR,
            &arith_extras(5, 42, 0xffff_ffff),
            b"nx",
            &[],
            0,
            0,
        ),
    );
    assert_error(&r, op::DECR, st::NOT_FOUND, "Not found");
    assert_ok(&call(&mut c, &store(op::SET, b"t", b"text", 0, 0)), op::SET);
    let r = call(
        &mut c,
        &frame(op::INCR, &arith_extras(1, 0, 0), b"t", &[], 0, 0),
    );
    assert_error(
        &r,
        op::INCR,
        st::NON_NUMERIC,
        "Non-numeric server-side value for incr or decr",
    );
}

/// memcached's `do_add_delta`: a non-zero CAS that is not the item's fails with "Data
/// exists for key." and changes nothing; the item's own CAS (or none) applies the delta.
#[test]
fn incr_decr_honour_the_request_cas() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    let cas = assert_ok(&call(&mut c, &store(op::SET, b"n", b"10", 0, 0)), op::SET);
    for opcode in [op::INCR, op::DECR, op::INCRQ, op::DECRQ] {
        let r = call(
            &mut c,
            &frame(opcode, &arith_extras(1, 0, 0), b"n", &[], 3, cas + 1000),
        );
        assert_eq!(r.opaque, 3);
        assert_error(&r, opcode, st::EXISTS, "Data exists for key.");
    }
    let g = call(&mut c, &simple(op::GET, b"n"));
    assert_eq!((g.value.as_slice(), g.cas), (&b"10"[..], cas));
    // The current CAS: applied, and the reply carries the new CAS.
    let r = call(
        &mut c,
        &frame(op::INCR, &arith_extras(5, 0, 0), b"n", &[], 0, cas),
    );
    assert_eq!(
        (r.status, r.value.clone()),
        (st::OK, 15u64.to_be_bytes().to_vec())
    );
    let cas2 = r.cas;
    assert_ne!(cas2, cas);
    assert_eq!(call(&mut c, &simple(op::GET, b"n")).cas, cas2);
    // The old CAS is now stale for decrement too.
    let r = call(
        &mut c,
        &frame(op::DECR, &arith_extras(5, 0, 0), b"n", &[], 0, cas),
    );
    assert_error(&r, op::DECR, st::EXISTS, "Data exists for key.");
    let r = call(
        &mut c,
        &frame(op::DECR, &arith_extras(5, 0, 0), b"n", &[], 0, cas2),
    );
    assert_eq!(r.value, 10u64.to_be_bytes());
    // A CAS on a missing key: the counter is created from the initial value.
    let r = call(
        &mut c,
        &frame(op::INCR, &arith_extras(1, 7, 0), b"fresh", &[], 0, 99),
    );
    assert_eq!(
        (r.status, r.value.clone()),
        (st::OK, 7u64.to_be_bytes().to_vec())
    );
    // A stale CAS on a non-numeric value: the CAS is checked first.
    let t = assert_ok(&call(&mut c, &store(op::SET, b"t", b"text", 0, 0)), op::SET);
    let r = call(
        &mut c,
        &frame(op::INCR, &arith_extras(1, 0, 0), b"t", &[], 0, t + 1),
    );
    assert_error(&r, op::INCR, st::EXISTS, "Data exists for key.");
}

#[test]
fn touch_and_gat_family() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    let cas = assert_ok(
        &call(&mut c, &store(op::SET, b"k", b"v", 0xcafe, 0)),
        op::SET,
    );
    let exp = 100u32.to_be_bytes();
    // Touch answers the flags, no value.
    let r = call(&mut c, &frame(op::TOUCH, &exp, b"k", &[], 3, 0));
    assert_eq!(
        (
            r.status,
            r.extras.clone(),
            r.key.clone(),
            r.value.clone(),
            r.cas,
            r.opaque
        ),
        (
            st::OK,
            0xcafeu32.to_be_bytes().to_vec(),
            vec![],
            vec![],
            cas,
            3
        )
    );
    let r = call(&mut c, &frame(op::TOUCH, &exp, b"nokey", &[], 0, 0));
    assert_error(&r, op::TOUCH, st::NOT_FOUND, "Not found");
    let r = call(&mut c, &frame(op::GAT, &exp, b"k", &[], 0, 0));
    assert_eq!(
        (r.status, r.key.clone(), r.value.clone()),
        (st::OK, vec![], b"v".to_vec())
    );
    let r = call(&mut c, &frame(op::GATK, &exp, b"k", &[], 0, 0));
    assert_eq!(
        (r.status, r.key.clone(), r.value.clone()),
        (st::OK, b"k".to_vec(), b"v".to_vec())
    );
    let r = call(&mut c, &frame(op::GAT, &exp, b"nokey", &[], 0, 0));
    assert_error(&r, op::GAT, st::NOT_FOUND, "Not found");
    let r = call(&mut c, &frame(op::GATK, &exp, b"nokey", &[], 0, 0));
    assert_eq!(
        (r.status, r.key.clone(), r.value.clone()),
        (st::NOT_FOUND, b"nokey".to_vec(), vec![])
    );
    // Quiet forms: hits only.
    let mut batch = frame(op::GATQ, &exp, b"nokey", &[], 1, 0);
    batch.extend(frame(op::GATQ, &exp, b"k", &[], 2, 0));
    batch.extend(frame(op::GATKQ, &exp, b"nokey", &[], 3, 0));
    batch.extend(frame(op::GATKQ, &exp, b"k", &[], 4, 0));
    batch.extend(frame(op::NOOP, &[], &[], &[], 5, 0));
    c.send(&batch);
    let r = read(&mut c);
    assert_eq!(
        (r.opcode, r.opaque, r.value.as_slice()),
        (op::GATQ, 2, &b"v"[..])
    );
    let r = read(&mut c);
    assert_eq!(
        (r.opcode, r.opaque, r.key.as_slice()),
        (op::GATKQ, 4, &b"k"[..])
    );
    assert_eq!(read(&mut c).opaque, 5);
    // A negative-in-effect (already past) absolute time expires the item.
    let past = 1_000_000_000u32.to_be_bytes();
    assert_eq!(
        call(&mut c, &frame(op::TOUCH, &past, b"k", &[], 0, 0)).status,
        st::OK
    );
    assert_eq!(call(&mut c, &simple(op::GET, b"k")).status, st::NOT_FOUND);
}

#[test]
fn quiet_pipeline_answers_hits_and_errors_then_noop() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    let mut batch = Vec::new();
    batch.extend(frame(op::SETQ, &set_extras(0, 0), b"a", b"1", 1, 0)); // silent
    batch.extend(frame(op::ADDQ, &set_extras(0, 0), b"a", b"2", 2, 0)); // exists
    batch.extend(frame(op::REPLACEQ, &set_extras(0, 0), b"zz", b"2", 3, 0)); // not found
    batch.extend(frame(op::APPENDQ, &[], b"a", b"x", 4, 0)); // silent
    batch.extend(frame(op::PREPENDQ, &[], b"zz", b"x", 5, 0)); // not stored
    batch.extend(frame(op::GETQ, &[], b"zz", &[], 6, 0)); // miss: silent
    batch.extend(frame(op::GETQ, &[], b"a", &[], 7, 0)); // hit
    batch.extend(frame(op::GETKQ, &[], b"a", &[], 8, 0)); // hit with key
    batch.extend(frame(op::INCRQ, &arith_extras(1, 5, 0), b"c", &[], 9, 0)); // silent (created)
    batch.extend(frame(
        op::DECRQ,
        &arith_extras(1, 0, 0xffff_ffff),
        b"zz",
        &[],
        10,
        0,
    )); // not found
    batch.extend(frame(op::DELETEQ, &[], b"zz", &[], 11, 0)); // not found
    batch.extend(frame(op::DELETEQ, &[], b"c", &[], 12, 0)); // silent
    batch.extend(frame(op::NOOP, &[], &[], &[], 13, 0));
    c.send(&batch);
    let r = read(&mut c);
    assert_eq!(r.opaque, 2);
    assert_error(&r, op::ADDQ, st::EXISTS, "Data exists for key.");
    let r = read(&mut c);
    assert_eq!(r.opaque, 3);
    assert_error(&r, op::REPLACEQ, st::NOT_FOUND, "Not found");
    let r = read(&mut c);
    assert_eq!(r.opaque, 5);
    assert_error(&r, op::PREPENDQ, st::NOT_STORED, "Not stored.");
    let r = read(&mut c);
    assert_eq!(
        (r.opcode, r.opaque, r.value.as_slice()),
        (op::GETQ, 7, &b"1x"[..])
    );
    let r = read(&mut c);
    assert_eq!(
        (r.opcode, r.opaque, r.key.as_slice()),
        (op::GETKQ, 8, &b"a"[..])
    );
    let r = read(&mut c);
    assert_eq!(r.opaque, 10);
    assert_error(&r, op::DECRQ, st::NOT_FOUND, "Not found");
    let r = read(&mut c);
    assert_eq!(r.opaque, 11);
    assert_error(&r, op::DELETEQ, st::NOT_FOUND, "Not found");
    let r = read(&mut c);
    assert_eq!((r.opaque, assert_ok(&r, op::NOOP)), (13, 0));
    c.expect_silence(SILENCE);
    // FlushQ is silent too; the flush happened.
    c.send(&simple(op::FLUSHQ, &[]));
    c.send(&frame(op::NOOP, &[], &[], &[], 14, 0));
    assert_eq!(read(&mut c).opaque, 14);
    assert_eq!(call(&mut c, &simple(op::GET, b"a")).status, st::NOT_FOUND);
}

#[test]
fn version_noop_quit_quitq() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    let r = call(&mut c, &simple(op::VERSION, &[]));
    assert_eq!((r.status, r.value.as_slice()), (st::OK, &b"1.6.18"[..]));
    assert_ok(&call(&mut c, &simple(op::NOOP, &[])), op::NOOP);
    assert_ok(&call(&mut c, &simple(op::QUIT, &[])), op::QUIT);
    c.expect_closed();
    assert!(c.leftover().is_empty());
    let mut c = s.connect();
    c.send(&simple(op::QUITQ, &[]));
    c.expect_closed();
    assert!(c.leftover().is_empty());
}

#[test]
fn flush_now_delayed_and_disabled() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    assert_ok(&call(&mut c, &store(op::SET, b"k", b"v", 0, 0)), op::SET);
    assert_ok(
        &call(
            &mut c,
            &frame(op::FLUSH, &100u32.to_be_bytes(), &[], &[], 0, 0),
        ),
        op::FLUSH,
    );
    assert_eq!(call(&mut c, &simple(op::GET, b"k")).status, st::OK);
    assert_ok(&call(&mut c, &simple(op::FLUSH, &[])), op::FLUSH);
    assert_eq!(call(&mut c, &simple(op::GET, b"k")).status, st::NOT_FOUND);

    let s = Server::start(&["-F"]);
    let mut c = s.connect();
    for o in [op::FLUSH, op::FLUSHQ] {
        let r = call(&mut c, &simple(o, &[]));
        assert_error(&r, o, st::AUTH_ERROR, "Auth failure.");
    }
}

fn stat_rows(c: &mut common::Client, group: &[u8]) -> Vec<(String, String)> {
    c.send(&frame(op::STAT, &[], group, &[], 77, 0));
    let mut rows = Vec::new();
    loop {
        let r = read(c);
        assert_eq!(
            (r.opcode, r.status, r.opaque),
            (op::STAT, st::OK, 77),
            "{r:?}"
        );
        if r.key.is_empty() {
            assert!(r.value.is_empty());
            return rows;
        }
        rows.push((
            String::from_utf8(r.key).unwrap(),
            String::from_utf8(r.value).unwrap(),
        ));
    }
}

#[test]
fn stat_groups_end_with_an_empty_stat() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    assert_ok(&call(&mut c, &store(op::SET, b"k", b"v", 0, 0)), op::SET);
    call(&mut c, &simple(op::GET, b"k"));
    let general = stat_rows(&mut c, b"");
    let get = |name: &str| {
        general
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(get("pid"), Some(s.pid().to_string()));
    assert_eq!(get("version").as_deref(), Some("1.6.18"));
    assert_eq!(get("cmd_get").as_deref(), Some("1"));
    assert_eq!(get("get_hits").as_deref(), Some("1"));
    assert_eq!(get("curr_items").as_deref(), Some("1"));
    let settings = stat_rows(&mut c, b"settings");
    assert!(
        settings.contains(&("item_size_max".into(), "1048576".into())),
        "{settings:?}"
    );
    // memcached matches "settings" by prefix.
    assert_eq!(stat_rows(&mut c, b"settingsXX").len(), settings.len());
    let items = stat_rows(&mut c, b"items");
    assert!(
        items
            .iter()
            .any(|(n, v)| n.ends_with(":number") && v == "1"),
        "{items:?}"
    );
    let slabs = stat_rows(&mut c, b"slabs");
    assert!(slabs.iter().any(|(n, _)| n == "active_slabs"), "{slabs:?}");
    stat_rows(&mut c, b"sizes");
    assert!(stat_rows(&mut c, b"reset").is_empty());
    // Groups the binary Stat does not know in memcached 1.6.18 (conns is text-only).
    for group in [&b"bogus"[..], b"conns", b"itemsX", b"detail"] {
        let r = call(&mut c, &simple(op::STAT, group));
        assert_error(&r, op::STAT, st::NOT_FOUND, "Not found");
    }
    let general = stat_rows(&mut c, b"");
    assert!(
        general.contains(&("get_hits".into(), "0".into())),
        "reset: {general:?}"
    );
}

#[test]
fn unknown_opcodes_answer_and_the_connection_goes_on() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    // 0x1b (verbosity) and 0x30..: not implemented by memcached 1.6.
    for o in [0x1b, 0x1f, 0x30, 0x3d, 0x60, 0xff] {
        let r = call(&mut c, &frame(o, &[], &[], b"xyz", 5, 0));
        assert_eq!(r.opaque, 5);
        assert_error(&r, o, st::UNKNOWN, "Unknown command");
    }
    assert_ok(&call(&mut c, &simple(op::NOOP, &[])), op::NOOP);
    // SASL is unknown unless authentication is on.
    let r = call(&mut c, &simple(op::SASL_LIST, &[]));
    assert_error(&r, op::SASL_LIST, st::UNKNOWN, "Unknown command");
    let r = call(
        &mut c,
        &frame(op::SASL_AUTH, &[], b"PLAIN", b"\0u\0p", 0, 0),
    );
    assert_error(&r, op::SASL_AUTH, st::UNKNOWN, "Unknown command");
    assert_ok(&call(&mut c, &simple(op::NOOP, &[])), op::NOOP);
}

#[test]
fn split_packets_byte_by_byte() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    let mut batch = store(op::SET, b"split", b"value", 9, 0);
    batch.extend(simple(op::GETK, b"split"));
    for b in &batch {
        c.send(std::slice::from_ref(b));
    }
    assert_ok(&read(&mut c), op::SET);
    let r = read(&mut c);
    assert_eq!(
        (r.key.as_slice(), r.value.as_slice()),
        (&b"split"[..], &b"value"[..])
    );
}

#[test]
fn large_value_within_limit_round_trips() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    let value: Vec<u8> = (0..500_000u32).map(|i| (i % 251) as u8).collect();
    assert_ok(
        &call(&mut c, &store(op::SET, b"big", &value, 0, 0)),
        op::SET,
    );
    assert_eq!(call(&mut c, &simple(op::GET, b"big")).value, value);
}

// ---------------------------------------------------------------------------------------
// Malformed frames
// ---------------------------------------------------------------------------------------

#[test]
fn wrong_magic_mid_stream_closes_silently() {
    let s = Server::start(&[]);
    for magic in [0x81u8, 0x00, b'g'] {
        let mut c = s.connect();
        let mut bad = simple(op::GET, b"k");
        bad[0] = magic;
        let mut batch = simple(op::NOOP, &[]);
        batch.extend(bad);
        batch.extend(simple(op::NOOP, &[]));
        c.send(&batch);
        assert_ok(&read(&mut c), op::NOOP);
        c.expect_closed();
        assert!(c.leftover().is_empty(), "{:?}", c.leftover());
    }
}

#[test]
fn key_longer_than_body_is_unknown_and_closes() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    let mut f = simple(op::GET, b"k");
    f[8..12].copy_from_slice(&0u32.to_be_bytes());
    f.truncate(24);
    f.extend(simple(op::NOOP, &[]));
    let r = call(&mut c, &f);
    assert_error(&r, op::GET, st::UNKNOWN, "Unknown command");
    c.expect_closed();
}

#[test]
fn key_over_250_bytes_is_invalid_and_closes() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    assert_eq!(
        call(&mut c, &simple(op::GET, &[b'k'; 250])).status,
        st::NOT_FOUND
    );
    let mut f = simple(op::GET, &[b'k'; 251]);
    f.extend(simple(op::NOOP, &[]));
    let r = call(&mut c, &f);
    assert_error(&r, op::GET, st::EINVAL, "Invalid arguments");
    c.expect_closed();
    assert!(c.leftover().is_empty());
}

#[test]
fn lengths_that_do_not_fit_the_opcode_are_invalid_and_close() {
    let s = Server::start(&[]);
    let cases: Vec<(u8, Vec<u8>)> = vec![
        (op::GET, frame(op::GET, &[1, 2, 3, 4], b"k", &[], 0, 0)),
        (op::GET, simple(op::GET, &[])),
        (op::SET, frame(op::SET, &[1, 2, 3, 4], b"k", b"v", 0, 0)),
        (op::SET, store(op::SET, &[], b"v", 0, 0)),
        (op::DELETE, frame(op::DELETE, &[], b"k", b"x", 0, 0)),
        (op::INCR, frame(op::INCR, &[0; 16], b"k", &[], 0, 0)),
        (op::NOOP, frame(op::NOOP, &[], &[], b"x", 0, 0)),
        (op::VERSION, simple(op::VERSION, b"k")),
        (op::FLUSH, frame(op::FLUSH, &[1, 2], &[], &[], 0, 0)),
        (op::STAT, frame(op::STAT, &[1, 2], &[], &[], 0, 0)),
        (
            op::APPEND,
            frame(op::APPEND, &[1, 2, 3, 4], b"k", b"x", 0, 0),
        ),
        (op::TOUCH, simple(op::TOUCH, b"k")),
        (op::QUIT, frame(op::QUIT, &[], &[], b"x", 0, 0)),
    ];
    for (o, mut f) in cases {
        let mut c = s.connect();
        f.extend(simple(op::NOOP, &[]));
        let r = call(&mut c, &f);
        assert_error(&r, o, st::EINVAL, "Invalid arguments");
        c.expect_closed();
        assert!(c.leftover().is_empty(), "opcode {o:#x}: {:?}", c.leftover());
    }
}

#[test]
fn value_beyond_item_size_is_too_large_skipped_and_unlinks_a_set() {
    let s = Server::start(&["-I", "1m"]);
    let mut c = s.connect();
    assert_ok(&call(&mut c, &store(op::SET, b"k", b"old", 0, 0)), op::SET);
    let big = vec![b'x'; 1024 * 1024 + 10];
    let mut batch = store(op::SET, b"k", &big, 0, 0);
    batch.extend(frame(op::APPEND, &[], b"k2", &big, 0, 0));
    batch.extend(simple(op::GET, b"k"));
    c.send(&batch);
    let r = read(&mut c);
    assert_error(&r, op::SET, st::TOO_LARGE, "Too large.");
    let r = read(&mut c);
    assert_error(&r, op::APPEND, st::TOO_LARGE, "Too large.");
    // The refused set removed the old value; the stream stayed in step.
    assert_eq!(read(&mut c).status, st::NOT_FOUND);
    assert_ok(&call(&mut c, &simple(op::NOOP, &[])), op::NOOP);
}

#[test]
fn huge_announced_body_is_refused_without_waiting_for_it() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    let mut f = store(op::SET, b"k", b"", 0, 0);
    f[8..12].copy_from_slice(&0xffff_ff00u32.to_be_bytes());
    let r = call(&mut c, &f);
    assert_error(&r, op::SET, st::TOO_LARGE, "Too large.");
}

#[test]
fn forced_binary_closes_text_connections() {
    let s = Server::start(&["-B", "binary"]);
    let mut c = s.connect();
    // Once a header's worth of text is in, the magic is wrong.
    c.send(b"version\r\nversion\r\nversion\r\n");
    c.expect_closed();
    assert!(c.leftover().is_empty());
    let mut c = s.connect();
    let r = call(&mut c, &simple(op::VERSION, &[]));
    assert_eq!(r.value, b"1.6.18");
}

#[test]
fn forced_ascii_reads_binary_frames_as_text() {
    let s = Server::start(&["-B", "ascii"]);
    let mut c = s.connect();
    // The Noop opcode byte is a '\n': the text parser sees one bad line.
    let mut batch = simple(op::NOOP, &[]);
    batch.extend(simple(op::VERSION, &[]));
    c.send(&batch);
    c.expect(b"ERROR\r\n");
    c.expect_silence(SILENCE);
}
