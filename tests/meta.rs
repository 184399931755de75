//! The meta protocol (`mg`, `ms`, `md`, `ma`, `mn`, `me`), byte for byte, as memcached 1.6.18
//! answers. Run against real memcached with `LARDER_TEST_BIN=/usr/bin/memcached`.
//!
//! CAS values differ between servers, so transcripts read them (`mg <key> c`) rather than
//! hard-code them. A TTL read back right after being set may be one second lower if the
//! server's clock ticked in between; [`ttl`] allows exactly that.

mod common;
use common::{larder_only, Client, Server};
use std::time::Duration;

const QUIET: Duration = Duration::from_millis(200);

/// Sends `req` and returns the reply line without its `\r\n`.
fn line(c: &mut Client, req: &str) -> String {
    c.send(req.as_bytes());
    let l = String::from_utf8(c.read_line()).expect("utf-8 reply");
    l.strip_suffix("\r\n").expect("CRLF").to_string()
}

/// The item's CAS, read with `mg <key> c`.
fn cas(c: &mut Client, key: &str) -> u64 {
    let l = line(c, &format!("mg {key} c\r\n"));
    l.strip_prefix("HD c")
        .unwrap_or_else(|| panic!("mg c reply: {l}"))
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

/// The remaining TTL `mg <key> t` reports, checked to be `want` (or `want - 1` after a tick).
fn ttl(c: &mut Client, key: &str, want: i64) {
    let l = line(c, &format!("mg {key} t\r\n"));
    let t: i64 = l.strip_prefix("HD t").expect("HD t").parse().unwrap();
    assert!(t == want || t == want - 1, "ttl {t}, want {want}");
}

#[test]
fn mg_return_flags_on_hit_and_miss() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    c.roundtrip(b"ms foo 3 F5\r\nbar\r\n", b"HD\r\n");
    c.roundtrip(
        b"mg foo s v f t k Oabc h l\r\n",
        b"VA 3 s3 f5 t-1 kfoo Oabc h0 l0\r\nbar\r\n",
    );
    // Now fetched; flags come back in request order.
    c.roundtrip(b"mg foo h k f\r\n", b"HD h1 kfoo f5\r\n");
    c.roundtrip(b"mg foo\r\n", b"HD\r\n");
    // A miss echoes only O and k.
    c.roundtrip(b"mg missing s v f t k O1 h l c\r\n", b"EN kmissing O1\r\n");
    c.roundtrip(b"mg missing\r\n", b"EN\r\n");
    // q hides EN, not a hit.
    c.send(b"mg missing q k O2\r\n");
    c.expect_silence(QUIET);
    c.roundtrip(b"mg foo q k\r\n", b"HD kfoo\r\n");
    c.roundtrip(b"mg foo q v\r\n", b"VA 3\r\nbar\r\n");
    // c is the CAS the set returned.
    let set = line(&mut c, "ms foo 3 c\r\nbaz\r\n");
    assert_eq!(set, format!("HD c{}", cas(&mut c, "foo")));
    // P and L (proxy hints) are accepted and ignored.
    c.roundtrip(b"mg foo v Pxx L1\r\n", b"VA 3\r\nbaz\r\n");
}

#[test]
fn mg_u_skips_the_bump_and_base64_keys_round_trip() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    c.roundtrip(b"ms Zm9v 3 b\r\nbar\r\n", b"HD\r\n");
    c.roundtrip(b"mg foo v h\r\n", b"VA 3 h0\r\nbar\r\n");
    c.roundtrip(b"ms k 1\r\nx\r\n", b"HD\r\n");
    c.roundtrip(b"mg k h u\r\n", b"HD h0\r\n");
    c.roundtrip(b"mg k h u\r\n", b"HD h0\r\n");
    c.roundtrip(b"mg k h\r\n", b"HD h0\r\n");
    c.roundtrip(b"mg k h\r\n", b"HD h1\r\n");
    // base64 keys are echoed in base64 with " b".
    c.roundtrip(b"mg Zm9v b k v\r\n", b"VA 3 kZm9v b\r\nbar\r\n");
    c.roundtrip(b"mg bWlzcw== b k O9\r\n", b"EN kbWlzcw== b O9\r\n");
    c.roundtrip(b"md Zm9v b k\r\n", b"HD kZm9v b\r\n");
    c.roundtrip(b"mg foo\r\n", b"EN\r\n");
    // A hit echoes the key as the item was stored, whatever the request used.
    c.roundtrip(b"ms foo 1\r\nx\r\n", b"HD\r\n");
    c.roundtrip(b"mg Zm9v b k\r\n", b"HD kfoo\r\n");
    c.roundtrip(b"ms Zm9v 1 b\r\nx\r\n", b"HD\r\n");
    c.roundtrip(b"mg foo k s\r\n", b"HD kZm9v b s1\r\n");
    let l = line(&mut c, "me foo\r\n");
    assert!(l.starts_with("ME Zm9v exp=-1 "), "{l}");
    // md echoes the key as the request sent it.
    c.roundtrip(b"md Zm9v k\r\n", b"NF kZm9v\r\n");
    // Append builds a new item without the base64 mark; set with b marks it again.
    c.roundtrip(b"ms Zm9v 1 b MA k\r\ny\r\n", b"HD kZm9v b\r\n");
    c.roundtrip(b"mg foo k v\r\n", b"VA 2 kfoo\r\nxy\r\n");
    c.roundtrip(b"ms Zm9v 1 b MR\r\nz\r\n", b"HD\r\n");
    c.roundtrip(b"mg foo k\r\n", b"HD kZm9v b\r\n");
    // A vivified item carries no mark.
    c.roundtrip(b"mg bmV3 b N0 k\r\n", b"HD knew W\r\n");
}

#[test]
fn mg_touch_applies_in_flag_order() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    c.roundtrip(b"ms k 1\r\nx\r\n", b"HD\r\n");
    // t before T reports the TTL from before the touch.
    c.roundtrip(b"mg k t T500\r\n", b"HD t-1\r\n");
    ttl(&mut c, "k", 500);
    let l = line(&mut c, "mg k T0 t v\r\n");
    assert_eq!(l, "VA 1 t-1");
    c.expect(b"x\r\n");
    c.roundtrip(b"mg k t\r\n", b"HD t-1\r\n");
    // A negative TTL expires the item after this request.
    c.roundtrip(b"mg k T-1 v\r\n", b"VA 1\r\nx\r\n");
    c.roundtrip(b"mg k v\r\n", b"EN\r\n");
}

#[test]
fn mg_vivify_hands_out_one_win() {
    let s = Server::start(&[]);
    let mut a = s.connect();
    let mut b = s.connect();
    // The first miss vivifies an empty item and wins; later readers see Z.
    a.roundtrip(b"mg n N0 v t s f\r\n", b"VA 0 t-1 s0 f0 W\r\n\r\n");
    b.roundtrip(b"mg n N0 v\r\n", b"VA 0 Z\r\n\r\n");
    b.roundtrip(b"mg n N0 q v\r\n", b"VA 0 Z\r\n\r\n");
    b.roundtrip(b"mg n t\r\n", b"HD t-1 Z\r\n");
    // N's TTL applies to the vivified item; t before N sees none yet.
    a.roundtrip(b"mg v2 t N300\r\n", b"HD t-1 W\r\n");
    ttl_flags(&mut a, "v2", 300, " Z");
    // The winner recaches; the new item carries no token.
    a.roundtrip(b"ms n 3\r\nnew\r\n", b"HD\r\n");
    b.roundtrip(b"mg n N0 v\r\n", b"VA 3\r\nnew\r\n");
}

#[test]
fn mg_recache_token_when_ttl_is_low() {
    let s = Server::start(&[]);
    let mut a = s.connect();
    let mut b = s.connect();
    a.roundtrip(b"ms r 1 T100\r\nx\r\n", b"HD\r\n");
    // 100s left is not below 30s: no win.
    a.roundtrip(b"mg r R30 v\r\n", b"VA 1\r\nx\r\n");
    a.roundtrip(b"mg r R500 v\r\n", b"VA 1 W\r\nx\r\n");
    b.roundtrip(b"mg r R500 v\r\n", b"VA 1 Z\r\nx\r\n");
    b.roundtrip(b"mg r v\r\n", b"VA 1 Z\r\nx\r\n");
    // An item without expiry never wins a recache.
    a.roundtrip(b"ms forever 1\r\ny\r\n", b"HD\r\n");
    a.roundtrip(b"mg forever R500 v\r\n", b"VA 1\r\ny\r\n");
}

#[test]
fn invalidation_and_stale_while_revalidate() {
    let s = Server::start(&[]);
    let mut a = s.connect();
    let mut b = s.connect();
    a.roundtrip(b"ms k 3 T100\r\nabc\r\n", b"HD\r\n");
    let before = cas(&mut a, "k");
    a.roundtrip(b"md k I T30\r\n", b"HD\r\n");
    let stale = cas(&mut b, "k");
    assert_ne!(before, stale, "invalidation takes a new CAS");
    // The first reader of a stale item wins, the others see Z and the stale value.
    // (cas() above read it with mg, which already took the win.)
    a.roundtrip(b"md k I\r\n", b"HD\r\n");
    a.roundtrip(b"mg k v\r\n", b"VA 3 X W\r\nabc\r\n");
    b.roundtrip(b"mg k v\r\n", b"VA 3 Z X\r\nabc\r\n");
    ttl_flags(&mut b, "k", 30, " Z X");
    // A set with an older CAS and I is stored, still stale, keeping TTL and token.
    let now = {
        let l = line(&mut b, "mg k c\r\n");
        l.strip_prefix("HD c")
            .unwrap()
            .split(' ')
            .next()
            .unwrap()
            .parse::<u64>()
            .unwrap()
    };
    a.roundtrip(
        format!("ms k 3 C{} I T0\r\nnew\r\n", now - 1).as_bytes(),
        b"HD\r\n",
    );
    b.roundtrip(b"mg k v\r\n", b"VA 3 Z X\r\nnew\r\n");
    ttl_flags(&mut b, "k", 30, " Z X");
    // A newer CAS with I is refused; without I an old CAS is refused.
    let cur = line(&mut b, "mg k c\r\n");
    let cur: u64 = cur[4..].split(' ').next().unwrap().parse().unwrap();
    a.roundtrip(
        format!("ms k 1 C{} I\r\nx\r\n", cur + 1).as_bytes(),
        b"EX\r\n",
    );
    a.roundtrip(
        format!("ms k 1 C{}\r\nx\r\n", cur - 1).as_bytes(),
        b"EX\r\n",
    );
    // The matching CAS stores a fresh item: no longer stale.
    a.roundtrip(
        format!("ms k 5 C{cur} I\r\nfresh\r\n").as_bytes(),
        b"HD\r\n",
    );
    b.roundtrip(b"mg k v t\r\n", b"VA 5 t-1\r\nfresh\r\n");
    // md I with q is silent; md I of a missing key is NF.
    a.send(b"md k I q\r\n");
    a.expect_silence(QUIET);
    a.roundtrip(b"mg k\r\n", b"HD X W\r\n");
    a.roundtrip(b"md gone I\r\n", b"NF\r\n");
}

fn ttl_flags(c: &mut Client, key: &str, want: i64, suffix: &str) {
    let l = line(c, &format!("mg {key} t\r\n"));
    let rest = l.strip_prefix("HD t").expect("HD t");
    let t: i64 = rest.strip_suffix(suffix).expect(suffix).parse().unwrap();
    assert!(t == want || t == want - 1, "ttl {t}, want {want}");
}

#[test]
fn ms_modes_and_return_codes() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    // E: add.
    c.roundtrip(b"ms a 1 ME\r\n1\r\n", b"HD\r\n");
    c.roundtrip(b"ms a 1 ME\r\n2\r\n", b"NS\r\n");
    // A: append, P: prepend (NS on a miss; N does not vivify in 1.6.18).
    c.roundtrip(b"ms a 2 MA\r\n34\r\n", b"HD\r\n");
    c.roundtrip(b"ms a 1 MP\r\n0\r\n", b"HD\r\n");
    c.roundtrip(b"mg a v\r\n", b"VA 4\r\n0134\r\n");
    c.roundtrip(b"ms none 1 MA N30\r\nx\r\n", b"NS\r\n");
    c.roundtrip(b"ms none 1 MP\r\nx\r\n", b"NS\r\n");
    // R: replace.
    c.roundtrip(b"ms none 1 MR\r\nx\r\n", b"NS\r\n");
    c.roundtrip(b"ms a 1 MR F3 T0\r\nr\r\n", b"HD\r\n");
    c.roundtrip(b"mg a v f t\r\n", b"VA 1 f3 t-1\r\nr\r\n");
    // S: set (the default).
    c.roundtrip(b"ms a 2 MS\r\nss\r\n", b"HD\r\n");
    c.roundtrip(b"mg a v f\r\n", b"VA 2 f0\r\nss\r\n");
    // Append keeps flags and TTL.
    c.roundtrip(b"ms f 1 F9 T0\r\nx\r\n", b"HD\r\n");
    c.roundtrip(b"ms f 1 MA F1 T100\r\ny\r\n", b"HD\r\n");
    c.roundtrip(b"mg f v f t\r\n", b"VA 2 f9 t-1\r\nxy\r\n");
    // k, O, c return flags, in request order; c0 when nothing was stored.
    c.roundtrip(b"ms a 1 k O7 ME c\r\nz\r\n", b"NS ka O7 c0\r\n");
    let l = line(&mut c, "ms a 1 O8 c k\r\nz\r\n");
    assert_eq!(l, format!("HD O8 c{} ka", cas(&mut c, "a")));
    c.roundtrip(b"ms Zm9v 1 b k\r\nz\r\n", b"HD kZm9v b\r\n");
    // T sets the TTL.
    c.roundtrip(b"ms t 1 T200\r\nz\r\n", b"HD\r\n");
    ttl(&mut c, "t", 200);
    // q hides HD only.
    c.send(b"ms a 1 q\r\nq\r\n");
    c.expect_silence(QUIET);
    c.roundtrip(b"ms a 1 q ME\r\nq\r\n", b"NS\r\n");
    c.roundtrip(b"ms none 1 q MR\r\nq\r\n", b"NS\r\n");
    // I without C is a plain set.
    c.roundtrip(b"ms a 1 I\r\ni\r\n", b"HD\r\n");
    c.roundtrip(b"mg a v\r\n", b"VA 1\r\ni\r\n");
}

#[test]
fn ms_compare_and_swap() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    c.roundtrip(b"ms k 1\r\na\r\n", b"HD\r\n");
    let v = cas(&mut c, "k");
    c.roundtrip(format!("ms k 1 C{}\r\nb\r\n", v + 1).as_bytes(), b"EX\r\n");
    c.roundtrip(
        format!("ms k 1 C{} q\r\nb\r\n", v + 1).as_bytes(),
        b"EX\r\n",
    );
    let stored = line(&mut c, &format!("ms k 1 C{v} c\r\nb\r\n"));
    let v2 = cas(&mut c, "k");
    assert_eq!(stored, format!("HD c{v2}"));
    c.roundtrip(b"mg k v\r\n", b"VA 1\r\nb\r\n");
    // Replace with C is CAS too; C0 never matches.
    c.roundtrip(format!("ms k 1 MR C{v}\r\nc\r\n").as_bytes(), b"EX\r\n");
    c.roundtrip(b"ms k 1 C0\r\nc\r\n", b"EX\r\n");
    c.roundtrip(format!("ms k 1 MR C{v2}\r\nc\r\n").as_bytes(), b"HD\r\n");
    // CAS on a missing key: NF (set or replace mode); add ignores C.
    c.roundtrip(b"ms nope 1 C5\r\nx\r\n", b"NF\r\n");
    c.roundtrip(b"ms nope 1 C5 MR q\r\nx\r\n", b"NF\r\n");
    c.roundtrip(b"ms nope 1 C5 ME\r\nx\r\n", b"HD\r\n");
    // Append/prepend check C but stay appends.
    let v3 = cas(&mut c, "k");
    c.roundtrip(
        format!("ms k 1 MA C{}\r\nx\r\n", v3 + 1).as_bytes(),
        b"EX\r\n",
    );
    c.roundtrip(format!("ms k 1 MA C{v3}\r\nx\r\n").as_bytes(), b"HD\r\n");
    c.roundtrip(b"mg k v\r\n", b"VA 2\r\ncx\r\n");
}

#[test]
fn md_return_codes() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    c.roundtrip(b"ms k 1\r\nx\r\n", b"HD\r\n");
    let v = cas(&mut c, "k");
    c.roundtrip(
        format!("md k C{} k O1\r\n", v + 1).as_bytes(),
        b"EX kk O1\r\n",
    );
    c.roundtrip(format!("md k q C{}\r\n", v + 1).as_bytes(), b"EX\r\n");
    c.roundtrip(format!("md k C{v} O2 k\r\n").as_bytes(), b"HD O2 kk\r\n");
    c.roundtrip(b"md k k\r\n", b"NF kk\r\n");
    c.roundtrip(b"md k q\r\n", b"NF\r\n");
    c.roundtrip(b"ms k 1\r\nx\r\n", b"HD\r\n");
    c.send(b"md k q\r\n");
    c.expect_silence(QUIET);
    c.roundtrip(b"mg k\r\n", b"EN\r\n");
    // T without I is ignored.
    c.roundtrip(b"ms k 1\r\nx\r\n", b"HD\r\n");
    c.roundtrip(b"md k T30\r\n", b"HD\r\n");
    c.roundtrip(b"mg k\r\n", b"EN\r\n");
}

// E<cas> and md's x come from memcached releases after 1.6.18 (doc/protocol.txt of 1.6.21
// on): Debian's memcached 1.6.18 predates them and refuses both, so these tests run against
// larder only.

#[test]
fn ms_e_sets_the_cas() {
    if !larder_only() {
        return;
    }
    let s = Server::start(&[]);
    let mut c = s.connect();
    c.roundtrip(b"ms k 2 E5000 c\r\nab\r\n", b"HD c5000\r\n");
    assert_eq!(cas(&mut c, "k"), 5000);
    // The explicit CAS works as any other for a compare.
    c.roundtrip(b"ms k 2 C5000 E6000\r\ncd\r\n", b"HD\r\n");
    assert_eq!(cas(&mut c, "k"), 6000);
    c.roundtrip(b"ms k 2 C5000\r\nef\r\n", b"EX\r\n");
    // Without E a store takes a fresh CAS again.
    let l = line(&mut c, "ms k 2 C6000 c\r\ngh\r\n");
    assert!(l.starts_with("HD c") && l != "HD c6000", "{l}");
    c.roundtrip(b"mg k v\r\n", b"VA 2\r\ngh\r\n");
    // Append, prepend and add take it too; a refused store leaves the CAS alone.
    c.roundtrip(b"ms k 1 MA E7 c\r\ni\r\n", b"HD c7\r\n");
    c.roundtrip(b"ms k 1 MP E8\r\nj\r\n", b"HD\r\n");
    c.roundtrip(b"mg k v c\r\n", b"VA 4 c8\r\njghi\r\n");
    c.roundtrip(b"ms k 1 ME E9\r\nk\r\n", b"NS\r\n");
    assert_eq!(cas(&mut c, "k"), 8);
    c.roundtrip(b"ms n 1 ME E0 c\r\nk\r\n", b"HD c0\r\n");
    // gets shows the same CAS.
    c.roundtrip(b"gets k\r\n", b"VALUE k 0 4 8\r\njghi\r\nEND\r\n");
}

#[test]
fn md_e_with_i_sets_the_cas() {
    if !larder_only() {
        return;
    }
    let s = Server::start(&[]);
    let mut c = s.connect();
    c.roundtrip(b"ms k 3\r\nabc\r\n", b"HD\r\n");
    let v = cas(&mut c, "k");
    c.roundtrip(format!("md k I E{}\r\n", v + 100).as_bytes(), b"HD\r\n");
    c.roundtrip(
        b"mg k c v\r\n",
        format!("VA 3 c{} X W\r\nabc\r\n", v + 100).as_bytes(),
    );
    // The recache winner's fresh value matches that CAS.
    c.roundtrip(
        format!("ms k 3 C{}\r\nnew\r\n", v + 100).as_bytes(),
        b"HD\r\n",
    );
    c.roundtrip(b"mg k v\r\n", b"VA 3\r\nnew\r\n");
    // Without I or x, E has nothing to change: the item is deleted.
    c.roundtrip(b"md k E1\r\n", b"HD\r\n");
    c.roundtrip(b"mg k\r\n", b"EN\r\n");
}

#[test]
fn ma_e_sets_the_cas() {
    if !larder_only() {
        return;
    }
    let s = Server::start(&[]);
    let mut c = s.connect();
    c.roundtrip(b"ma n N0 J10 E77 c v\r\n", b"VA 2 c77\r\n10\r\n");
    c.roundtrip(b"ma n E88 c v\r\n", b"VA 2 c88\r\n11\r\n");
    assert_eq!(cas(&mut c, "n"), 88);
    c.roundtrip(b"ma n C87 E99\r\n", b"EX\r\n");
    c.roundtrip(b"ma n C88 E99 MD c\r\n", b"HD c99\r\n");
    c.roundtrip(b"mg n v c\r\n", b"VA 2 c99\r\n10\r\n");
}

#[test]
fn mg_e_applies_to_a_vivified_item() {
    if !larder_only() {
        return;
    }
    let s = Server::start(&[]);
    let mut c = s.connect();
    c.roundtrip(b"mg k N30 E4242 c v\r\n", b"VA 0 c4242 W\r\n\r\n");
    assert_eq!(cas(&mut c, "k"), 4242);
    // A hit is not modified by E, even when T touches it.
    c.roundtrip(b"mg k E1 T60 c\r\n", b"HD c4242 Z\r\n");
    assert_eq!(cas(&mut c, "k"), 4242);
    c.roundtrip(b"ms k 2 C4242\r\nhi\r\n", b"HD\r\n");
}

#[test]
fn md_x_empties_the_value() {
    if !larder_only() {
        return;
    }
    let s = Server::start(&[]);
    let mut c = s.connect();
    c.roundtrip(b"ms k 3 F5 T100\r\nabc\r\n", b"HD\r\n");
    let v = cas(&mut c, "k");
    // A CAS mismatch changes nothing.
    c.roundtrip(format!("md k x C{} k\r\n", v + 1).as_bytes(), b"EX kk\r\n");
    c.roundtrip(b"mg k v f\r\n", b"VA 3 f5\r\nabc\r\n");
    // The item stays, empty, with its CAS. As in memcached, the new item takes the
    // request's F and T (none: flags 0, no expiry), not the old ones.
    c.roundtrip(format!("md k x C{v} O1\r\n").as_bytes(), b"HD O1\r\n");
    c.roundtrip(
        b"mg k v f t c\r\n",
        format!("VA 0 f0 t-1 c{v}\r\n\r\n").as_bytes(),
    );
    c.roundtrip(b"ms k 3 F5\r\nabc\r\n", b"HD\r\n");
    c.send(b"md k x F5 T100 E900 q\r\n");
    c.expect_silence(QUIET);
    c.roundtrip(b"mg k v f c\r\n", b"VA 0 f5 c900\r\n\r\n");
    ttl(&mut c, "k", 100);
    // x with I: emptied and marked stale, with a new CAS.
    c.roundtrip(b"ms k 3 F5\r\nabc\r\n", b"HD\r\n");
    c.roundtrip(b"md k x I F5 E901\r\n", b"HD\r\n");
    c.roundtrip(b"mg k v f c\r\n", b"VA 0 f5 c901 X W\r\n\r\n");
    // A miss is NF; the other commands ignore x.
    c.roundtrip(b"md nope x\r\n", b"NF\r\n");
    c.roundtrip(b"mg k x s\r\n", b"HD s0 Z X\r\n");
}

#[test]
fn bad_e_token() {
    if !larder_only() {
        return;
    }
    let s = Server::start(&[]);
    let mut c = s.connect();
    let bad = b"CLIENT_ERROR bad token in command line format\r\n";
    c.roundtrip(b"mg k Eabc\r\n", bad);
    c.roundtrip(b"mg k E\r\n", bad);
    // ms swallows its data block after a flag error.
    c.roundtrip(b"ms k 2 E-1\r\nab\r\n", bad);
    // md and ma report every flag error the same way.
    let generic = b"CLIENT_ERROR invalid or duplicate flag\r\n";
    c.roundtrip(b"md k Ex\r\n", generic);
    c.roundtrip(b"ma k E18446744073709551616\r\n", generic);
    c.roundtrip(b"mg k\r\n", b"EN\r\n");
}

#[test]
fn ma_modes_and_return_codes() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    c.roundtrip(b"ma n\r\n", b"NF\r\n");
    c.roundtrip(b"ma n q O1 k\r\n", b"NF O1 kn\r\n");
    // N vivifies with J (default 0) and returns it unchanged.
    c.roundtrip(b"ma n N0 J10 v t\r\n", b"VA 2 t-1\r\n10\r\n");
    c.roundtrip(b"ma n v\r\n", b"VA 2\r\n11\r\n");
    c.roundtrip(b"ma n v D9 MI\r\n", b"VA 2\r\n20\r\n");
    c.roundtrip(b"ma n v D5 M+\r\n", b"VA 2\r\n25\r\n");
    c.roundtrip(b"ma n v MD\r\n", b"VA 2\r\n24\r\n");
    c.roundtrip(b"ma n v M- D4\r\n", b"VA 2\r\n20\r\n");
    // Decrement floors at 0, and the value is padded in place as with decr.
    c.roundtrip(b"ma n v MD D100\r\n", b"VA 1\r\n0\r\n");
    c.roundtrip(b"mg n v\r\n", b"VA 2\r\n0 \r\n");
    c.roundtrip(b"ma n\r\n", b"HD\r\n");
    c.roundtrip(b"ma z N0 v\r\n", b"VA 1\r\n0\r\n");
    // Increment wraps at 2^64.
    c.roundtrip(b"ms w 20\r\n18446744073709551615\r\n", b"HD\r\n");
    c.roundtrip(b"ma w v\r\n", b"VA 1\r\n0\r\n");
    // c returns the new CAS; C must match.
    let l = line(&mut c, "ma n c\r\n");
    assert_eq!(l, format!("HD c{}", cas(&mut c, "n")));
    let v = cas(&mut c, "n");
    c.roundtrip(format!("ma n C{} v\r\n", v + 1).as_bytes(), b"EX\r\n");
    c.roundtrip(format!("ma n C{} q\r\n", v + 1).as_bytes(), b"EX\r\n");
    c.roundtrip(format!("ma n C{v} v\r\n").as_bytes(), b"VA 1\r\n3\r\n");
    // q hides the result, except right after vivifying.
    c.send(b"ma n q v\r\n");
    c.expect_silence(QUIET);
    c.roundtrip(b"ma q1 q N0 J7 v\r\n", b"VA 1\r\n7\r\n");
    c.send(b"ma q1 q\r\n");
    c.expect_silence(QUIET);
    c.roundtrip(b"mg q1 v\r\n", b"VA 1\r\n8\r\n");
    // T sets the TTL, N the vivified item's TTL; t reads it in flag order.
    c.roundtrip(b"ma n T300\r\n", b"HD\r\n");
    ttl(&mut c, "n", 300);
    c.roundtrip(b"ma v1 t N400\r\n", b"HD t-1\r\n");
    ttl(&mut c, "v1", 400);
    // Non-numeric values are errors even with q.
    c.roundtrip(b"ms s 3\r\nabc\r\n", b"HD\r\n");
    let nn = b"CLIENT_ERROR cannot increment or decrement non-numeric value\r\n";
    c.roundtrip(b"ma s q\r\n", nn);
    c.roundtrip(b"ms e 0\r\n\r\n", b"HD\r\n");
    c.roundtrip(b"ma e\r\n", nn);
    c.roundtrip(b"ma Zm9v b N0 k v\r\n", b"VA 1 kZm9v b\r\n0\r\n");
}

#[test]
fn mn_ends_a_quiet_pipeline_sent_in_pieces() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    let pipeline: &[u8] = b"ms a 1 q O1\r\nx\r\nms b 2 q O2\r\nyy\r\nmg a q v O3 k\r\n\
        mg missing q v O4 k\r\nmg b q s O5\r\nmd missing q O6\r\nmd b q O7\r\nma c q N0 O8\r\n\
        ma c q O9\r\nms a 1 ME q O10\r\nz\r\nmn\r\n";
    for piece in pipeline.chunks(7) {
        c.send(piece);
    }
    c.expect(b"VA 1 O3 ka\r\nx\r\nHD s2 O5\r\nNF O6\r\nHD O8\r\nNS O10\r\nMN\r\n");
    c.roundtrip(b"mn extra tokens\r\n", b"MN\r\n");
    c.roundtrip(b"mg c v\r\n", b"VA 1\r\n1\r\n");
}

#[test]
fn me_debug_line() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    c.roundtrip(b"me foo\r\n", b"EN\r\n");
    let set = line(&mut c, "ms foo 3 c\r\nbar\r\n");
    let v = set.strip_prefix("HD c").expect("HD c");
    let l = line(&mut c, "me foo\r\n");
    let prefix = format!("ME foo exp=-1 la=0 cas={v} fetch=no cls=");
    let rest = l.strip_prefix(&prefix).unwrap_or_else(|| panic!("{l}"));
    let (cls, size) = rest.split_once(" size=").expect("size");
    assert!(cls.parse::<u32>().unwrap() >= 1, "{l}");
    assert!(size.parse::<u32>().unwrap() > 6, "{l}");
    if larder_only() {
        // 18-byte header (no flags or exptime field: both 0) + 3 + 3.
        assert_eq!(rest, "1 size=24", "larder's own class and item size");
    }
    c.roundtrip(b"mg foo v\r\n", b"VA 3\r\nbar\r\n");
    let l = line(&mut c, "me foo\r\n");
    assert!(l.contains(" fetch=yes "), "{l}");
    // exp is memcached's `now - exptime`: minus the seconds left.
    c.roundtrip(b"ms foo 3 T100\r\nbar\r\n", b"HD\r\n");
    let l = line(&mut c, "me foo\r\n");
    assert!(l.contains(" exp=-100 ") || l.contains(" exp=-99 "), "{l}");
    c.roundtrip(b"ms Zm9vYg== 1 b\r\nx\r\n", b"HD\r\n");
    let l = line(&mut c, "me Zm9vYg== b\r\n");
    assert!(l.starts_with("ME Zm9vYg== exp=-1 la=0 "), "{l}");
}

#[test]
fn errors_are_never_quiet() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    c.roundtrip(b"mg foo zz q\r\n", b"CLIENT_ERROR invalid flag\r\n");
    c.roundtrip(b"mg foo v v q\r\n", b"CLIENT_ERROR duplicate flag\r\n");
    c.roundtrip(
        b"ms foo 3 q MX\r\nbar\r\n",
        b"CLIENT_ERROR invalid mode for ms M token\r\n",
    );
    c.roundtrip(
        b"ma foo q MX\r\n",
        b"CLIENT_ERROR invalid mode for ma M token\r\n",
    );
    c.roundtrip(
        b"ms foo 3 q\r\nbarx\r\n",
        b"CLIENT_ERROR bad data chunk\r\nERROR\r\n",
    );
    c.roundtrip(b"mg\r\n", b"ERROR\r\n");
    c.roundtrip(b"mn\r\n", b"MN\r\n");
}

#[test]
fn too_large_ms_swallows_data_and_unlinks_the_old_item() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    // Every mode unlinks, and a base64 key is decoded first; each refusal counts once.
    let before = c.stat("store_too_large");
    for (key, plain, flags) in [
        ("foo", "foo", ""),
        ("Zm9v", "foo", " b MA"),
        ("bar", "bar", " ME q"),
    ] {
        c.roundtrip(format!("ms {plain} 3\r\nold\r\n").as_bytes(), b"HD\r\n");
        let mut req = format!("ms {key} 1100000{flags}\r\n").into_bytes();
        req.resize(req.len() + 1_100_000, b'v');
        req.extend_from_slice(b"\r\nmn\r\n");
        c.send(&req);
        c.expect(b"SERVER_ERROR object too large for cache\r\nMN\r\n");
        c.roundtrip(format!("mg {plain} v\r\n").as_bytes(), b"EN\r\n");
    }
    assert_eq!(c.stat("store_too_large"), before + 3);
}

#[test]
fn stats_count_meta_commands_as_memcached() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    let before: Vec<u64> = NAMES.iter().map(|n| c.stat(n)).collect();
    for (req, reply) in [
        (&b"ms a 1\r\n1\r\n"[..], &b"HD\r\n"[..]),
        (b"mg a v\r\n", b"VA 1\r\n1\r\n"),
        (b"mg nope\r\n", b"EN\r\n"),
        (b"mg viv N0\r\n", b"HD W\r\n"),
        (b"mg a T0\r\n", b"HD\r\n"),
        (b"mg nope2 T0\r\n", b"EN\r\n"),
        (b"ms a 1 C99999999\r\n1\r\n", b"EX\r\n"),
        (b"ms nope 1 C1\r\n1\r\n", b"NF\r\n"),
        (b"ma a\r\n", b"HD\r\n"),
        (b"ma a MD\r\n", b"HD\r\n"),
        (b"ma nope\r\n", b"NF\r\n"),
        (b"ma nope MD\r\n", b"NF\r\n"),
        (b"ma made N0\r\n", b"HD\r\n"),
        (b"md a I\r\n", b"HD\r\n"),
        (b"md a\r\n", b"HD\r\n"),
        (b"md a\r\n", b"NF\r\n"),
        (b"me a\r\n", b"EN\r\n"),
        (b"mn\r\n", b"MN\r\n"),
    ] {
        c.roundtrip(req, reply);
    }
    let after: Vec<u64> = NAMES.iter().map(|n| c.stat(n)).collect();
    let delta: Vec<(&str, u64)> = NAMES
        .iter()
        .zip(after.iter().zip(&before))
        .map(|(n, (a, b))| (*n, a - b))
        .collect();
    assert_eq!(
        delta,
        [
            ("cmd_get", 4),
            ("get_hits", 2),
            ("get_misses", 2),
            ("cmd_set", 3),
            ("cmd_touch", 1),
            ("touch_hits", 1),
            ("touch_misses", 0),
            ("cas_hits", 0),
            ("cas_badval", 1),
            ("cas_misses", 1),
            ("incr_hits", 1),
            ("incr_misses", 1),
            ("decr_hits", 1),
            ("decr_misses", 1),
            ("delete_hits", 1),
            ("delete_misses", 1),
            ("cmd_meta", 1),
        ]
    );
}

const NAMES: [&str; 17] = [
    "cmd_get",
    "get_hits",
    "get_misses",
    "cmd_set",
    "cmd_touch",
    "touch_hits",
    "touch_misses",
    "cas_hits",
    "cas_badval",
    "cas_misses",
    "incr_hits",
    "incr_misses",
    "decr_hits",
    "decr_misses",
    "delete_hits",
    "delete_misses",
    "cmd_meta",
];

#[test]
fn without_cas_every_cas_reads_zero() {
    let s = Server::start(&["-C"]);
    let mut c = s.connect();
    c.roundtrip(b"ms k 1 c\r\nx\r\n", b"HD c0\r\n");
    c.roundtrip(b"mg k c v\r\n", b"VA 1 c0\r\nx\r\n");
    // Set mode with C compares: nothing matches (C0 means "no CAS" and fails too).
    c.roundtrip(b"ms k 1 C5\r\ny\r\n", b"EX\r\n");
    c.roundtrip(b"ms k 1 C0\r\ny\r\n", b"EX\r\n");
    // Append with C0 is a plain append; md and ma compare 0 with 0.
    c.roundtrip(b"ms k 1 MA C0\r\ny\r\n", b"HD\r\n");
    c.roundtrip(b"ma n N0 c\r\n", b"HD c0\r\n");
    c.roundtrip(b"ma n C0 v\r\n", b"VA 1\r\n1\r\n");
    c.roundtrip(b"md k I\r\n", b"HD\r\n");
    c.roundtrip(b"mg k c v\r\n", b"VA 2 c0 X W\r\nxy\r\n");
    c.roundtrip(b"md k C0\r\n", b"HD\r\n");
    c.roundtrip(b"mg k\r\n", b"EN\r\n");
}

#[test]
fn large_values_round_trip() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    let value: Vec<u8> = (0..700_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    let mut req = b"ms big 700000 T0 F7\r\n".to_vec();
    req.extend_from_slice(&value);
    req.extend_from_slice(b"\r\n");
    c.roundtrip(&req, b"HD\r\n");
    let mut want = b"VA 700000 s700000 f7\r\n".to_vec();
    want.extend_from_slice(&value);
    want.extend_from_slice(b"\r\n");
    c.roundtrip(b"mg big v s f\r\n", &want);
    // Append to a chained value.
    c.roundtrip(b"ms big 3 MA\r\nxyz\r\n", b"HD\r\n");
    c.roundtrip(b"mg big s\r\n", b"HD s700003\r\n");
}

/// Many clients race to read an invalidated item: exactly one of them wins the recache.
#[test]
fn one_winner_among_racing_readers() {
    let s = Server::start(&["-t", "4"]);
    let mut c = s.connect();
    for round in 0..20 {
        let key = format!("hot{round}");
        c.roundtrip(format!("ms {key} 1 T0\r\nv\r\n").as_bytes(), b"HD\r\n");
        c.roundtrip(format!("md {key} I\r\n").as_bytes(), b"HD\r\n");
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(8));
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let mut client = s.connect();
                let (key, barrier) = (key.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    line(&mut client, &format!("mg {key}\r\n"))
                })
            })
            .collect();
        let mut replies: Vec<String> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        replies.sort();
        let mut want = vec!["HD X W".to_string()];
        want.extend(std::iter::repeat_n("HD Z X".to_string(), 7));
        want.sort();
        assert_eq!(replies, want, "round {round}");
    }
}

/// Flags a command does not use are accepted and ignored (memcached 1.6.18).
#[test]
fn unused_flags_are_ignored() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    c.roundtrip(b"ms k 1 v t s f h l u N5 R5 D5 J5\r\nx\r\n", b"HD\r\n");
    // mg ignores C (no conditional fetch in 1.6.18), I, D, J, F and M.
    c.roundtrip(b"mg k C12345 I D5 J5 F5 MX v\r\n", b"VA 1\r\nx\r\n");
    c.roundtrip(b"md k v t s f h l u c N5 R5 D5 J5 F5 MA\r\n", b"HD\r\n");
    c.roundtrip(b"ms k 1\r\n2\r\n", b"HD\r\n");
    c.roundtrip(b"ma k s f h l u R5 F5 I\r\n", b"HD\r\n");
    c.roundtrip(b"mg k v\r\n", b"VA 1\r\n3\r\n");
}

/// Large values (sent from item memory by reference, with `writev`) arrive whole and in
/// order with the replies around them, pipelined.
#[test]
fn large_values_pipelined_between_small_replies() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    let big: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
    let mid: Vec<u8> = (0..20_000u32).map(|i| (i % 13) as u8 + b'a').collect();
    for (key, value) in [("big", &big), ("mid", &mid)] {
        let mut req = format!("ms {key} {}\r\n", value.len()).into_bytes();
        req.extend_from_slice(value);
        req.extend_from_slice(b"\r\n");
        c.roundtrip(&req, b"HD\r\n");
    }
    c.send(b"mg big v\r\nmn\r\nmg mid v k\r\nmg big s v\r\nmn\r\n");
    let mut want = format!("VA {}\r\n", big.len()).into_bytes();
    want.extend_from_slice(&big);
    want.extend_from_slice(b"\r\nMN\r\n");
    want.extend_from_slice(format!("VA {} kmid\r\n", mid.len()).as_bytes());
    want.extend_from_slice(&mid);
    want.extend_from_slice(format!("\r\nVA {} s{}\r\n", big.len(), big.len()).as_bytes());
    want.extend_from_slice(&big);
    want.extend_from_slice(b"\r\nMN\r\n");
    c.expect(&want);
}
