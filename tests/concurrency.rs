//! Many connections across all workers on shared keys: incr and cas loops never
//! lose an update, readers never see a torn value, and `stats` adds up.

mod common;
use common::Server;
use std::sync::Arc;

#[test]
fn incr_from_many_connections_is_exact() {
    let s = Arc::new(Server::start(&["-t", "4"]));
    let mut setup = s.connect();
    for k in 0..4 {
        setup.roundtrip(
            format!("set ctr{k} 0 0 1\r\n0\r\n").as_bytes(),
            b"STORED\r\n",
        );
    }
    let clients = 16;
    let per_client = 300;
    let handles: Vec<_> = (0..clients)
        .map(|_| {
            let s = Arc::clone(&s);
            std::thread::spawn(move || {
                let mut c = s.connect();
                for i in 0..per_client {
                    c.send(format!("incr ctr{} 1\r\n", i % 4).as_bytes());
                    let line = c.read_line();
                    assert!(
                        line.ends_with(b"\r\n") && line[0].is_ascii_digit(),
                        "{line:?}"
                    );
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let mut total = 0;
    for k in 0..4 {
        setup.send(format!("get ctr{k}\r\n").as_bytes());
        let header = String::from_utf8(setup.read_line()).unwrap();
        let len: usize = header
            .trim_end()
            .rsplit(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let v: u64 = String::from_utf8(setup.read_exact(len))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        setup.expect(b"\r\nEND\r\n");
        assert_eq!(v, (clients * per_client / 4) as u64);
        total += v;
    }
    assert_eq!(total, (clients * per_client) as u64);
    assert_eq!(setup.stat("incr_hits"), (clients * per_client) as u64);
}

#[test]
fn cas_retry_loops_lose_no_update() {
    let s = Arc::new(Server::start(&["-t", "4"]));
    let mut setup = s.connect();
    setup.roundtrip(b"set shared 0 0 1\r\n0\r\n", b"STORED\r\n");
    let clients = 8;
    let per_client = 100;
    let handles: Vec<_> = (0..clients)
        .map(|_| {
            let s = Arc::clone(&s);
            std::thread::spawn(move || {
                let mut c = s.connect();
                let mut done = 0;
                while done < per_client {
                    c.send(b"gets shared\r\n");
                    let header = String::from_utf8(c.read_line()).unwrap();
                    let parts: Vec<&str> = header.split_whitespace().collect();
                    let len: usize = parts[3].parse().unwrap();
                    let cas: u64 = parts[4].parse().unwrap();
                    let v: u64 = String::from_utf8(c.read_exact(len))
                        .unwrap()
                        .parse()
                        .unwrap();
                    c.expect(b"\r\nEND\r\n");
                    let new = (v + 1).to_string();
                    c.send(format!("cas shared 0 0 {} {cas}\r\n{new}\r\n", new.len()).as_bytes());
                    match c.read_line().as_slice() {
                        b"STORED\r\n" => done += 1,
                        b"EXISTS\r\n" => {}
                        other => panic!("{other:?}"),
                    }
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    setup.roundtrip(b"get shared\r\n", b"VALUE shared 0 3\r\n800\r\nEND\r\n");
    assert_eq!(setup.stat("cas_hits"), (clients * per_client) as u64);
}

#[test]
fn readers_never_see_torn_values_and_stats_add_up() {
    let s = Arc::new(Server::start(&["-t", "4"]));
    let writers = 4;
    let readers = 4;
    let rounds = 300;
    let mut handles = Vec::new();
    for w in 0..writers {
        let s = Arc::clone(&s);
        handles.push(std::thread::spawn(move || {
            let mut c = s.connect();
            for i in 0..rounds {
                // Every value is one repeated byte: a torn read would mix two.
                let byte = b'a' + ((w + i) % 26) as u8;
                let len = 100 + (i * 37) % 3000;
                let mut req = format!("set hot{} 0 0 {len}\r\n", i % 3).into_bytes();
                req.extend(std::iter::repeat(byte).take(len));
                req.extend_from_slice(b"\r\n");
                c.roundtrip(&req, b"STORED\r\n");
            }
        }));
    }
    for _ in 0..readers {
        let s = Arc::clone(&s);
        handles.push(std::thread::spawn(move || {
            let mut c = s.connect();
            for i in 0..rounds {
                c.send(format!("get hot{}\r\n", i % 3).as_bytes());
                let line = c.read_line();
                if line == b"END\r\n" {
                    continue;
                }
                let header = String::from_utf8(line).unwrap();
                let len: usize = header
                    .trim_end()
                    .rsplit(' ')
                    .next()
                    .unwrap()
                    .parse()
                    .unwrap();
                let v = c.read_exact(len);
                assert!(v.iter().all(|b| *b == v[0]), "torn value");
                c.expect(b"\r\nEND\r\n");
            }
        }));
    }
    for h in handles {
        h.join().unwrap();
    }
    let mut c = s.connect();
    let st: std::collections::HashMap<_, _> = c.stats("").into_iter().collect();
    let n = |k: &str| st[k].parse::<u64>().unwrap();
    assert_eq!(n("cmd_set"), (writers * rounds) as u64);
    assert_eq!(n("cmd_get"), (readers * rounds) as u64);
    assert_eq!(n("get_hits") + n("get_misses"), n("cmd_get"));
    if common::larder_only() {
        // The harness's readiness probe, the workers' clients, and this one.
        assert_eq!(n("total_connections"), (1 + writers + readers + 1) as u64);
    }
}
