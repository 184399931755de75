//! Differential fuzzing against real memcached 1.6: the same random request streams
//! (valid, malformed, split and pipelined; classic and meta commands) go to memcached and
//! to larder, one connection each, and the reply bytes must be identical, including a dump
//! of every key's value at the end of each stream. memcached is the judge.
//!
//! Requires `memcached` on PATH (scripts/test.sh installs Debian's package).
//! `LARDER_DIFF_SEED=n` replays one seed; `LARDER_DIFF_ROUNDS` sets the count.

mod binary_frames;
mod common;
use binary_frames::frame;
use common::Server;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len() as u64) as usize]
    }
}

const KEYS: &[&str] = &["a", "b", "counter", "k1", "k2", "\u{e9}t\u{e9}"];

fn number(r: &mut Rng) -> String {
    match r.below(12) {
        0 => "-1".into(),
        1 => "18446744073709551615".into(),
        2 => "18446744073709551616".into(),
        3 => "abc".into(),
        4 => "4294967296".into(),
        5 => "".into(),
        6 => "0x10".into(),
        _ => r.below(100).to_string(),
    }
}

fn token(r: &mut Rng) -> String {
    token_with(r, true)
}

/// A random token; `long_keys` allows 251-byte keys. Multigets never get one:
/// memcached 1.6.18 answers a multiget with a bad key by dropping every reply queued
/// on the connection, including earlier commands' replies when they arrived in the
/// same read (timing-dependent, so no oracle); tests/text.rs pins that case alone.
fn token_with(r: &mut Rng, long_keys: bool) -> String {
    match r.below(10) {
        1 if !long_keys => "k".repeat(250),
        0 => "k".repeat(250),
        1 => "k".repeat(251),
        2 => "noreply".into(),
        3 => number(r),
        4 => String::from_utf8_lossy(&[b'!' + r.below(90) as u8; 3]).into_owned(),
        _ => r.pick(KEYS).to_string(),
    }
}

/// One random request (a line, maybe with a data block), as bytes.
fn request(r: &mut Rng) -> Vec<u8> {
    let key = r.pick(KEYS).to_string();
    let noreply = if r.below(5) == 0 { " noreply" } else { "" };
    let exptime = *r.pick(&["0", "0", "-1", "1000", "abc", "2592001"]);
    let line = match r.below(29) {
        0..=3 => {
            let verb = *r.pick(&["set", "add", "replace", "append", "prepend"]);
            let len = r.below(12) as usize;
            let claimed = match r.below(8) {
                0 => (len + 1).to_string(),
                1 => number(r),
                _ => len.to_string(),
            };
            let flags = if r.below(6) == 0 {
                number(r)
            } else {
                r.below(70000).to_string()
            };
            let data: String = (0..len)
                .map(|_| (b'0' + r.below(10) as u8) as char)
                .collect();
            format!("{verb} {key} {flags} {exptime} {claimed}{noreply}\r\n{data}\r\n")
        }
        4 => format!(
            "cas {key} 0 0 1 {}{noreply}\r\nx\r\n",
            1_000_000_000 + r.below(1000)
        ),
        5..=7 => {
            let n = 1 + r.below(4);
            let keys: Vec<String> = (0..n).map(|_| token_with(r, false)).collect();
            format!("get {}\r\n", keys.join(" "))
        }
        8 => format!("delete {key}{noreply}\r\n"),
        9 => format!("delete {key} {}\r\n", number(r)),
        10 | 11 => {
            let verb = *r.pick(&["incr", "decr"]);
            format!("{verb} {key} {}{noreply}\r\n", number(r))
        }
        12 => format!("touch {key} {exptime}{noreply}\r\n"),
        13 => format!("gat {exptime} {key} {}\r\n", token_with(r, false)),
        14 => format!(
            "{}\r\n",
            (0..r.below(6))
                .map(|_| token(r))
                .collect::<Vec<_>>()
                .join(" ")
        ),
        15 => format!("set {key} 0 0 5\r\nabcdefgh\r\n"),
        16 => format!(
            "{}\r\n",
            r.pick(&[
                "verbosity",
                "verbosity 1",
                "verbosity 1 noreply",
                "shutdown",
                "flush_all noreply",
                "flush_all 0"
            ])
        ),
        17 => format!(
            "{}\n",
            r.pick(&["get a", "set a 0 0 1\r\nq", "incr counter 1"])
        ),
        18 => format!("set counter 0 0 {}\r\n{}\r\n", 2, 10 + r.below(90)),
        19 => "\r\n".to_string(),
        20 => format!(
            "{} {}\r\n",
            r.pick(&["GET", "Set", "gets_", "getx", "Mn", "mee"]),
            key
        ),
        21..=27 => meta(r),
        _ => format!("incr counter {}\r\n", r.below(1000)),
    };
    let mut bytes = line.into_bytes();
    // A stray byte mid-stream, but not in multigets (it could lengthen a key past 250)
    // nor in storage commands (it could turn a flags or exptime into a data length
    // longer than the padding that ends the stream).
    let exempt = [
        "get", "gat", "set", "add", "rep", "app", "pre", "cas", "ms ",
    ];
    if r.below(30) == 0 && !exempt.iter().any(|p| bytes.starts_with(p.as_bytes())) {
        let at = r.below(bytes.len() as u64) as usize;
        bytes.insert(at, *r.pick(b"\0 \t\r"));
    }
    bytes
}

/// One random meta command. Only flags whose replies do not depend on timing or on
/// server-specific values: no `c` (CAS values differ between servers), no `t` or `l`
/// (a clock tick between two commands changes them), `me` only on keys never stored
/// (its hit line shows larder's own item size and class); compare values `C0` and
/// `C999999999` never match a real CAS. Malformed flags and modes are included. Never `E`
/// or `x`: larder accepts them as later memcached 1.6 releases do, Debian's 1.6.18 refuses
/// them (tests/meta.rs covers them on larder alone).
fn meta(r: &mut Rng) -> String {
    let (key, b64) = match r.below(5) {
        0 => {
            let k = *r.pick(&["YQ==", "Yg==", "Y291bnRlcg==", "azE=", "!!", "Zm9v"]);
            (k.to_string(), true)
        }
        _ => (r.pick(KEYS).to_string(), false),
    };
    let mut flags: Vec<String> = Vec::new();
    if b64 {
        flags.push("b".into());
    }
    let pool: &[&str] = match r.below(6) {
        0 => &[
            "v", "s", "f", "k", "h", "u", "q", "O1", "Oxyz", "N0", "N1000", "N-1", "T0", "T1000",
            "T-1", "R30", "R5000", "P", "L1",
        ],
        1 => &[
            "q",
            "O7",
            "k",
            "C0",
            "C999999999",
            "I",
            "T0",
            "T1000",
            "F3",
            "F4294967295",
            "MS",
            "ME",
            "MA",
            "MP",
            "MR",
            "N30",
            "b",
        ],
        2 => &["q", "O3", "k", "C0", "C999999999", "I", "T1000", "T-1"],
        3 => &[
            "v",
            "q",
            "O5",
            "k",
            "N0",
            "N1000",
            "J5",
            "J18446744073709551615",
            "D1",
            "D7",
            "D18446744073709551615",
            "MI",
            "MD",
            "M+",
            "M-",
            "T0",
            "T1000",
            "C0",
            "C999999999",
        ],
        4 => &[
            "zz", "y", "G5", "Tabc", "T", "C", "Cx", "Fx", "MX", "MEE", "Jx", "Dx", "v", "q", "O1",
            "k",
        ],
        _ => &[""],
    };
    for _ in 0..r.below(6) {
        let f = *r.pick(pool);
        let repeats_b = f == "b" && b64;
        if !f.is_empty() && !repeats_b {
            flags.push(f.to_string());
        }
    }
    let flags = flags.join(" ");
    match r.below(12) {
        0..=3 => format!("mg {key} {flags}\r\n"),
        4..=6 => {
            let len = r.below(8) as usize;
            let claimed = match r.below(10) {
                0 => (len + 1).to_string(),
                1 => "-1".into(),
                _ => len.to_string(),
            };
            let data: String = (0..len)
                .map(|_| (b'0' + r.below(10) as u8) as char)
                .collect();
            format!("ms {key} {claimed} {flags}\r\n{data}\r\n")
        }
        7 => format!("md {key} {flags}\r\n"),
        8 | 9 => format!("ma {key} {flags}\r\n"),
        10 => format!(
            "me {} {}\r\n",
            r.pick(&["nokey", "bm9rZXk=", "x y"]),
            r.pick(&["", "b"])
        ),
        _ => r.pick(&["mn\r\n", "mn a b\r\n"]).to_string(),
    }
}

struct Memcached(Child, u16);
impl Drop for Memcached {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_memcached() -> Memcached {
    for _ in 0..5 {
        let port = common::free_port();
        let mut child = Command::new("memcached")
            .args([
                "-p",
                &port.to_string(),
                "-l",
                "127.0.0.1",
                "-U",
                "0",
                "-u",
                "root",
                "-t",
                "2",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("memcached must be installed (scripts/test.sh installs it)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                let _ = child.wait();
                break;
            }
            if common::connect_listening(([127, 0, 0, 1], port).into()).is_some() {
                return Memcached(child, port);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    panic!("memcached did not start");
}

/// Connects to `port` (5 s read timeout) and sends `stream` in random-sized pieces of 1 to
/// 64 bytes, stopping early if the server closes.
fn connect_and_send(port: u16, stream: &[u8], r: &mut Rng) -> TcpStream {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut pos = 0;
    while pos < stream.len() {
        let n = (1 + r.below(64) as usize).min(stream.len() - pos);
        if s.write_all(&stream[pos..pos + n]).is_err() {
            break;
        }
        pos += n;
    }
    s
}

/// Sends `stream` in random-sized pieces followed by a sentinel, and returns every
/// byte received up to the sentinel's reply or the server closing the connection.
fn exchange(port: u16, stream: &[u8], r: &mut Rng) -> Vec<u8> {
    let mut s = connect_and_send(port, stream, r);
    // Padding ends any pending data block; then every key's value and client flags
    // (`u`: without touching the item), so that a divergence in state shows up in the
    // stream that caused it; then the sentinel.
    let _ = s.write_all(&[b'\n'; 200]);
    for key in KEYS {
        let _ = s.write_all(format!("mg {key} v f u k\r\n").as_bytes());
    }
    let _ = s.write_all(b"version\r\n");
    let mut out = Vec::new();
    let mut buf = [0u8; 65536];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                out.extend_from_slice(&buf[..n]);
                if out.ends_with(b"VERSION 1.6.18\r\n") {
                    break;
                }
            }
            Err(e) if e.kind() == ErrorKind::ConnectionReset => break,
            Err(e) => {
                // Shown in the comparison, with the stream that caused it.
                out.extend_from_slice(format!("<no reply: {e}>").as_bytes());
                break;
            }
        }
    }
    out
}

/// memcached writes a shrinking incr/decr result in place, space-padded, unless
/// another reference to the item is alive at that instant (for example a pipelined
/// `get` reply still queued), in which case it stores the bare number: timing decides.
/// larder always pads. So numeric values are compared without their padding.
fn normalize(out: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(out);
    let mut lines: Vec<String> = text.split("\r\n").map(str::to_string).collect();
    for i in 0..lines.len().saturating_sub(1) {
        // The length is token 3 of a VALUE line and token 1 of a meta VA line.
        let len_at = if lines[i].starts_with("VALUE ") {
            3
        } else if lines[i].starts_with("VA ") {
            1
        } else {
            continue;
        };
        let data = lines[i + 1].clone();
        let trimmed = data.trim_end_matches(' ');
        if trimmed.len() != data.len()
            && !trimmed.is_empty()
            && trimmed.bytes().all(|b| b.is_ascii_digit())
        {
            let mut header: Vec<&str> = lines[i].split(' ').collect();
            let len = trimmed.len().to_string();
            header[len_at] = &len;
            lines[i] = header.join(" ");
            lines[i + 1] = trimmed.to_string();
        }
    }
    lines.join("\r\n").into_bytes()
}

/// The seeds to replay: `LARDER_DIFF_SEED` alone, or 1..=`LARDER_DIFF_ROUNDS` (300).
fn seeds() -> Vec<u64> {
    let rounds: u64 = std::env::var("LARDER_DIFF_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(300);
    match std::env::var("LARDER_DIFF_SEED") {
        Ok(s) => vec![s.parse().unwrap()],
        Err(_) => (1..=rounds).collect(),
    }
}

#[test]
fn random_streams_answer_exactly_like_memcached() {
    let mc = start_memcached();
    let larder = Server::start(&["-t", "2"]);
    for seed in seeds() {
        let mut r = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        // Each stream starts from an empty cache: memcached pads a shrinking incr result in
        // place only when nothing else references the item, and the previous stream's
        // closing connection may still hold references (timing), so state carried across
        // streams could diverge for no fault of either server.
        let mut stream = b"flush_all\r\n".to_vec();
        for _ in 0..(1 + r.below(12)) {
            stream.extend_from_slice(&request(&mut r));
        }
        let split_seed = r.next() | 1;
        let want = normalize(&exchange(mc.1, &stream, &mut Rng(split_seed)));
        let got = normalize(&exchange(larder.addr.port(), &stream, &mut Rng(split_seed)));
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(&want),
            "seed {seed}: replies differ for stream {:?}",
            String::from_utf8_lossy(&stream)
        );
    }
}

// ---------------------------------------------------------------------------------------
// Binary protocol
// ---------------------------------------------------------------------------------------

const BIN_SENTINEL_OPAQUE: u32 = 0xffff_fff0;

/// One random binary request: mostly well-formed frames of every opcode (CAS either 0 or
/// one no item can have, so outcomes do not depend on how CAS values are assigned), now
/// and then a malformed one (wrong magic, 251-byte key, wrong extras, unknown opcode).
fn bin_request(r: &mut Rng, opaque: u32) -> Vec<u8> {
    const BIN_KEYS: &[&[u8]] = &[b"a", b"b", b"counter", b"k1"];
    let key = *r.pick(BIN_KEYS);
    const BIN_VALUES: &[&[u8]] = &[
        b"",
        b"1",
        b"10",
        b"xyz",
        b"18446744073709551615",
        b"abc def",
    ];
    let value = *r.pick(BIN_VALUES);
    let cas = if r.below(5) == 0 {
        0x7fff_0000_0000_0000
    } else {
        0
    };
    let exptime = *r.pick(&[0u32, 0, 1000]);
    let mut set_extras = (r.below(3) as u32).to_be_bytes().to_vec();
    set_extras.extend_from_slice(&exptime.to_be_bytes());
    let mut arith = (r.below(20)).to_be_bytes().to_vec();
    arith.extend_from_slice(&r.below(100).to_be_bytes());
    arith.extend_from_slice(&r.pick(&[0u32, 0xffff_ffff]).to_be_bytes());
    match r.below(40) {
        0..=5 => {
            let op = *r.pick(&[0x01u8, 0x02, 0x03, 0x11, 0x12, 0x13]);
            frame(op, &set_extras, key, value, opaque, cas)
        }
        6..=11 => frame(
            *r.pick(&[0x00u8, 0x09, 0x0c, 0x0d]),
            &[],
            key,
            &[],
            opaque,
            0,
        ),
        12..=13 => frame(
            *r.pick(&[0x0eu8, 0x0f, 0x19, 0x1a]),
            &[],
            key,
            value,
            opaque,
            cas,
        ),
        14..=15 => frame(*r.pick(&[0x04u8, 0x14]), &[], key, &[], opaque, cas),
        16..=19 => {
            let op = *r.pick(&[0x05u8, 0x06, 0x15, 0x16]);
            frame(op, &arith, key, &[], opaque, 0)
        }
        20..=22 => {
            let op = *r.pick(&[0x1cu8, 0x1d, 0x1e, 0x23, 0x24]);
            frame(op, &exptime.to_be_bytes(), key, &[], opaque, 0)
        }
        23 => frame(*r.pick(&[0x08u8, 0x18]), &[], &[], &[], opaque, 0),
        24 => frame(0x0b, &[], &[], &[], opaque, 0),
        25..=26 => frame(0x0a, &[], &[], &[], opaque, 0),
        27 => frame(
            *r.pick(&[0x1bu8, 0x30, 0x45, 0xfe]),
            &[],
            &[],
            value,
            opaque,
            0,
        ),
        28 => frame(0x00, &[], &[b'k'; 251], &[], opaque, 0),
        29 => frame(0x01, &[0; 4], key, value, opaque, 0),
        30 => {
            // memcached drops replies still queued when it closes without a reply
            // (timing decides which); a Noop first flushes them, larder flushes always.
            let mut f = frame(0x0a, &[], &[], &[], opaque, 0);
            let mut bad = frame(0x00, &[], key, &[], opaque, 0);
            bad[0] = 0x81;
            f.extend(bad);
            f
        }
        31 => frame(0x07, &[], &[], &[], opaque, 0),
        32 => {
            let mut f = frame(0x0a, &[], &[], &[], opaque, 0);
            f.extend(frame(0x17, &[], &[], &[], opaque, 0));
            f
        }
        33 => frame(0x20, &[], &[], &[], opaque, 0),
        _ => frame(0x00, &[], key, &[], opaque, 0),
    }
}

/// A response with memcached's timing-dependent details taken out: the CAS value (only
/// zero / non-zero is kept) and the space padding of a shrunk counter.
#[derive(Debug, PartialEq, Eq)]
struct BinReply {
    opcode: u8,
    status: u16,
    opaque: u32,
    cas_set: bool,
    extras: Vec<u8>,
    key: Vec<u8>,
    value: Vec<u8>,
}

/// Sends `stream` in random pieces, then a Noop sentinel; returns the decoded replies up
/// to the sentinel's (or the close), and whether the server closed.
fn bin_exchange(port: u16, stream: &[u8], r: &mut Rng) -> (Vec<BinReply>, bool) {
    let mut s = connect_and_send(port, stream, r);
    let _ = s.write_all(&frame(0x0a, &[], &[], &[], BIN_SENTINEL_OPAQUE, 0));
    let mut raw = Vec::new();
    let mut buf = [0u8; 65536];
    let mut replies = Vec::new();
    loop {
        while raw.len() >= 24 {
            let bl = u32::from_be_bytes([raw[8], raw[9], raw[10], raw[11]]) as usize;
            if raw.len() < 24 + bl {
                break;
            }
            let h: Vec<u8> = raw.drain(..24 + bl).collect();
            let kl = u16::from_be_bytes([h[2], h[3]]) as usize;
            let el = h[4] as usize;
            let mut value = h[24 + el + kl..].to_vec();
            let trimmed = value.iter().rposition(|b| *b != b' ').map_or(0, |i| i + 1);
            if trimmed > 0
                && trimmed < value.len()
                && value[..trimmed].iter().all(u8::is_ascii_digit)
            {
                value.truncate(trimmed);
            }
            let reply = BinReply {
                opcode: h[1],
                status: u16::from_be_bytes([h[6], h[7]]),
                opaque: u32::from_be_bytes([h[12], h[13], h[14], h[15]]),
                cas_set: h[16..24] != [0; 8],
                extras: h[24..24 + el].to_vec(),
                key: h[24 + el..24 + el + kl].to_vec(),
                value,
            };
            let done = reply.opcode == 0x0a && reply.opaque == BIN_SENTINEL_OPAQUE;
            replies.push(reply);
            if done {
                return (replies, false);
            }
        }
        match s.read(&mut buf) {
            Ok(0) => return (replies, true),
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return (replies, true),
            Err(e) => panic!("no reply from port {port}: {e}; so far {replies:?}"),
        }
    }
}

#[test]
fn random_binary_streams_answer_exactly_like_memcached() {
    let mc = start_memcached();
    let larder = Server::start(&["-t", "2"]);
    for seed in seeds() {
        let mut r = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 3);
        let mut stream = Vec::new();
        for i in 0..(1 + r.below(16)) {
            stream.extend_from_slice(&bin_request(&mut r, i as u32));
        }
        let split_seed = r.next() | 1;
        let want = bin_exchange(mc.1, &stream, &mut Rng(split_seed));
        let got = bin_exchange(larder.addr.port(), &stream, &mut Rng(split_seed));
        assert_eq!(
            got, want,
            "seed {seed}: replies differ for stream {stream:?}"
        );
    }
}
