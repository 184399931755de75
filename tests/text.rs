//! The classic text protocol, byte for byte, as memcached 1.6 answers.
//! Run against real memcached with `LARDER_TEST_BIN=/usr/bin/memcached`.

mod common;
use common::transcripts::TRANSCRIPTS;
use common::{larder_only, Server};
use std::time::Duration;

const QUIET: Duration = Duration::from_millis(200);

/// The shared transcript table (`tests/common/transcripts.rs`) over a socket, each
/// transcript on a fresh server; the same table runs in process through `command::step`.
#[test]
fn transcripts() {
    for t in TRANSCRIPTS {
        let s = Server::start(&[]);
        let mut c = s.connect();
        for (i, (request, reply)) in t.steps.iter().enumerate() {
            c.send(request);
            let got = c.read_exact(reply.len());
            assert_eq!(
                String::from_utf8_lossy(&got),
                String::from_utf8_lossy(reply),
                "transcript {:?}, step {i}: {:?}",
                t.name,
                String::from_utf8_lossy(request)
            );
        }
        c.expect_silence(QUIET);
    }
}

#[test]
fn set_get_gets_and_cas_round_trip() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    c.roundtrip(b"set foo 5 0 3\r\nbar\r\n", b"STORED\r\n");
    c.roundtrip(b"get foo\r\n", b"VALUE foo 5 3\r\nbar\r\nEND\r\n");
    c.send(b"gets foo\r\n");
    let line = String::from_utf8(c.read_line()).unwrap();
    let cas: u64 = line
        .trim_end()
        .strip_prefix("VALUE foo 5 3 ")
        .expect("gets line")
        .parse()
        .unwrap();
    c.expect(b"bar\r\nEND\r\n");
    c.roundtrip(
        format!("cas foo 1 0 3 {}\r\nbaz\r\n", cas + 1).as_bytes(),
        b"EXISTS\r\n",
    );
    c.roundtrip(
        format!("cas foo 1 0 3 {cas}\r\nbaz\r\n").as_bytes(),
        b"STORED\r\n",
    );
    c.roundtrip(
        format!("cas foo 1 0 3 {cas}\r\nqux\r\n").as_bytes(),
        b"EXISTS\r\n",
    );
    c.roundtrip(b"cas nope 0 0 1 1\r\nx\r\n", b"NOT_FOUND\r\n");
    c.roundtrip(b"get foo\r\n", b"VALUE foo 1 3\r\nbaz\r\nEND\r\n");
    c.roundtrip(b"get missing\r\n", b"END\r\n");
}

#[test]
fn touch_gat_and_gats() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    c.roundtrip(b"set t 3 0 2\r\nhi\r\n", b"STORED\r\n");
    c.roundtrip(b"touch t 100\r\n", b"TOUCHED\r\n");
    c.roundtrip(b"touch nokey 100\r\n", b"NOT_FOUND\r\n");
    c.roundtrip(
        b"touch t abc\r\n",
        b"CLIENT_ERROR invalid exptime argument\r\n",
    );
    c.roundtrip(b"gat 100 t nokey\r\n", b"VALUE t 3 2\r\nhi\r\nEND\r\n");
    c.send(b"gats 100 t\r\n");
    let line = String::from_utf8(c.read_line()).unwrap();
    assert!(line.starts_with("VALUE t 3 2 "), "{line}");
    c.expect(b"hi\r\nEND\r\n");
    c.roundtrip(b"gat -1 t\r\n", b"VALUE t 3 2\r\nhi\r\nEND\r\n");
    c.roundtrip(b"get t\r\n", b"END\r\n");
}

#[test]
fn expiry_relative_negative_and_absolute() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    c.roundtrip(b"set gone 0 -1 1\r\nx\r\n", b"STORED\r\n");
    c.roundtrip(b"get gone\r\n", b"END\r\n");
    let past = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        - 10;
    c.roundtrip(
        format!("set old 0 {past} 1\r\nx\r\n").as_bytes(),
        b"STORED\r\n",
    );
    c.roundtrip(b"get old\r\n", b"END\r\n");
    c.roundtrip(b"set soon 0 1 1\r\nx\r\n", b"STORED\r\n");
    c.roundtrip(b"set later 0 100 1\r\ny\r\n", b"STORED\r\n");
    c.roundtrip(b"get soon\r\n", b"VALUE soon 0 1\r\nx\r\nEND\r\n");
    std::thread::sleep(Duration::from_millis(2100));
    c.roundtrip(b"get soon later\r\n", b"VALUE later 0 1\r\ny\r\nEND\r\n");
}

#[test]
fn malformed_keys_get_memcached_errors_and_the_stream_survives() {
    // (The other malformed commands are in the transcript table.)
    let s = Server::start(&[]);
    let mut c = s.connect();
    c.roundtrip(b"set keep 0 0 4\r\nsafe\r\n", b"STORED\r\n");
    let long_key = "k".repeat(251);
    c.roundtrip(
        format!("set {long_key} 0 0 1\r\nx\r\n").as_bytes(),
        b"CLIENT_ERROR bad command line format\r\nERROR\r\n",
    );
    c.roundtrip(
        format!("get keep {long_key}\r\n").as_bytes(),
        // memcached drops the values it found before the bad key.
        b"CLIENT_ERROR bad command line format\r\n",
    );
    let ok_key = "k".repeat(250);
    c.roundtrip(
        format!("set {ok_key} 0 0 1\r\nx\r\n").as_bytes(),
        b"STORED\r\n",
    );
    c.roundtrip(b"get keep\r\n", b"VALUE keep 0 4\r\nsafe\r\nEND\r\n");
    c.roundtrip(b"verbosity 1\r\n", b"OK\r\n");
}

#[test]
fn too_large_values_are_refused_and_their_data_swallowed() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    let big = vec![b'x'; 1_100_000];
    let mut req = b"set big 0 0 1100000\r\n".to_vec();
    req.extend_from_slice(&big);
    req.extend_from_slice(b"\r\nget big\r\n");
    c.roundtrip(&req, b"SERVER_ERROR object too large for cache\r\nEND\r\n");
    // A refused set also drops the old value (memcached avoids serving stale data).
    c.roundtrip(b"set big 0 0 1\r\nx\r\n", b"STORED\r\n");
    c.roundtrip(&req, b"SERVER_ERROR object too large for cache\r\nEND\r\n");
    // Only a set: a refused add, append or cas leaves the value (process_update_command).
    // Every refusal counts in store_too_large, as memcached counts it.
    let before = c.stat("store_too_large");
    c.roundtrip(b"set big 0 0 1\r\nx\r\n", b"STORED\r\n");
    for cmd in [
        "add big 0 0 1100000",
        "append big 0 0 1100000",
        "cas big 0 0 1100000 1",
    ] {
        let mut req = format!("{cmd}\r\n").into_bytes();
        req.extend_from_slice(&big);
        req.extend_from_slice(b"\r\nget big\r\n");
        c.roundtrip(
            &req,
            b"SERVER_ERROR object too large for cache\r\nVALUE big 0 1\r\nx\r\nEND\r\n",
        );
    }
    assert_eq!(c.stat("store_too_large"), before + 3);
}

#[test]
fn pipelined_and_byte_by_byte_requests_keep_order() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    let mut batch = Vec::new();
    let mut expected = Vec::new();
    for i in 0..200 {
        batch.extend_from_slice(
            format!("set k{i} {i} 0 {}\r\n{i}\r\n", i.to_string().len()).as_bytes(),
        );
        expected.extend_from_slice(b"STORED\r\n");
    }
    for i in 0..200 {
        batch.extend_from_slice(format!("get k{i}\r\n").as_bytes());
        expected.extend_from_slice(
            format!("VALUE k{i} {i} {}\r\n{i}\r\nEND\r\n", i.to_string().len()).as_bytes(),
        );
    }
    c.roundtrip(&batch, &expected);
    // The same requests split into single bytes.
    let mut d = s.connect();
    for b in b"set split 0 0 5\r\nhello\r\nget split\r\n" {
        d.send(&[*b]);
    }
    d.expect(b"STORED\r\nVALUE split 0 5\r\nhello\r\nEND\r\n");
}

#[test]
fn huge_multiget_line_works() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    c.roundtrip(b"set hit 0 0 1\r\nh\r\n", b"STORED\r\n");
    let mut line = b"get".to_vec();
    for i in 0..30_000 {
        line.extend_from_slice(format!(" key{i:08}").as_bytes());
    }
    line.extend_from_slice(b" hit\r\n");
    c.roundtrip(&line, b"VALUE hit 0 1\r\nh\r\nEND\r\n");
}

#[test]
fn long_lines_without_newline_close_the_connection() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    c.send(&vec![b'a'; 4096]);
    c.expect_closed();
    let mut h = s.connect();
    h.send(b"GET / HTTP/1.1\r\n");
    h.expect_closed();
}

#[test]
fn large_values_up_to_the_item_limit() {
    let s = Server::start(&["-I", "2m", "-m", "64"]);
    let mut c = s.connect();
    let value: Vec<u8> = (0..1_500_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    let mut req = format!("set big 0 0 {}\r\n", value.len()).into_bytes();
    req.extend_from_slice(&value);
    req.extend_from_slice(b"\r\n");
    c.roundtrip(&req, b"STORED\r\n");
    c.send(b"get big\r\n");
    c.expect(format!("VALUE big 0 {}\r\n", value.len()).as_bytes());
    let got = c.read_exact(value.len());
    assert!(got == value, "large value corrupted");
    c.expect(b"\r\nEND\r\n");
}

#[test]
fn flush_all_now_and_delayed() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    c.roundtrip(b"set a 0 0 1\r\n1\r\n", b"STORED\r\n");
    c.roundtrip(b"flush_all\r\n", b"OK\r\n");
    c.roundtrip(b"get a\r\n", b"END\r\n");
    c.roundtrip(b"set a 0 0 1\r\n1\r\n", b"STORED\r\n");
    c.roundtrip(b"flush_all 2\r\n", b"OK\r\n");
    c.roundtrip(b"get a\r\n", b"VALUE a 0 1\r\n1\r\nEND\r\n");
    std::thread::sleep(Duration::from_millis(3100));
    c.roundtrip(b"get a\r\n", b"END\r\n");
    c.roundtrip(b"set b 0 0 1\r\n2\r\n", b"STORED\r\n");
    c.roundtrip(b"get b\r\n", b"VALUE b 0 1\r\n2\r\nEND\r\n");
}

#[test]
fn flush_all_disabled_with_dash_f() {
    let s = Server::start(&["-F"]);
    let mut c = s.connect();
    c.roundtrip(b"flush_all\r\n", b"CLIENT_ERROR flush_all not allowed\r\n");
}

#[test]
fn version_verbosity_quit() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    c.roundtrip(b"version\r\n", b"VERSION 1.6.18\r\n");
    c.roundtrip(b"verbosity 0\r\n", b"OK\r\n");
    c.send(b"verbosity 0 noreply\r\n");
    c.expect_silence(QUIET);
    c.send(b"quit\r\n");
    c.expect_closed();
}

#[test]
fn cache_memlimit() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    c.roundtrip(
        b"cache_memlimit 1\r\n",
        b"MEMLIMIT_TOO_SMALL cannot set maxbytes to less than 8m\r\n",
    );
    c.roundtrip(b"cache_memlimit 100\r\n", b"OK\r\n");
    assert_eq!(c.stat("limit_maxbytes"), 100 * 1024 * 1024);
    // As memcached: the new limit is the setting (`stats settings` maxbytes).
    assert_eq!(c.setting("maxbytes").as_deref(), Some("104857600"));
}

#[test]
fn stats_counters_follow_commands() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    c.roundtrip(b"set a 0 0 1\r\n1\r\n", b"STORED\r\n");
    c.roundtrip(b"get a b\r\n", b"VALUE a 0 1\r\n1\r\nEND\r\n");
    c.roundtrip(b"delete b\r\n", b"NOT_FOUND\r\n");
    c.roundtrip(b"incr a 1\r\n", b"2\r\n");
    c.roundtrip(b"touch a 10\r\n", b"TOUCHED\r\n");
    let st: std::collections::HashMap<_, _> = c.stats("").into_iter().collect();
    let n = |k: &str| st[k].parse::<u64>().unwrap();
    assert_eq!(n("cmd_get"), 2);
    assert_eq!(n("get_hits"), 1);
    assert_eq!(n("get_misses"), 1);
    assert_eq!(n("cmd_set"), 1);
    assert_eq!(n("delete_misses"), 1);
    assert_eq!(n("incr_hits"), 1);
    assert_eq!(n("cmd_touch"), 1);
    assert_eq!(n("touch_hits"), 1);
    assert_eq!(n("curr_items"), 1);
    assert_eq!(n("curr_connections"), 1);
    assert_eq!(n("limit_maxbytes"), 64 * 1024 * 1024);
    assert_eq!(st["version"], "1.6.18");
    assert_eq!(st["pid"], s.pid().to_string());
    c.roundtrip(b"stats reset\r\n", b"RESET\r\n");
    assert_eq!(c.stat("cmd_get"), 0);
    let settings: std::collections::HashMap<_, _> = c.stats("settings").into_iter().collect();
    assert_eq!(settings["maxbytes"], "67108864");
    assert_eq!(settings["item_size_max"], "1048576");
    assert_eq!(settings["cas_enabled"], "yes");
    let items = c.stats("items");
    assert!(
        items
            .iter()
            .any(|(k, v)| k.ends_with(":number") && v == "1"),
        "{items:?}"
    );
    let slabs = c.stats("slabs");
    assert!(slabs.iter().any(|(k, _)| k == "active_slabs"), "{slabs:?}");
    let conns = c.stats("conns");
    assert!(conns.iter().any(|(k, _)| k.ends_with(":addr")), "{conns:?}");
}

/// incr reads a stored value with memcached's `safe_strtoull` rules: leading whitespace, a
/// sign, leading zeros, and anything after a whitespace or NUL byte are accepted; a number
/// past u64::MAX or a negative one is not. Every case is memcached 1.6.18's answer (and the
/// value it leaves, padded in place).
#[test]
fn incr_reads_stored_values_as_memcached_does() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    // (stored value, Some((incr 1's reply, the value afterwards)) or None: non-numeric)
    type Case = (&'static [u8], Option<(&'static [u8], &'static [u8])>);
    let cases: &[Case] = &[
        (b"5", Some((b"6", b"6"))),
        (b" 5", Some((b"6", b"6 "))),
        (b"  5", Some((b"6", b"6  "))),
        (b"\t5", Some((b"6", b"6 "))),
        (b"+5", Some((b"6", b"6 "))),
        (b"-5", None),
        (b"-0", Some((b"1", b"1 "))),
        (b"5 ", Some((b"6", b"6 "))),
        (b"5 x", Some((b"6", b"6  "))),
        (b"5x", None),
        (b"5\r", Some((b"6", b"6 "))),
        (b"5\n", Some((b"6", b"6 "))),
        (b"5\t", Some((b"6", b"6 "))),
        (b"0x10", None),
        (b"010", Some((b"11", b"11 "))),
        (b"", None),
        (b" ", None),
        (
            b"000000000000000000001",
            Some((b"2", b"2                    ")),
        ),
        (
            b"18446744073709551615",
            Some((b"0", b"0                   ")),
        ),
        (b"18446744073709551616", None),
        (b"-1", None),
        (
            b"-18446744073709551615",
            Some((b"2", b"2                    ")),
        ),
        (b"5  ", Some((b"6", b"6  "))),
        (b"\n5", Some((b"6", b"6 "))),
        (b"\r5", Some((b"6", b"6 "))),
        (b"\x0b5", Some((b"6", b"6 "))),
        (b"\x0c5", Some((b"6", b"6 "))),
        (b"5\x0b", Some((b"6", b"6 "))),
        (b"5\x00", Some((b"6", b"6 "))),
        (b"5 5", Some((b"6", b"6  "))),
        (b"+", None),
        (b"-", None),
        (b"00", Some((b"1", b"1 "))),
        (b"99999999999999999999999", None),
    ];
    for (value, want) in cases {
        let mut set = format!("set n 0 0 {}\r\n", value.len()).into_bytes();
        set.extend_from_slice(value);
        set.extend_from_slice(b"\r\n");
        c.roundtrip(&set, b"STORED\r\n");
        c.send(b"incr n 1\r\n");
        let reply = c.read_line();
        let after = match want {
            Some((n, after)) => {
                assert_eq!(reply, [*n, b"\r\n"].concat(), "incr on {value:?}");
                *after
            }
            None => {
                assert_eq!(
                    reply, b"CLIENT_ERROR cannot increment or decrement non-numeric value\r\n",
                    "incr on {value:?}"
                );
                *value
            }
        };
        let mut get = format!("VALUE n 0 {}\r\n", after.len()).into_bytes();
        get.extend_from_slice(after);
        get.extend_from_slice(b"\r\nEND\r\n");
        c.roundtrip(b"get n\r\n", &get);
    }
}

#[test]
fn reqs_per_event_yields_but_keeps_order() {
    let s = Server::start(&["-R", "5", "-t", "1"]);
    let mut c = s.connect();
    let mut batch = Vec::new();
    let mut expected = Vec::new();
    for i in 0..300 {
        batch.extend_from_slice(format!("set r{i} 0 0 1\r\nx\r\nget r{i}\r\n").as_bytes());
        expected.extend_from_slice(format!("STORED\r\nVALUE r{i} 0 1\r\nx\r\nEND\r\n").as_bytes());
    }
    c.roundtrip(&batch, &expected);
    if larder_only() {
        assert!(c.stat("conn_yields") > 0);
    }
}
