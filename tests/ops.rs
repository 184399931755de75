//! Operator commands, as transcripts: `stats detail`, `stats cachedump`,
//! `lru_crawler metadump|mgdump`, `slabs automove|reassign`, the per-class command
//! counters of `stats slabs`, `stats settings`. Every test not marked larder-only passes
//! against memcached 1.6.18 too (`LARDER_TEST_BIN=/usr/bin/memcached cargo test --test
//! ops`).

mod common;
use common::{larder_only, Client, Server};
use std::collections::HashSet;

/// Reads a metadump listing (lines end in `\n`, the listing in `END\r\n`).
fn metadump(c: &mut Client, cmd: &str) -> Vec<String> {
    if !larder_only() {
        // memcached's crawler thread needs a moment between two requests.
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
    c.send(format!("{cmd}\r\n").as_bytes());
    let mut lines = Vec::new();
    loop {
        let chunk = String::from_utf8(c.read_line()).unwrap();
        let mut done = false;
        for l in chunk.split_inclusive('\n') {
            if l == "END\r\n" {
                done = true;
            } else {
                assert!(!done, "lines after END: {l:?}");
                lines.push(l.trim_end().to_string());
            }
        }
        if done {
            return lines;
        }
        // An error line instead of a listing.
        if lines.last().is_some_and(|l| !l.starts_with("key=")) {
            return lines;
        }
    }
}

/// `key=... exp=... la=... cas=... fetch=... cls=... size=...` as pairs.
fn fields(line: &str) -> Vec<(String, String)> {
    line.split(' ')
        .map(|kv| {
            let (k, v) = kv.split_once('=').expect("key=value");
            (k.to_string(), v.to_string())
        })
        .collect()
}

#[test]
fn stats_detail_counts_per_prefix() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    c.roundtrip(b"set foo:a 0 0 1\r\nx\r\n", b"STORED\r\n");
    c.roundtrip(b"stats detail dump\r\n", b"END\r\n");
    c.roundtrip(b"stats detail on\r\n", b"OK\r\n");
    c.roundtrip(
        b"get foo:a foo:b bar\r\n",
        b"VALUE foo:a 0 1\r\nx\r\nEND\r\n",
    );
    c.roundtrip(b"set a 0 0 1\r\nx\r\n", b"STORED\r\n");
    c.roundtrip(b"delete foo:a\r\n", b"DELETED\r\n");
    c.roundtrip(b"incr bar:x 1\r\n", b"NOT_FOUND\r\n");
    c.roundtrip(
        b"stats detail dump\r\n",
        b"PREFIX foo get 2 hit 1 set 0 del 1\r\nEND\r\n",
    );
    c.roundtrip(b"stats detail off\r\n", b"OK\r\n");
    c.roundtrip(b"get foo:a\r\n", b"END\r\n");
    c.roundtrip(
        b"stats detail dump x\r\n",
        b"PREFIX foo get 2 hit 1 set 0 del 1\r\nEND\r\n",
    );
    let usage = b"CLIENT_ERROR usage: stats detail on|off|dump\r\n";
    c.roundtrip(b"stats detail\r\n", usage);
    c.roundtrip(b"stats detail x\r\n", usage);
    c.roundtrip(b"stats detail on x\r\n", b"OK\r\n");
    let settings = c.stats("settings");
    assert!(settings.contains(&("detail_enabled".into(), "yes".into())));
    assert!(settings.contains(&("stat_key_prefix".into(), ":".into())));
    // stats reset forgets the prefixes.
    c.roundtrip(b"stats reset\r\n", b"RESET\r\n");
    c.roundtrip(b"stats detail dump\r\n", b"END\r\n");
}

#[test]
fn dash_d_sets_the_delimiter_and_turns_detail_on() {
    let s = Server::start(&["-D", "/"]);
    let mut c = s.connect();
    c.roundtrip(
        b"set a/b 0 0 1\r\nx\r\nset c:d 0 0 1\r\nx\r\n",
        b"STORED\r\nSTORED\r\n",
    );
    c.roundtrip(
        b"stats detail dump\r\n",
        b"PREFIX a get 0 hit 0 set 1 del 0\r\nEND\r\n",
    );
    let settings = c.stats("settings");
    assert!(settings.contains(&("stat_key_prefix".into(), "/".into())));
}

#[test]
fn binary_stat_detail_on_off_dump() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    let stat = |key: &[u8]| {
        let mut f = vec![0x80, 0x10, 0, key.len() as u8, 0, 0, 0, 0];
        f.extend_from_slice(&(key.len() as u32).to_be_bytes());
        f.extend_from_slice(&[0; 12]);
        f.extend_from_slice(key);
        f
    };
    // An empty Stat response ends each answer.
    let end = |status: u8| {
        let mut f = vec![0x81, 0x10, 0, 0, 0, 0, 0, status];
        f.extend_from_slice(&[0; 16]);
        f
    };
    c.send(&stat(b"detail on"));
    c.expect(&end(0));
    // A binary set of "p:k" counts under "p".
    let mut set = vec![0x80, 0x01, 0, 3, 8, 0, 0, 0, 0, 0, 0, 12];
    set.extend_from_slice(&[0; 12]);
    set.extend_from_slice(&[0; 8]);
    set.extend_from_slice(b"p:kv");
    c.send(&set);
    let reply = c.read_exact(24);
    assert_eq!(reply[..2], [0x81, 0x01]);
    c.send(&stat(b"detail dump"));
    let dump = b"PREFIX p get 0 hit 0 set 1 del 0\r\nEND\r\n";
    let mut want = vec![0x81, 0x10, 0, 8, 0, 0, 0, 0];
    want.extend_from_slice(&((8 + dump.len()) as u32).to_be_bytes());
    want.extend_from_slice(&[0; 12]);
    want.extend_from_slice(b"detailed");
    want.extend_from_slice(dump);
    c.expect(&want);
    c.expect(&end(0));
    c.send(&stat(b"detail off"));
    c.expect(&end(0));
    c.send(&stat(b"detail x"));
    let reply = c.read_exact(24);
    assert_eq!(reply[..8], [0x81, 0x10, 0, 0, 0, 0, 0, 1]);
    let n = u32::from_be_bytes([reply[8], reply[9], reply[10], reply[11]]) as usize;
    c.read_exact(n);
}

#[test]
fn stats_cachedump_lists_a_class() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    c.roundtrip(b"set a 0 0 1\r\nx\r\n", b"STORED\r\n");
    for cmd in [
        "stats cachedump 1 10",
        "stats cachedump 1 0",
        "stats cachedump 1 1 1",
    ] {
        c.send(format!("{cmd}\r\n").as_bytes());
        let got = c.read_until_end();
        // memcached lists only its HOT LRU, which its LRU maintainer may already have
        // moved the item out of.
        if larder_only() || got != b"END\r\n" {
            assert_eq!(got, b"ITEM a [1 b; 0 s]\r\nEND\r\n", "{cmd}");
        }
    }
    c.roundtrip(b"stats cachedump 0 1\r\n", b"END\r\n");
    c.roundtrip(b"stats cachedump 2 1\r\n", b"END\r\n");
    c.roundtrip(b"stats cachedump 63 1\r\n", b"END\r\n");
    c.roundtrip(
        b"stats cachedump 64 1\r\n",
        b"CLIENT_ERROR Illegal slab id\r\n",
    );
    c.roundtrip(
        b"stats cachedump 1\r\n",
        b"CLIENT_ERROR bad command line\r\n",
    );
    c.roundtrip(
        b"stats cachedump x 1\r\n",
        b"CLIENT_ERROR bad command line format\r\n",
    );
    c.roundtrip(
        b"stats cachedump 1 x\r\n",
        b"CLIENT_ERROR bad command line format\r\n",
    );
    // Absolute expiry times.
    c.roundtrip(b"set b 0 1000 2\r\nxy\r\n", b"STORED\r\n");
    let now: u64 = c.stat("time");
    c.send(b"stats cachedump 1 0\r\n");
    let text = String::from_utf8(c.read_until_end()).unwrap();
    let Some(line) = text.lines().find(|l| l.starts_with("ITEM b ")) else {
        assert!(!larder_only(), "b listed: {text}");
        return;
    };
    let exp: u64 = line
        .strip_prefix("ITEM b [2 b; ")
        .and_then(|r| r.strip_suffix(" s]"))
        .unwrap()
        .parse()
        .unwrap();
    assert!((now + 998..=now + 1001).contains(&exp), "{line} at {now}");
}

#[test]
fn dumps_are_refused_under_dash_x() {
    let s = Server::start(&["-X"]);
    let mut c = s.connect();
    c.roundtrip(
        b"stats cachedump 1 1\r\n",
        b"CLIENT_ERROR stats cachedump not allowed\r\n",
    );
    c.roundtrip(
        b"lru_crawler metadump all\r\n",
        b"ERROR metadump not allowed\r\n",
    );
}

#[test]
fn lru_crawler_metadump_lines() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    if larder_only() {
        // Accepted; the maintenance crawl cannot be stopped. (memcached's thread stop
        // answers with the END of an idle listing first.)
        c.roundtrip(b"lru_crawler disable\r\n", b"OK\r\n");
        c.roundtrip(b"lru_crawler enable\r\n", b"OK\r\n");
    }
    c.roundtrip(b"set k%x 0 0 1\r\nx\r\n", b"STORED\r\n");
    c.roundtrip(b"set t 0 1000 3\r\nabc\r\n", b"STORED\r\n");
    let now: i64 = c.stat("time") as i64;
    let mut cmds = vec![
        "lru_crawler metadump all",
        "lru_crawler metadump 1",
        "lru_crawler metadump hash",
    ];
    if larder_only() {
        // memcached may end a multi-class listing twice when a class is empty.
        cmds.push("lru_crawler metadump 1,,2");
    }
    for cmd in cmds {
        let mut lines = metadump(&mut c, cmd);
        lines.sort();
        assert_eq!(lines.len(), 2, "{cmd}: {lines:?}");
        let k = fields(&lines[0]);
        let names: Vec<&str> = k.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["key", "exp", "la", "cas", "fetch", "cls", "size"]);
        assert_eq!(k[0].1, "k%25x");
        assert_eq!(k[1].1, "-1");
        let la: i64 = k[2].1.parse().unwrap();
        assert!((now - 2..=now + 1).contains(&la), "{la} at {now}");
        assert_eq!(k[4].1, "no");
        assert_eq!(k[5].1, "1");
        let t = fields(&lines[1]);
        assert_eq!(t[0].1, "t");
        let exp: i64 = t[1].1.parse().unwrap();
        assert!((now + 998..=now + 1001).contains(&exp), "{exp} at {now}");
    }
    c.roundtrip(b"get t\r\n", b"VALUE t 0 3\r\nabc\r\nEND\r\n");
    let lines = metadump(&mut c, "lru_crawler metadump all");
    let t = lines.iter().find(|l| l.starts_with("key=t ")).unwrap();
    assert!(t.contains(" fetch=yes "), "{t}");
    // A class with no items, and the errors.
    assert!(metadump(&mut c, "lru_crawler metadump 63").is_empty());
    for (cmd, reply) in [
        ("lru_crawler metadump", "ERROR\r\n"),
        ("lru_crawler", "ERROR\r\n"),
        ("lru_crawler foo", "ERROR\r\n"),
        ("lru_crawler metadump 0", "BADCLASS invalid class id\r\n"),
        ("lru_crawler metadump 64", "BADCLASS invalid class id\r\n"),
        ("lru_crawler metadump x", "BADCLASS invalid class id\r\n"),
        ("lru_crawler metadump 1,x", "BADCLASS invalid class id\r\n"),
        (
            "lru_crawler metadump all,1",
            "BADCLASS invalid class id\r\n",
        ),
        ("lru_crawler metadump ,", "NOTSTARTED no items to crawl\r\n"),
        ("lru_crawler crawl 0", "BADCLASS invalid class id\r\n"),
        ("lru_crawler crawl", "ERROR\r\n"),
        ("lru_crawler sleep 10", "OK\r\n"),
        (
            "lru_crawler sleep x",
            "CLIENT_ERROR bad command line format\r\n",
        ),
        (
            "lru_crawler sleep 2000000",
            "CLIENT_ERROR sleep must be one second or less\r\n",
        ),
        ("lru_crawler tocrawl 10", "OK\r\n"),
        (
            "lru_crawler tocrawl -1",
            "CLIENT_ERROR bad command line format\r\n",
        ),
        ("lru_crawler enable x", "ERROR\r\n"),
        // Last: memcached's crawler is busy for a while after it.
        ("lru_crawler crawl all", "OK\r\n"),
    ] {
        if !larder_only() {
            std::thread::sleep(std::time::Duration::from_millis(300));
        }
        c.roundtrip(format!("{cmd}\r\n").as_bytes(), reply.as_bytes());
    }
}

#[test]
fn metadump_streams_every_key_of_a_large_cache() {
    let s = Server::start(&["-m", "256"]);
    let mut c = s.connect();
    let n = 60_000;
    let mut batch = Vec::new();
    for i in 0..n {
        batch.extend_from_slice(
            format!("set key:{i:06} 0 0 10 noreply\r\n0123456789\r\n").as_bytes(),
        );
    }
    c.send(&batch);
    c.roundtrip(b"mn\r\n", b"MN\r\n");
    let lines = metadump(&mut c, "lru_crawler metadump all");
    let keys: HashSet<String> = lines.iter().map(|l| fields(l)[0].1.clone()).collect();
    assert_eq!(keys.len(), n, "every key listed");
    assert_eq!(lines.len(), n, "each once");
}

#[test]
fn metadump_and_mgdump_with_a_key_prefix_under_concurrent_writes() {
    if !larder_only() {
        return; // the key prefix and mgdump (1.6.19+) are not in memcached 1.6.18
    }
    let s = Server::start(&[]);
    let mut c = s.connect();
    let mut batch = Vec::new();
    for i in 0..20_000 {
        batch.extend_from_slice(format!("set a:{i} 0 0 1 noreply\r\nx\r\n").as_bytes());
        batch.extend_from_slice(format!("set b:{i} 0 0 1 noreply\r\nx\r\n").as_bytes());
    }
    c.send(&batch);
    c.roundtrip(b"mn\r\n", b"MN\r\n");
    // A writer keeps storing other keys while the listings run.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        let mut w = s.connect();
        std::thread::spawn(move || {
            let mut i = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                w.roundtrip(
                    format!("set c:{i} 0 0 2\r\nyy\r\n").as_bytes(),
                    b"STORED\r\n",
                );
                i += 1;
            }
        })
    };
    let lines = metadump(&mut c, "lru_crawler metadump all a:");
    let keys: HashSet<String> = lines.iter().map(|l| fields(l)[0].1.clone()).collect();
    assert_eq!(keys.len(), 20_000);
    assert!(keys.iter().all(|k| k.starts_with("a%3A")), "only a: keys");
    c.send(b"lru_crawler mgdump all b:1999\r\n");
    let mut got = Vec::new();
    loop {
        let line = c.read_line();
        if line == b"EN\r\n" {
            break;
        }
        got.push(String::from_utf8(line).unwrap());
    }
    got.sort();
    let mut want: Vec<String> = std::iter::once("b:1999".to_string())
        .chain((0..10).map(|d| format!("b:1999{d}")))
        .map(|k| format!("mg {k}\r\n"))
        .collect();
    want.sort();
    assert_eq!(got, want);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.join().unwrap();
}

#[test]
fn slabs_automove_and_reassign_replies() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    c.roundtrip(b"set a 0 0 1\r\nx\r\n", b"STORED\r\n");
    for (cmd, reply) in [
        ("slabs automove 0", "OK\r\n"),
        ("slabs automove 1", "OK\r\n"),
        ("slabs automove 2", "OK\r\n"),
        ("slabs automove 1 x", "OK\r\n"),
        ("slabs automove 3", "ERROR\r\n"),
        ("slabs automove", "ERROR\r\n"),
        (
            "slabs automove invalid",
            "CLIENT_ERROR bad command line format\r\n",
        ),
        (
            "slabs automove -1",
            "CLIENT_ERROR bad command line format\r\n",
        ),
        (
            "slabs reassign 1 2",
            "NOSPARE source class has no spare pages\r\n",
        ),
        (
            "slabs reassign 1 1",
            "SAME src and dst class are identical\r\n",
        ),
        (
            "slabs reassign 99 1",
            "BADCLASS invalid src or dst class id\r\n",
        ),
        (
            "slabs reassign -1 2",
            "BADCLASS invalid src or dst class id\r\n",
        ),
        (
            "slabs reassign x 1",
            "CLIENT_ERROR bad command line format\r\n",
        ),
        ("slabs reassign 1", "ERROR\r\n"),
        ("slabs reassign 1 2 x", "ERROR\r\n"),
        ("slabs", "ERROR\r\n"),
        ("slabs foo", "ERROR\r\n"),
    ] {
        c.roundtrip(format!("{cmd}\r\n").as_bytes(), reply.as_bytes());
    }
    c.roundtrip(b"slabs automove 2\r\n", b"OK\r\n");
    let settings = c.stats("settings");
    assert!(settings.contains(&("slab_automove".into(), "2".into())));
}

#[test]
fn stats_slabs_has_per_class_command_counters() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    c.roundtrip(b"set a 0 0 1\r\n1\r\n", b"STORED\r\n");
    c.roundtrip(b"set b 0 0 1\r\n1\r\n", b"STORED\r\n");
    c.roundtrip(
        b"get a b zz\r\n",
        b"VALUE a 0 1\r\n1\r\nVALUE b 0 1\r\n1\r\nEND\r\n",
    );
    c.roundtrip(b"incr a 1\r\n", b"2\r\n");
    c.roundtrip(b"decr a 1\r\n", b"1\r\n");
    c.roundtrip(b"touch a 100\r\n", b"TOUCHED\r\n");
    c.send(b"gets a\r\n");
    let line = String::from_utf8(c.read_line()).unwrap();
    let cas: u64 = line.trim_end().rsplit(' ').next().unwrap().parse().unwrap();
    c.expect(b"1\r\nEND\r\n");
    c.roundtrip(
        format!("cas a 0 0 1 {cas}\r\n3\r\n").as_bytes(),
        b"STORED\r\n",
    );
    c.roundtrip(
        format!("cas a 0 0 1 {cas}\r\n4\r\n").as_bytes(),
        b"EXISTS\r\n",
    );
    c.roundtrip(b"delete b\r\n", b"DELETED\r\n");
    let slabs = c.stats("slabs");
    let get = |name: &str| {
        slabs
            .iter()
            .find(|(k, _)| k == name)
            .unwrap_or_else(|| panic!("no {name} in {slabs:?}"))
            .1
            .clone()
    };
    for (name, want) in [
        ("1:get_hits", "3"),
        ("1:cmd_set", "4"),
        ("1:delete_hits", "1"),
        ("1:incr_hits", "1"),
        ("1:decr_hits", "1"),
        ("1:cas_hits", "1"),
        ("1:cas_badval", "1"),
        ("1:touch_hits", "1"),
    ] {
        assert_eq!(get(name), want, "{name}");
    }
    let names: Vec<&str> = slabs
        .iter()
        .filter_map(|(k, _)| k.strip_prefix("1:"))
        .collect();
    assert_eq!(
        names,
        [
            "chunk_size",
            "chunks_per_page",
            "total_pages",
            "total_chunks",
            "used_chunks",
            "free_chunks",
            "free_chunks_end",
            "get_hits",
            "cmd_set",
            "delete_hits",
            "incr_hits",
            "decr_hits",
            "cas_hits",
            "cas_badval",
            "touch_hits",
        ]
    );
}

/// memcached 1.6.18's `stats settings` names (Debian's build), without the extstore
/// (`ext_*`, `slab_automove_freeratio`) and TLS (`ssl_*`) ones: larder has neither, as a
/// memcached built without them prints none of them. Shared with the config unit tests.
const MEMCACHED_SETTINGS: &str = include_str!("data/memcached-1.6.18-stats-settings.txt");

#[test]
fn stats_settings_has_every_memcached_field_in_order() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    let names: Vec<String> = c.stats("settings").into_iter().map(|(k, _)| k).collect();
    let mut at = 0;
    let wanted = MEMCACHED_SETTINGS
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty());
    for want in wanted {
        let i = names[at..]
            .iter()
            .position(|n| n == want)
            .unwrap_or_else(|| panic!("{want} missing or out of order in {names:?}"));
        at += i + 1;
    }
    if larder_only() {
        // stats sizes always answers, so sizes are always tracked.
        assert!(c
            .stats("settings")
            .contains(&("track_sizes".into(), "yes".into())));
    }
}

#[test]
fn stats_settings_oldest_and_verbosity_follow_the_commands() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    let setting = |c: &mut common::Client, name: &str| -> u64 {
        c.setting(name)
            .unwrap_or_else(|| panic!("no {name}"))
            .parse()
            .unwrap()
    };
    // `oldest`: 0 until a flush_all, then one second before its moment (memcached's
    // settings.oldest_live), in the future for a delayed flush.
    assert_eq!(setting(&mut c, "oldest"), 0);
    c.roundtrip(b"flush_all\r\n", b"OK\r\n");
    let now = setting(&mut c, "oldest");
    assert!(now > 0);
    c.roundtrip(b"flush_all 100\r\n", b"OK\r\n");
    let later = setting(&mut c, "oldest");
    assert!(
        (now + 99..=now + 110).contains(&later),
        "{now} then {later}"
    );
    c.roundtrip(b"flush_all 0\r\n", b"OK\r\n");
    assert!((now..now + 10).contains(&setting(&mut c, "oldest")));
    // `verbosity`: as last set.
    assert_eq!(setting(&mut c, "verbosity"), 0);
    c.roundtrip(b"verbosity 1\r\n", b"OK\r\n");
    assert_eq!(setting(&mut c, "verbosity"), 1);
    c.roundtrip(b"verbosity 0\r\n", b"OK\r\n");
    assert_eq!(setting(&mut c, "verbosity"), 0);
}

#[test]
fn flush_prefix_hides_older_items_under_the_prefix() {
    if !larder_only() {
        return; // larder's command
    }
    let s = Server::start(&[]);
    let mut c = s.connect();
    for k in ["user:1:a", "user:1:b", "user:10", "user:2:a"] {
        c.roundtrip(format!("set {k} 0 0 1\r\nx\r\n").as_bytes(), b"STORED\r\n");
    }
    c.roundtrip(b"flush_prefix user:1:\r\n", b"OK\r\n");
    c.roundtrip(
        b"get user:1:a user:1:b user:10 user:2:a\r\n",
        b"VALUE user:10 0 1\r\nx\r\nVALUE user:2:a 0 1\r\nx\r\nEND\r\n",
    );
    // Stored after the delete: kept.
    c.roundtrip(b"set user:1:a 0 0 1\r\ny\r\n", b"STORED\r\n");
    c.roundtrip(b"get user:1:a\r\n", b"VALUE user:1:a 0 1\r\ny\r\nEND\r\n");
    // noreply, and the meta form.
    c.roundtrip(b"flush_prefix user:2 noreply\r\nmn\r\n", b"MN\r\n");
    c.roundtrip(b"get user:2:a\r\n", b"END\r\n");
    c.roundtrip(b"set p:q 0 0 1\r\nx\r\n", b"STORED\r\n");
    c.roundtrip(b"md p: X\r\n", b"HD\r\n");
    c.roundtrip(b"md p: X q\r\nmn\r\n", b"MN\r\n");
    c.roundtrip(b"mg p:q v\r\n", b"EN\r\n");
    // Hidden items are not listed either.
    let lines = metadump(&mut c, "lru_crawler metadump all");
    assert!(
        lines.iter().all(|l| !l.starts_with("key=p%3Aq ")),
        "{lines:?}"
    );
    // Syntax.
    c.roundtrip(b"flush_prefix\r\n", b"ERROR\r\n");
    c.roundtrip(b"flush_prefix a b\r\n", b"ERROR\r\n");
    let long = "k".repeat(251);
    c.roundtrip(
        format!("flush_prefix {long}\r\n").as_bytes(),
        b"CLIENT_ERROR bad command line format\r\n",
    );
    assert_eq!(c.stat("cmd_flush_prefix"), 4);
    assert!(c.stat("get_flushed") >= 3);
    // The crawl reclaims the hidden items and then drops the tombstones.
    let start = std::time::Instant::now();
    while c.stat("prefix_deletes_pending") > 0 {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(10),
            "never retired"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    c.roundtrip(
        b"get user:1:a user:1:b\r\n",
        b"VALUE user:1:a 0 1\r\ny\r\nEND\r\n",
    );
    assert_eq!(c.stat("curr_items"), 2, "user:1:a and user:10 are left");
}

#[test]
fn flush_prefix_is_refused_without_cas_or_with_dash_f() {
    if !larder_only() {
        return;
    }
    let s = Server::start(&["-C"]);
    let mut c = s.connect();
    c.roundtrip(
        b"flush_prefix a\r\n",
        b"SERVER_ERROR flush_prefix needs CAS (the server runs with -C)\r\n",
    );
    let s = Server::start(&["-F"]);
    let mut c = s.connect();
    c.roundtrip(
        b"flush_prefix a\r\n",
        b"CLIENT_ERROR flush_prefix not allowed\r\n",
    );
}

/// Under concurrent sets to the same prefix: nothing acknowledged before the delete is
/// returned after it; everything acknowledged after it is.
#[test]
fn flush_prefix_under_concurrent_sets() {
    if !larder_only() {
        return;
    }
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::sync::Arc;
    let s = Server::start(&[]);
    let stop = Arc::new(AtomicBool::new(false));
    // Each writer sets ns:<w>:<seq> and publishes the last seq acknowledged.
    let acked: Vec<Arc<AtomicU64>> = (0..3).map(|_| Arc::new(AtomicU64::new(0))).collect();
    let writers: Vec<_> = (0..3)
        .map(|w| {
            let mut c = s.connect();
            let stop = stop.clone();
            let acked = acked[w].clone();
            std::thread::spawn(move || {
                let mut seq = 1u64;
                while !stop.load(Ordering::Relaxed) {
                    c.roundtrip(
                        format!("set ns:{w}:{seq} 0 0 1\r\nx\r\n").as_bytes(),
                        b"STORED\r\n",
                    );
                    acked.store(seq, Ordering::SeqCst);
                    seq += 1;
                }
                seq - 1
            })
        })
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let mut c = s.connect();
    let before: Vec<u64> = acked.iter().map(|a| a.load(Ordering::SeqCst)).collect();
    c.roundtrip(b"flush_prefix ns:\r\n", b"OK\r\n");
    let after: Vec<u64> = acked.iter().map(|a| a.load(Ordering::SeqCst)).collect();
    std::thread::sleep(std::time::Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    let last: Vec<u64> = writers.into_iter().map(|w| w.join().unwrap()).collect();
    for w in 0..3 {
        assert!(
            before[w] > 0 && last[w] > after[w] + 1,
            "writer {w} made progress"
        );
        // Acknowledged before the delete was sent: gone.
        for seq in [1, before[w] / 2, before[w]] {
            c.roundtrip(format!("get ns:{w}:{seq}\r\n").as_bytes(), b"END\r\n");
        }
        // Sent after the delete was acknowledged: all there.
        let mut req = String::from("get");
        for seq in after[w] + 2..=last[w] {
            req.push_str(&format!(" ns:{w}:{seq}"));
        }
        c.send(format!("{req}\r\n").as_bytes());
        let reply = String::from_utf8(c.read_until_end()).unwrap();
        let hits = reply.matches("VALUE ").count() as u64;
        assert_eq!(hits, last[w] - after[w] - 1, "writer {w}");
    }
}

#[test]
fn config_get_cluster_answers_the_node_list_and_sighup_reloads_it() {
    let plain = Server::start(&[]);
    let mut c = plain.connect();
    // memcached has no `config` command.
    c.roundtrip(b"config get cluster\r\n", b"ERROR\r\n");
    if !larder_only() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cluster");
    std::fs::write(
        &path,
        "# nodes\nn1.example|10.0.0.1|11211\nn2.example|10.0.0.2|11211\n",
    )
    .unwrap();
    let opt = format!("cluster_config={}", path.display());
    let s = Server::start(&["-o", &opt]);
    let mut c = s.connect();
    let body = "1\nn1.example|10.0.0.1|11211 n2.example|10.0.0.2|11211\n";
    c.roundtrip(
        b"config get cluster\r\n",
        format!("CONFIG cluster 0 {}\r\n{body}\r\nEND\r\n", body.len()).as_bytes(),
    );
    c.roundtrip(b"config get other\r\n", b"ERROR\r\n");
    c.roundtrip(b"config set cluster\r\n", b"ERROR\r\n");
    // Binary Config Get (0x60), on a connection of its own (the first byte picks the
    // dialect).
    let mut b = s.connect();
    let mut f = vec![0x80, 0x60, 0, 7, 0, 0, 0, 0, 0, 0, 0, 7];
    f.extend_from_slice(&[0; 12]);
    f.extend_from_slice(b"cluster");
    b.send(&f);
    let head = b.read_exact(24);
    assert_eq!(head[..2], [0x81, 0x60]);
    assert_eq!(head[6..8], [0, 0], "success");
    let n = u32::from_be_bytes([head[8], head[9], head[10], head[11]]) as usize;
    assert_eq!(b.read_exact(n), body.as_bytes());
    // SIGHUP reloads; a changed list gets a new version.
    std::fs::write(&path, "n3.example||11213\n").unwrap();
    s.signal(libc::SIGHUP);
    std::thread::sleep(std::time::Duration::from_millis(300));
    let body = "2\nn3.example||11213\n";
    c.roundtrip(
        b"config get cluster\r\n",
        format!("CONFIG cluster 0 {}\r\n{body}\r\nEND\r\n", body.len()).as_bytes(),
    );
    // A broken file keeps the previous list.
    std::fs::write(&path, "garbage\n").unwrap();
    s.signal(libc::SIGHUP);
    std::thread::sleep(std::time::Duration::from_millis(300));
    c.roundtrip(
        b"config get cluster\r\n",
        format!("CONFIG cluster 0 {}\r\n{body}\r\nEND\r\n", body.len()).as_bytes(),
    );
}

#[test]
fn stats_hotkeys_reports_the_most_requested_keys() {
    if !larder_only() {
        return;
    }
    let s = Server::start(&["-t", "2"]);
    let mut c = s.connect();
    c.roundtrip(b"set hot 0 0 1\r\nx\r\n", b"STORED\r\n");
    let mut batch = Vec::new();
    for i in 0..20_000 {
        batch.extend_from_slice(b"get hot\r\n");
        if i % 4 == 0 {
            batch.extend_from_slice(b"mg warm v\r\n");
        }
        batch.extend_from_slice(format!("get cold{i}\r\n").as_bytes());
    }
    batch.extend_from_slice(b"mn\r\n");
    c.send(&batch);
    // Drain the replies.
    loop {
        if c.read_line() == b"MN\r\n" {
            break;
        }
    }
    let rows = c.stats("hotkeys 3");
    assert_eq!(rows[0], ("hotkeys_sample_every".into(), "64".into()));
    assert_eq!(rows[1], ("hotkeys_interval".into(), "60".into()));
    assert_eq!(rows[2].0, "hot:1:hot", "{rows:?}");
    let hot: f64 = rows[2].1.parse().unwrap();
    assert!((hot - 20_000.0).abs() < 4_000.0, "{rows:?}");
    assert_eq!(rows[3].0, "hot:2:warm", "{rows:?}");
    assert!(rows.len() <= 5);
    c.roundtrip(
        b"stats hotkeys x\r\n",
        b"CLIENT_ERROR usage: stats hotkeys [N]\r\n",
    );
    c.roundtrip(
        b"stats hotkeys 0\r\n",
        b"CLIENT_ERROR usage: stats hotkeys [N]\r\n",
    );
}

#[test]
fn no_hotkeys_turns_the_sampling_off() {
    if !larder_only() {
        return;
    }
    let s = Server::start(&["-o", "no_hotkeys"]);
    let mut c = s.connect();
    c.roundtrip(b"set hot 0 0 1\r\nx\r\n", b"STORED\r\n");
    let batch = b"get hot\r\n".repeat(1000);
    c.send(&batch);
    for _ in 0..1000 {
        c.expect(b"VALUE hot 0 1\r\nx\r\nEND\r\n");
    }
    c.roundtrip(
        b"stats hotkeys\r\n",
        b"CLIENT_ERROR hot key tracking is off (-o no_hotkeys)\r\n",
    );
    assert!(c
        .stats("settings")
        .contains(&("hotkeys".into(), "no".into())));
}

#[test]
fn meta_commands_count_in_the_per_class_counters() {
    let s = Server::start(&[]);
    let mut c = s.connect();
    c.roundtrip(b"ms a 1\r\n1\r\n", b"HD\r\n");
    c.roundtrip(b"mg a v\r\n", b"VA 1\r\n1\r\n");
    c.roundtrip(b"ma a\r\n", b"HD\r\n");
    c.roundtrip(b"md a\r\n", b"HD\r\n");
    let slabs = c.stats("slabs");
    for (name, want) in [
        ("1:cmd_set", "1"),
        ("1:get_hits", "1"),
        ("1:incr_hits", "1"),
        ("1:delete_hits", "1"),
    ] {
        let got = slabs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str());
        assert_eq!(got, Some(want), "{name} in {slabs:?}");
    }
}

/// What the Prometheus memcached exporter reads, checked field by field. Source checked:
/// prometheus/memcached_exporter, `pkg/exporter/exporter.go` (`Collect`, `parseStats`,
/// `collectSlabMetrics`, `parseStatsSettings`, `parse`/`parseBool`/`parseTimeval`/`sum`),
/// and the client it vendors, grobie/gomemcache's `memcache/memcache.go`
/// (`statsFromAddr`, `statsSettingsFromAddr`).
///
/// The client sends `stats`, `stats slabs` and `stats items` on one connection and splits
/// each line on single spaces: a 3-token `STAT name value` line is kept, its name split on
/// `:`: one part is a global stat (so `stats slabs`' `total_malloced` overwrites `stats`'),
/// two parts `CLASS:field` a slab field, three parts `items:CLASS:field` an items field,
/// where CLASS that is not an integer is an error. `stats settings` lines must have 3 or 4
/// tokens, else an error. Any client error, or a failed parse of a field that is present
/// (a float, `yes`/`no` for the booleans, `SECONDS.MICROS` for rusage), sets
/// `memcached_up 0`; a missing field is skipped, except `cmd_set` with `cas_misses`,
/// `cas_hits`, `cas_badval` globally and, with `--enable.slab`, `cmd_set`, `cas_hits`,
/// `cas_badval` in every slab class, which must be there. This test asks more: every
/// field the exporter reads that memcached 1.6.18 prints must be present (slab
/// `mem_requested`, which memcached 1.6 prints in `stats items`, and the items fields
/// memcached does not print are checked only when present), with a value of the type the
/// exporter parses, while clients write items of several size classes.
#[test]
fn memcached_exporter_fields_present_and_parsable_under_load() {
    use std::collections::HashMap;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    fn is_float(v: &str) -> bool {
        // Go's strconv.ParseFloat accepts more (inf, exponents); plain decimals are what
        // memcached prints.
        !v.is_empty()
            && v.chars()
                .all(|c| c.is_ascii_digit() || c == '.' || c == '-')
            && v.parse::<f64>().is_ok()
    }
    fn is_timeval(v: &str) -> bool {
        let parts: Vec<&str> = v.split('.').collect();
        parts.len() == 2 && parts.iter().all(|p| is_float(p))
    }
    fn is_bool(v: &str) -> bool {
        v == "yes" || v == "no"
    }

    #[derive(Default)]
    struct Scrape {
        stats: HashMap<String, String>,
        slabs: HashMap<i64, HashMap<String, String>>,
        items: HashMap<i64, HashMap<String, String>>,
        settings: HashMap<String, String>,
    }

    // grobie/gomemcache's statsFromAddr and statsSettingsFromAddr, as Rust.
    fn scrape(c: &mut Client) -> Scrape {
        let mut s = Scrape::default();
        for cmd in ["stats", "stats slabs", "stats items"] {
            c.send(format!("{cmd}\r\n").as_bytes());
            let text = String::from_utf8(c.read_until_end()).unwrap();
            assert!(!text.starts_with("CLIENT_ERROR "), "{cmd}: {text}");
            assert!(text.ends_with("END\r\n"), "{cmd}: {text}");
            for line in text.split_inclusive("\r\n") {
                if line == "END\r\n" {
                    break;
                }
                let tok: Vec<&str> = line.split(' ').collect();
                assert!(
                    tok.len() == 3 && tok[0] == "STAT",
                    "{cmd}: the exporter skips {line:?}"
                );
                let val = tok[2].trim().to_string();
                let f: Vec<&str> = tok[1].split(':').collect();
                match f.len() {
                    1 => {
                        s.stats.insert(tok[1].to_string(), val);
                    }
                    2 => {
                        let class: i64 = f[0]
                            .parse()
                            .unwrap_or_else(|_| panic!("{cmd}: {line:?} fails Stats()"));
                        s.slabs
                            .entry(class)
                            .or_default()
                            .insert(f[1].to_string(), val);
                    }
                    3 => {
                        let class: i64 = f[1]
                            .parse()
                            .unwrap_or_else(|_| panic!("{cmd}: {line:?} fails Stats()"));
                        s.items
                            .entry(class)
                            .or_default()
                            .insert(f[2].to_string(), val);
                    }
                    _ => {}
                }
            }
        }
        c.send(b"stats settings\r\n");
        let text = String::from_utf8(c.read_until_end()).unwrap();
        for line in text.split_inclusive("\r\n") {
            if line == "END\r\n" {
                break;
            }
            let tok: Vec<&str> = line.split(' ').collect();
            match tok.len() {
                3 => {
                    s.settings
                        .insert(tok[1].to_string(), tok[2].trim().to_string());
                }
                // The client's own quirk: it keeps the first value twice.
                4 => {
                    s.settings
                        .insert(tok[1].to_string(), tok[2].trim().to_string());
                }
                _ => panic!("stats settings: {line:?} fails StatsSettings()"),
            }
        }
        s
    }

    fn check(s: &Scrape) {
        let need = |m: &HashMap<String, String>, what: &str, name: &str, ok: fn(&str) -> bool| {
            let v = m
                .get(name)
                .unwrap_or_else(|| panic!("{what}: no {name} in {m:?}"));
            assert!(ok(v), "{what}: {name} = {v:?} does not parse");
        };
        let if_present = |m: &HashMap<String, String>, what: &str, name: &str| {
            if let Some(v) = m.get(name) {
                assert!(is_float(v), "{what}: {name} = {v:?} does not parse");
            }
        };
        // parseStats, global.
        assert!(s.stats.contains_key("version"));
        for op in ["get", "delete", "incr", "decr", "cas", "touch"] {
            need(&s.stats, "stats", &format!("{op}_hits"), is_float);
            need(&s.stats, "stats", &format!("{op}_misses"), is_float);
        }
        for name in [
            "uptime",
            "time",
            "cas_badval",
            "cmd_flush",
            "cmd_set",
            "bytes",
            "limit_maxbytes",
            "curr_items",
            "total_items",
            "bytes_read",
            "bytes_written",
            "curr_connections",
            "total_connections",
            "rejected_connections",
            "conn_yields",
            "listen_disabled_num",
            "evictions",
            "reclaimed",
            "store_too_large",
            "store_no_memory",
            "lru_crawler_starts",
            "direct_reclaims",
            "crawler_items_checked",
            "crawler_reclaimed",
            "moves_to_cold",
            "moves_to_warm",
            "moves_within_lru",
            "total_malloced",
            "accepting_conns",
        ] {
            need(&s.stats, "stats", name, is_float);
        }
        need(&s.stats, "stats", "rusage_user", is_timeval);
        need(&s.stats, "stats", "rusage_system", is_timeval);
        // The extstore and proxy blocks are parsed only when their marker is present;
        // larder prints neither.
        if larder_only() {
            assert!(!s.stats.contains_key("extstore_limit_maxbytes"));
            assert!(!s.stats.contains_key("proxy_backend_total"));
        }
        // parseStats, per class of `stats items`.
        assert!(s.items.len() >= 3, "items in {} classes", s.items.len());
        for (class, u) in &s.items {
            let what = format!("stats items class {class}");
            for name in [
                "number",
                "age",
                "hits_to_hot",
                "hits_to_warm",
                "hits_to_cold",
                "hits_to_temp",
                "number_hot",
                "number_warm",
                "number_cold",
                "age_hot",
                "age_warm",
                "mem_requested",
                "evicted",
                "evicted_nonzero",
                "evicted_time",
                "outofmemory",
                "tailrepairs",
                "reclaimed",
                "expired_unfetched",
                "evicted_unfetched",
                "crawler_reclaimed",
                "moves_to_cold",
                "moves_to_warm",
                "moves_within_lru",
            ] {
                need(u, &what, name, is_float);
            }
            for name in ["store_too_large", "store_no_memory", "number_temp"] {
                if_present(u, &what, name);
            }
        }
        // collectSlabMetrics (--enable.slab), per class of `stats slabs`.
        assert!(s.slabs.len() >= 3, "slabs in {} classes", s.slabs.len());
        for (class, v) in &s.slabs {
            let what = format!("stats slabs class {class}");
            for name in [
                "get_hits",
                "delete_hits",
                "incr_hits",
                "decr_hits",
                "cas_hits",
                "touch_hits",
                "cas_badval",
                "cmd_set",
                "chunk_size",
                "chunks_per_page",
                "total_pages",
                "total_chunks",
                "used_chunks",
                "free_chunks",
                "free_chunks_end",
            ] {
                need(v, &what, name, is_float);
            }
            if_present(v, &what, "mem_requested");
        }
        // parseStatsSettings.
        need(&s.settings, "stats settings", "maxconns", is_float);
        need(&s.settings, "stats settings", "lru_crawler", is_bool);
        need(
            &s.settings,
            "stats settings",
            "lru_maintainer_thread",
            is_bool,
        );
        for name in [
            "lru_crawler_sleep",
            "lru_crawler_tocrawl",
            "hot_lru_pct",
            "warm_lru_pct",
            "hot_max_factor",
            "warm_max_factor",
        ] {
            need(&s.settings, "stats settings", name, is_float);
        }
    }

    let s = Server::start(&["-m", "64"]);
    let stop = Arc::new(AtomicBool::new(false));
    let mut load = Vec::new();
    for t in 0..3u64 {
        let addr = s.addr;
        let stop = stop.clone();
        load.push(std::thread::spawn(move || {
            let mut c = Client::tcp(addr);
            let mut i = t;
            while !stop.load(Ordering::Relaxed) {
                // Sizes from a few bytes to 40 KB: items in many classes.
                let len = [1usize, 90, 300, 1_000, 5_000, 40_000][(i % 6) as usize];
                let key = format!("t{t}k{}", i % 300);
                c.send(format!("set {key} 0 0 {len}\r\n").as_bytes());
                c.send(&vec![b'v'; len]);
                c.roundtrip(b"\r\n", b"STORED\r\n");
                c.send(format!("get {key} nope{i}\r\n").as_bytes());
                c.read_until_end();
                c.send(format!("touch {key} 0\r\n").as_bytes());
                c.read_line();
                c.send(format!("delete t{t}k{}\r\n", (i * 7) % 300).as_bytes());
                c.read_line();
                c.send(b"incr n 1\r\n");
                if c.read_line() == b"NOT_FOUND\r\n" {
                    c.roundtrip(b"set n 0 0 1\r\n0\r\n", b"STORED\r\n");
                }
                i += 3;
            }
        }));
    }
    let mut c = s.connect();
    // Let every class fill before the first scrape.
    std::thread::sleep(std::time::Duration::from_millis(300));
    for _ in 0..5 {
        check(&scrape(&mut c));
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    stop.store(true, Ordering::Relaxed);
    for t in load {
        t.join().unwrap();
    }
    check(&scrape(&mut c));
}
