//! UDP (`-U`): memcached's frame header, replies split into datagrams of at most 1400
//! bytes, one response object per key of a multiget, malformed datagrams dropped, and the
//! startup refusals. A raw `std::net::UdpSocket` client speaks the framing; libmemcached's
//! `memccp --udp` and `memcaslap -U` are the real clients.
//!
//! `LARDER_TEST_BIN=/usr/bin/memcached cargo test --test udp` runs the transcripts against
//! memcached 1.6.18, whose replies they encode (larder-only checks are skipped there).

mod common;

use common::{larder_only, server_bin, Rng, Server, REPLY_TIMEOUT};
use std::net::{SocketAddr, UdpSocket};
use std::process::Command;

/// A UDP port that was free a moment ago.
fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .expect("bind an ephemeral UDP port")
}

/// A server with UDP on a free port (one worker against another binary, whose several
/// threads reading one socket could reorder a client's datagrams).
fn start(extra: &[&str]) -> (Server, SocketAddr) {
    let port = free_udp_port();
    let port_arg = port.to_string();
    let threads = if larder_only() { "2" } else { "1" };
    let mut args = vec!["-U", &port_arg];
    if !extra.contains(&"-t") {
        args.extend(["-t", threads]);
    }
    args.extend_from_slice(extra);
    let s = Server::start(&args);
    (s, SocketAddr::from(([127, 0, 0, 1], port)))
}

/// One reply datagram: its header fields and payload.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Datagram {
    id: u16,
    seq: u16,
    total: u16,
    payload: Vec<u8>,
}

impl Datagram {
    fn parse(bytes: &[u8]) -> Datagram {
        assert!(bytes.len() >= 8, "reply datagram of {} bytes", bytes.len());
        assert!(
            bytes.len() <= 1400,
            "reply datagram of {} bytes",
            bytes.len()
        );
        let be = |i: usize| u16::from_be_bytes([bytes[i], bytes[i + 1]]);
        assert_eq!(be(6), 0, "reserved field");
        Datagram {
            id: be(0),
            seq: be(2),
            total: be(4),
            payload: bytes[8..].to_vec(),
        }
    }
}

/// A raw UDP client.
struct Udp {
    sock: UdpSocket,
    server: SocketAddr,
    next_id: u16,
}

/// The request id of the `mn` that marks the end of a request's replies.
const SYNC_ID: u16 = 0xfff0;

impl Udp {
    fn new(server: SocketAddr) -> Udp {
        let sock = UdpSocket::bind("127.0.0.1:0").expect("bind client");
        sock.set_read_timeout(Some(REPLY_TIMEOUT)).unwrap();
        Udp {
            sock,
            server,
            next_id: 1,
        }
    }

    fn send_raw(&self, datagram: &[u8]) {
        self.sock.send_to(datagram, self.server).expect("send");
    }

    fn send(&self, id: u16, payload: &[u8]) {
        let mut d = vec![0u8; 8];
        d[..2].copy_from_slice(&id.to_be_bytes());
        d[5] = 1; // seq 0, total 1
        d.extend_from_slice(payload);
        self.send_raw(&d);
    }

    /// Every datagram received until the reply to a following `mn` (sent with
    /// [`SYNC_ID`]): a client's datagrams are served in order.
    fn until_sync(&self) -> Vec<Datagram> {
        self.send(SYNC_ID, b"mn\r\n");
        let mut got = Vec::new();
        let mut buf = vec![0u8; 65536];
        loop {
            let n = self.sock.recv(&mut buf).expect("a reply datagram");
            let d = Datagram::parse(&buf[..n]);
            if d.id == SYNC_ID {
                assert_eq!(d.payload, b"MN\r\n");
                return got;
            }
            got.push(d);
        }
    }

    /// Sends `payload` as one request and returns the datagrams it answered.
    fn request(&mut self, payload: &[u8]) -> Vec<Datagram> {
        let id = self.next_id;
        self.next_id += 1;
        self.send(id, payload);
        let got = self.until_sync();
        for d in &got {
            assert_eq!(d.id, id, "request id echoed");
        }
        got
    }

    /// The payloads answered to `payload`, each as (seq, total, text).
    fn transcript(&mut self, payload: &[u8]) -> Vec<(u16, u16, String)> {
        self.request(payload)
            .into_iter()
            .map(|d| {
                (
                    d.seq,
                    d.total,
                    String::from_utf8_lossy(&d.payload).into_owned(),
                )
            })
            .collect()
    }
}

fn t(seq: u16, total: u16, text: &str) -> (u16, u16, String) {
    (seq, total, text.to_string())
}

#[test]
fn get_over_udp_sees_a_set_over_tcp_and_echoes_the_request_id() {
    let (s, udp) = start(&[]);
    let mut c = s.connect();
    c.roundtrip(b"set small 1 0 2\r\nhi\r\n", b"STORED\r\n");
    let mut u = Udp::new(udp);
    u.send(0xbeef, b"get small\r\n");
    let got = u.until_sync();
    assert_eq!(
        got,
        [Datagram {
            id: 0xbeef,
            seq: 0,
            total: 1,
            payload: b"VALUE small 1 2\r\nhi\r\nEND\r\n".to_vec()
        }]
    );
    // Storage over UDP is seen over TCP.
    assert_eq!(
        u.transcript(b"set u 5 0 2\r\nab\r\n"),
        [t(0, 1, "STORED\r\n")]
    );
    c.roundtrip(b"get u\r\n", b"VALUE u 5 2\r\nab\r\nEND\r\n");
    assert_eq!(u.transcript(b"bogus\r\n"), [t(0, 1, "ERROR\r\n")]);
}

#[test]
fn a_large_value_spans_datagrams_numbered_by_seq_and_total() {
    let (s, udp) = start(&[]);
    let mut c = s.connect();
    let value: Vec<u8> = (0..5000u32).map(|i| b'a' + (i % 26) as u8).collect();
    let mut set = b"set big 3 0 5000\r\n".to_vec();
    set.extend_from_slice(&value);
    set.extend_from_slice(b"\r\n");
    c.roundtrip(&set, b"STORED\r\n");
    let mut u = Udp::new(udp);
    let got = u.request(b"get big\r\n");
    // 18 + 5000 + 2 + 5 = 5025 bytes: 3 full datagrams of 1392 and one of 849.
    assert_eq!(got.len(), 4, "{got:?}");
    let mut whole = Vec::new();
    for (i, d) in got.iter().enumerate() {
        assert_eq!((d.seq, d.total), (i as u16, 4));
        let want = if i < 3 { 1392 } else { 849 };
        assert_eq!(d.payload.len(), want, "datagram {i}");
        whole.extend_from_slice(&d.payload);
    }
    let mut expected = b"VALUE big 3 5000\r\n".to_vec();
    expected.extend_from_slice(&value);
    expected.extend_from_slice(b"\r\nEND\r\n");
    assert_eq!(whole, expected);
}

#[test]
fn a_multiget_sends_one_response_object_per_key() {
    let (s, udp) = start(&[]);
    let mut c = s.connect();
    c.roundtrip(b"set a 0 0 1\r\nx\r\n", b"STORED\r\n");
    c.roundtrip(b"set b 2 0 2\r\nyy\r\n", b"STORED\r\n");
    let mut u = Udp::new(udp);
    let va = "VALUE a 0 1\r\nx\r\n";
    let vb = "VALUE b 2 2\r\nyy\r\n";
    // Each hit is its own sequence, END rides on the last key's.
    assert_eq!(
        u.transcript(b"get a b\r\n"),
        [t(0, 1, va), t(0, 1, &format!("{vb}END\r\n"))]
    );
    // A missing last key: END alone.
    assert_eq!(
        u.transcript(b"get a nope\r\n"),
        [t(0, 1, va), t(0, 1, "END\r\n")]
    );
    // A missing key in the middle sends nothing; a missing first key, an empty object.
    assert_eq!(
        u.transcript(b"get a nope b\r\n"),
        [t(0, 1, va), t(0, 1, &format!("{vb}END\r\n"))]
    );
    assert_eq!(
        u.transcript(b"get nope a\r\n"),
        [t(0, 0, ""), t(0, 1, &format!("{va}END\r\n"))]
    );
    assert_eq!(
        u.transcript(b"get x y z\r\n"),
        [t(0, 0, ""), t(0, 1, "END\r\n")]
    );
    assert_eq!(u.transcript(b"get x\r\n"), [t(0, 1, "END\r\n")]);
    assert_eq!(
        u.transcript(b"gat 0 a nope\r\n"),
        [t(0, 1, va), t(0, 1, "END\r\n")]
    );
    // Several commands in one datagram: each answered in turn.
    assert_eq!(
        u.transcript(b"get a\r\nget nope b\r\n"),
        [
            t(0, 1, &format!("{va}END\r\n")),
            t(0, 0, ""),
            t(0, 1, &format!("{vb}END\r\n"))
        ]
    );
    // A big value between small ones: its own four datagrams.
    let mut set = b"set big 0 0 5000\r\n".to_vec();
    set.extend_from_slice(&[b'z'; 5000]);
    set.extend_from_slice(b"\r\n");
    c.roundtrip(&set, b"STORED\r\n");
    let got = u.request(b"get a big a\r\n");
    let shape: Vec<(u16, u16, usize)> = got
        .iter()
        .map(|d| (d.seq, d.total, d.payload.len()))
        .collect();
    assert_eq!(
        shape,
        [
            (0, 1, 16),
            (0, 4, 1392),
            (1, 4, 1392),
            (2, 4, 1392),
            (3, 4, 844),
            (0, 1, 21)
        ]
    );
}

#[test]
fn meta_and_binary_commands_work_over_udp() {
    let (_s, udp) = start(&[]);
    let mut u = Udp::new(udp);
    assert_eq!(u.transcript(b"ms m 2 T0\r\nhi\r\n"), [t(0, 1, "HD\r\n")]);
    assert_eq!(
        u.transcript(b"mg m v f\r\n"),
        [t(0, 1, "VA 2 f0\r\nhi\r\n")]
    );
    assert_eq!(u.transcript(b"mn\r\n"), [t(0, 1, "MN\r\n")]);
    // Quiet mode: a miss sends nothing, a hit its reply.
    assert_eq!(
        u.transcript(b"mg nope v q\r\nmg m v q\r\nmn\r\n"),
        [t(0, 1, "VA 2\r\nhi\r\n"), t(0, 1, "MN\r\n")]
    );
    assert_eq!(u.transcript(b"md m q\r\nmg m v\r\n"), [t(0, 1, "EN\r\n")]);
    // noreply: nothing.
    assert_eq!(u.transcript(b"set q 0 0 1 noreply\r\nz\r\n"), []);
    assert_eq!(
        u.transcript(b"get q\r\n"),
        [t(0, 1, "VALUE q 0 1\r\nz\r\nEND\r\n")]
    );
    // Binary (memcached's UDP reads either dialect, by each datagram's first byte): a
    // noop, and a get of "q" (status, flags and value; the CAS differs between servers).
    let noop = [
        0x80, 0x0a, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 0,
    ];
    let got = u.request(&[noop, noop].concat());
    assert_eq!(got.len(), 2, "one reply per binary request: {got:?}");
    for d in &got {
        assert_eq!((d.seq, d.total, d.payload.len()), (0, 1, 24));
        assert_eq!(&d.payload[..2], [0x81, 0x0a]);
        assert_eq!(&d.payload[12..16], [0, 0, 0, 7], "opaque echoed");
    }
    let mut get = vec![0x80, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 9];
    get.extend_from_slice(&[0; 8]);
    get.push(b'q');
    let got = u.request(&get);
    assert_eq!(got.len(), 1, "{got:?}");
    let p = &got[0].payload;
    assert_eq!((p[0], p[1], &p[6..8]), (0x81, 0x00, &[0u8, 0][..]), "{p:?}");
    assert_eq!(&p[24..], [0, 0, 0, 0, b'z'], "flags then value");
    // A text command after a binary one in the same datagram is read as binary, as in
    // memcached: the datagram's first byte decides.
    assert_eq!(u.request(&[&noop[..], b"mn\r\n"].concat()).len(), 1);
}

#[test]
fn malformed_datagrams_are_dropped_without_reply_and_counted() {
    let (s, udp) = start(&[]);
    let mut c = s.connect();
    c.roundtrip(b"set a 0 0 1\r\nx\r\n", b"STORED\r\n");
    let mut u = Udp::new(udp);
    let get = b"get a\r\n";
    let frame = |id: u16, seq: u16, total: u16, payload: &[u8]| {
        let mut d = Vec::new();
        for f in [id, seq, total, 0] {
            d.extend_from_slice(&f.to_be_bytes());
        }
        d.extend_from_slice(payload);
        d
    };
    u.send_raw(b"\x00\x01\x00"); // shorter than a header
    u.send_raw(&frame(2, 0, 1, b"")); // a header alone
    u.send_raw(&frame(3, 0, 2, get)); // the first of two datagrams
    u.send_raw(&frame(4, 1, 2, get)); // the second
    u.send_raw(&frame(5, 0, 0, get)); // a total of 0
    assert_eq!(u.until_sync(), [], "malformed datagrams get no reply");
    // What memcached does not check: the sequence number and the reserved field.
    u.send_raw(&frame(6, 3, 1, get));
    let mut reserved = frame(7, 0, 1, get);
    reserved[6] = 0xff;
    u.send_raw(&reserved);
    let got = u.until_sync();
    assert_eq!(got.iter().map(|d| d.id).collect::<Vec<_>>(), [6, 7]);
    // A partial request is dropped with its datagram: nothing carries over.
    assert_eq!(u.transcript(b"get "), []);
    assert_eq!(u.transcript(b"a\r\n"), [t(0, 1, "ERROR\r\n")]);
    if larder_only() {
        // memcached keeps waiting for the rest of a data block across datagrams (the next
        // datagram, from anyone, completes it); larder drops it with its datagram.
        assert_eq!(u.transcript(b"set y 0 0 5\r\nab\r\n"), []);
        assert_eq!(
            u.transcript(b"get a\r\n"),
            [t(0, 1, "VALUE a 0 1\r\nx\r\nEND\r\n")]
        );
        assert_eq!(c.stat("udp_datagrams_dropped"), 5);
        // Every datagram read, and every one sent, is counted.
        assert!(c.stat("udp_datagrams_read") >= 17);
        assert!(c.stat("udp_datagrams_written") >= 9);
    }
}

#[test]
fn stats_show_the_udp_port_and_sockets() {
    let (s, udp) = start(&[]);
    let mut c = s.connect();
    let settings = c.stats("settings");
    let get = |name: &str| {
        settings
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("no {name}"))
    };
    assert_eq!(get("udpport"), udp.port().to_string());
    let conns = c.stats("conns");
    let udp_rows = conns
        .iter()
        .filter(|(k, v)| k.ends_with(":UDP") && v == "UDP");
    let threads = if larder_only() { 2 } else { 1 };
    assert_eq!(
        udp_rows.count(),
        threads,
        "one UDP socket per worker: {conns:?}"
    );
    let addr = format!("udp:{udp}");
    assert!(
        conns
            .iter()
            .any(|(k, v)| k.ends_with(":addr") && *v == addr),
        "{conns:?}"
    );
    // Without -U there is no UDP socket.
    let plain = Server::start(&[]);
    let mut c = plain.connect();
    assert!(!c.stats("conns").iter().any(|(k, _)| k.ends_with(":UDP")));
    if larder_only() {
        assert!(!c.stats("").iter().any(|(k, _)| k.starts_with("udp_")));
    }
}

#[test]
fn a_huge_udp_reply_does_not_stall_other_clients() {
    // One worker: the TCP client and the UDP socket share it.
    let (s, udp) = start(&["-t", "1"]);
    let mut c = s.connect();
    let mut set = b"set v 0 0 100000\r\n".to_vec();
    set.extend_from_slice(&[b'v'; 100_000]);
    set.extend_from_slice(b"\r\n");
    c.roundtrip(&set, b"STORED\r\n");
    // 300 hits of 100 KB: 30 MB of reply to a client that reads none of it.
    let mut req = b"get".to_vec();
    for _ in 0..300 {
        req.extend_from_slice(b" v");
    }
    req.extend_from_slice(b"\r\n");
    let flood = Udp::new(udp);
    flood.send(1, &req);
    // Meanwhile other clients are served.
    for _ in 0..20 {
        c.roundtrip(b"mn\r\n", b"MN\r\n");
    }
    let mut u = Udp::new(udp);
    assert_eq!(u.transcript(b"mn\r\n"), [t(0, 1, "MN\r\n")]);
    c.roundtrip(b"get nope\r\n", b"END\r\n");
    if larder_only() {
        // The whole reply went out (30 MB in datagrams of 1392 bytes), paced in parts.
        assert!(c.stat("udp_datagrams_written") > 21_000);
    }
}

#[test]
fn random_datagrams_never_hurt_the_server() {
    if !larder_only() {
        return; // memcached carries state from one datagram to the next
    }
    // One worker, so that the check after the flood is served after every datagram of it.
    let (s, udp) = start(&["-t", "1"]);
    let seed = Rng::seed();
    println!("seed {seed} (LARDER_TEST_SEED replays it)");
    let mut rng = Rng::new(seed);
    let pieces: [&[u8]; 12] = [
        b"get a b c\r\n",
        b"set a 0 0 3\r\nabc\r\n",
        b"set b 0 0 100000\r\n",
        b"mg a v q k\r\n",
        b"ms c 2 I\r\nzz\r\n",
        b"gat 0 a a a\r\n",
        b"quit\r\n",
        b"stats\r\n",
        b"\x80\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00a",
        b"\x80\x0a\x00\x00\x00\x00\x00\x00\x00\x00\x00\xff",
        b"\r\n",
        b" ",
    ];
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    for _ in 0..3000 {
        let mut d = Vec::new();
        let header_len = if rng.chance(1, 10) { rng.below(9) } else { 8 };
        for _ in 0..header_len {
            d.push(if rng.chance(1, 2) {
                0
            } else {
                rng.next() as u8
            });
        }
        if header_len == 8 && rng.chance(3, 4) {
            d[4] = 0;
            d[5] = 1;
        }
        for _ in 0..rng.below(6) {
            let p = pieces[rng.below(pieces.len())];
            let cut = if rng.chance(1, 5) {
                rng.below(p.len() + 1)
            } else {
                p.len()
            };
            d.extend_from_slice(&p[..cut]);
            if rng.chance(1, 10) {
                d.push(rng.next() as u8);
            }
        }
        let _ = sock.send_to(&d, udp); // replies are left unread
    }
    // Still serving, over UDP and TCP, with the data intact. The flood overflows the
    // socket's receive queue, where the kernel drops datagrams (UDP is lossy): the first
    // probes may be lost too.
    let mut u = Udp::new(udp);
    u.sock
        .set_read_timeout(Some(std::time::Duration::from_millis(200)))
        .unwrap();
    let mut buf = [0u8; 2048];
    let answered = (0..100).any(|_| {
        u.send(SYNC_ID, b"mn\r\n");
        matches!(u.sock.recv(&mut buf), Ok(n) if buf[..n].ends_with(b"MN\r\n"))
    });
    assert!(answered, "no reply after the flood");
    // Whatever else the probes brought in, then the normal timeout again.
    while u.sock.recv(&mut buf).is_ok() {}
    u.sock.set_read_timeout(Some(REPLY_TIMEOUT)).unwrap();
    let mut c = s.connect();
    c.roundtrip(b"set canary 0 0 2\r\nok\r\n", b"STORED\r\n");
    assert_eq!(
        u.transcript(b"get canary\r\n"),
        [t(0, 1, "VALUE canary 0 2\r\nok\r\nEND\r\n")]
    );
    assert!(c.stat("udp_datagrams_dropped") > 0);
}

#[test]
fn memccp_stores_files_over_udp() {
    let (s, udp) = start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("udpfile.txt");
    let content: String = (0..3000)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    std::fs::write(&path, &content).unwrap();
    let servers = format!("--servers=127.0.0.1:{}", udp.port());
    for binary in [false, true] {
        let mut cmd = Command::new("memccp");
        cmd.args(["--udp", &servers]);
        if binary {
            cmd.arg("--binary");
        }
        let out = cmd
            .arg(&path)
            .output()
            .expect("memccp (libmemcached-tools) must be installed: scripts/test.sh does it");
        assert!(out.status.success(), "memccp failed: {out:?}");
    }
    let mut c = s.connect();
    let mut expected = format!("VALUE udpfile.txt 0 {}\r\n", content.len()).into_bytes();
    expected.extend_from_slice(content.as_bytes());
    expected.extend_from_slice(b"\r\nEND\r\n");
    c.roundtrip(b"get udpfile.txt\r\n", &expected);
    assert_eq!(c.stat("cmd_set"), 2, "one set over text, one over binary");
}

/// A server whose UDP port is its TCP port (what libmemcached-based tools assume), killed
/// on drop.
struct SamePort {
    child: std::process::Child,
    port: u16,
}

impl SamePort {
    fn start() -> SamePort {
        for _ in 0..5 {
            let port = common::free_port();
            if UdpSocket::bind(("127.0.0.1", port)).is_err() {
                continue;
            }
            let mut cmd = Command::new(server_bin());
            let p = port.to_string();
            cmd.args(["-p", &p, "-U", &p, "-l", "127.0.0.1", "-t", "2"]);
            // SAFETY: geteuid has no preconditions.
            if unsafe { libc::geteuid() } == 0 {
                cmd.args(["-u", "root"]);
            }
            let mut child = cmd
                .stdout(std::process::Stdio::null())
                .spawn()
                .expect("spawn server");
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            let up = common::wait_for(std::time::Duration::from_secs(20), || {
                common::connect_listening(addr).is_some()
                    || child.try_wait().ok().flatten().is_some()
            });
            if up && child.try_wait().ok().flatten().is_none() {
                return SamePort { child, port };
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("no server with equal TCP and UDP ports");
    }
}

impl Drop for SamePort {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn memcaslap_gets_and_sets_over_udp() {
    let s = SamePort::start();
    let out = Command::new("memcaslap")
        .args([
            "-s",
            &format!("127.0.0.1:{}", s.port),
            "-U",
            "-t",
            "1s",
            "-T",
            "1",
            "-c",
            "4",
        ])
        .output()
        .expect("memcaslap (libmemcached-tools) must be installed: scripts/test.sh does it");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "memcaslap failed: {out:?}");
    let field = |name: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(": "))
            .unwrap_or_else(|| panic!("no {name} in {text}"))
            .trim()
            .parse()
            .unwrap()
    };
    let (gets, sets) = (field("cmd_get"), field("cmd_set"));
    assert!(gets > 100 && sets > 10, "{text}");
    // Every reply arrived, whole and in order; every get found the value set before it.
    assert_eq!(field("get_misses"), 0, "{text}");
    assert_eq!(field("packet_drop"), 0, "{text}");
    assert_eq!(field("packet_disorder"), 0, "{text}");
    assert!(field("udp_timeout") * 100 <= gets + sets, "{text}");
    let mut c = common::Client::tcp(SocketAddr::from(([127, 0, 0, 1], s.port)));
    // (memcaslap counts the requests it had in flight when it stopped, too.)
    assert!(c.stat("get_hits") * 100 >= gets * 99, "{text}");
    if larder_only() {
        assert!(c.stat("udp_datagrams_read") * 100 >= (gets + sets) * 99);
        assert_eq!(c.stat("udp_datagrams_dropped"), 0);
    }
}

#[test]
fn udp_on_a_public_address_needs_an_acknowledgement() {
    if !larder_only() {
        return; // larder's refusal
    }
    let port = free_udp_port().to_string();
    let run = |args: &[&str]| {
        Command::new(server_bin())
            .args(["-p", "0", "-U", &port])
            .args(args)
            .output()
            .expect("run larder")
    };
    for listen in ["0.0.0.0", "*", "192.0.2.1", "example.com", "127.0.0.1,::"] {
        let out = run(&["-l", listen]);
        assert_eq!(out.status.code(), Some(64), "-l {listen}: {out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("udp_allow_public"), "-l {listen}: {err}");
        assert!(err.contains("reflection"), "{err}");
    }
    // As memcached: no UDP with authentication.
    let dir = tempfile::tempdir().unwrap();
    let auth = dir.path().join("auth");
    std::fs::write(&auth, "u:p\n").unwrap();
    let out = run(&["-Y", auth.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(64));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Cannot use UDP with ascii authentication")
    );
    // Acknowledged, UDP serves on every IPv6 interface (besides the harness's 127.0.0.1),
    // reached here through ::1 where the host has IPv6.
    let (_s, udp) = start(&["-l", "::", "-o", "udp_allow_public"]);
    let Ok(sock) = UdpSocket::bind("[::1]:0") else {
        return; // no IPv6 here
    };
    sock.set_read_timeout(Some(REPLY_TIMEOUT)).unwrap();
    let v6 = SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, udp.port()));
    sock.send_to(b"\x00\x09\x00\x00\x00\x01\x00\x00mn\r\n", v6)
        .unwrap();
    let mut buf = [0u8; 64];
    let n = sock.recv(&mut buf).expect("a reply over IPv6");
    assert_eq!(&buf[..n], b"\x00\x09\x00\x00\x00\x01\x00\x00MN\r\n");
}
