//! Blocking helpers outside the measured phase: the prefill that makes gets hit, the `stats`
//! command, and the memory-efficiency fill (distinct keys until the server starts evicting).
//!
//! These run on one blocking connection in pipelined batches; they are not timed per request.

use crate::driver::connect_retry;
use crate::procstat::rss_bytes;
use crate::proto::{self, Op, Parsed, Protocol, Reply};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// Requests per pipelined batch.
const BATCH: usize = 256;

/// One blocking connection that sends batches and reads their replies.
pub struct Blocking {
    sock: TcpStream,
    proto: Protocol,
    wbuf: Vec<u8>,
    rbuf: ReplyBuf,
}

/// The read side of a blocking connection: replies read from the socket and not yet parsed.
/// Shared by [`Blocking`] and the cache-aside engine's connections.
pub struct ReplyBuf {
    buf: Vec<u8>,
    len: usize,
}

impl ReplyBuf {
    /// An empty buffer of 64 KiB (it doubles when a reply does not fit).
    pub fn new() -> Self {
        ReplyBuf {
            buf: vec![0; 1 << 16],
            len: 0,
        }
    }

    /// The bytes read and not consumed yet.
    pub fn bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// Drops the first `used` bytes (replies parsed), keeping the rest at the front.
    pub fn consume(&mut self, used: usize) {
        self.buf.copy_within(used..self.len, 0);
        self.len -= used;
    }

    /// Reads more from `sock` after the bytes held, doubling the buffer when it is full.
    /// Returns how many bytes came (0: the server closed the connection). A read interrupted
    /// by a signal (EINTR: also what a stopped and continued process sees on a socket with a
    /// timeout) is retried.
    pub fn read_from(&mut self, sock: &mut impl Read) -> std::io::Result<usize> {
        if self.len == self.buf.len() {
            self.buf.resize(self.buf.len() * 2, 0);
        }
        let got = loop {
            match sock.read(&mut self.buf[self.len..]) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                r => break r?,
            }
        };
        self.len += got;
        Ok(got)
    }
}

/// Reply counts of one batch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BatchReplies {
    /// Stored (sets) or hits (gets).
    pub ok: u64,
    /// Misses and refused sets.
    pub refused: u64,
    /// Error replies.
    pub errors: u64,
}

impl Blocking {
    /// Connects to `addr`, retrying for a few seconds while the server starts.
    pub fn connect(addr: SocketAddr, proto: Protocol) -> Result<Self, String> {
        let sock = connect_retry(addr, Duration::from_secs(5))?;
        sock.set_read_timeout(Some(Duration::from_secs(30)))
            .map_err(|e| format!("read timeout: {e}"))?;
        Ok(Blocking {
            sock,
            proto,
            wbuf: Vec::with_capacity(1 << 20),
            rbuf: ReplyBuf::new(),
        })
    }

    /// Sets keys `keys` (as produced by `key_of`) to `value`, in pipelined batches.
    pub fn set_many(
        &mut self,
        keys: std::ops::Range<u64>,
        key_of: impl Fn(u64, &mut Vec<u8>),
        value: &[u8],
    ) -> Result<BatchReplies, String> {
        let mut total = BatchReplies::default();
        let mut key = Vec::with_capacity(64);
        let mut idx = keys.start;
        while idx < keys.end {
            let n = (keys.end - idx).min(BATCH as u64);
            self.wbuf.clear();
            for k in idx..idx + n {
                key.clear();
                key_of(k, &mut key);
                proto::encode_set(self.proto, &key, value, &mut self.wbuf);
            }
            self.sock
                .write_all(&self.wbuf)
                .map_err(|e| format!("sending sets: {e}"))?;
            let r = self.read_replies(Op::Set, n as usize)?;
            total.ok += r.ok;
            total.refused += r.refused;
            total.errors += r.errors;
            idx += n;
        }
        Ok(total)
    }

    fn read_replies(&mut self, op: Op, mut n: usize) -> Result<BatchReplies, String> {
        let mut out = BatchReplies::default();
        let mut start = 0;
        while n > 0 {
            match proto::parse_reply(self.proto, op, &self.rbuf.bytes()[start..]) {
                Parsed::Complete(reply, used) => {
                    start += used;
                    n -= 1;
                    match reply {
                        Reply::Hit | Reply::Stored => out.ok += 1,
                        Reply::Miss | Reply::NotStored => out.refused += 1,
                        Reply::Error => out.errors += 1,
                    }
                }
                Parsed::Incomplete => {
                    self.rbuf.consume(start);
                    start = 0;
                    let got = self
                        .rbuf
                        .read_from(&mut self.sock)
                        .map_err(|e| format!("reading replies: {e}"))?;
                    if got == 0 {
                        return Err("server closed the connection".to_string());
                    }
                }
                Parsed::Invalid(e) => return Err(e),
            }
        }
        self.rbuf.consume(start);
        Ok(out)
    }

    /// Sends `stats` (text protocol) and returns its `STAT name value` pairs.
    pub fn stats(&mut self) -> Result<HashMap<String, String>, String> {
        if self.proto != Protocol::Text && self.proto != Protocol::Meta {
            return Err("stats needs a text-protocol connection".to_string());
        }
        self.sock
            .write_all(b"stats\r\n")
            .map_err(|e| format!("sending stats: {e}"))?;
        let mut map = HashMap::new();
        loop {
            let text = self.rbuf.bytes();
            if let Some(end) = find(text, b"END\r\n") {
                for line in String::from_utf8_lossy(&text[..end]).lines() {
                    let mut it = line.split_whitespace();
                    if let (Some("STAT"), Some(k), Some(v)) = (it.next(), it.next(), it.next()) {
                        map.insert(k.to_string(), v.to_string());
                    }
                }
                self.rbuf.consume(end + 5);
                return Ok(map);
            }
            let got = self
                .rbuf
                .read_from(&mut self.sock)
                .map_err(|e| format!("reading stats: {e}"))?;
            if got == 0 {
                return Err("server closed the connection during stats".to_string());
            }
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Sets every key of the load generator's key space `0..keys` once, so that gets hit.
pub fn prefill(
    addr: SocketAddr,
    proto: Protocol,
    keys: u64,
    value_len: usize,
) -> Result<BatchReplies, String> {
    let mut c = Blocking::connect(addr, proto)?;
    let value = vec![b'v'; value_len];
    c.set_many(
        0..keys,
        |k, out| out.extend_from_slice(&crate::workload::key_bytes(k)),
        &value,
    )
}

/// What the memory-efficiency fill found.
#[derive(Clone, Debug, PartialEq)]
pub struct FillResult {
    /// Keys sent before the fill stopped.
    pub sent: u64,
    /// `curr_items` when it stopped.
    pub items: u64,
    /// The server's own `bytes` stat (sum of item sizes), if it reports one.
    pub item_bytes: Option<u64>,
    /// Resident set size of the server process.
    pub rss: u64,
    /// Seconds the fill took.
    pub secs: f64,
    /// Why it stopped: `evicting`, `refusing` (sets answered with errors, as memcached's `-M`
    /// does), `not growing` (items vanish without an eviction count) or `max items`.
    pub stopped: &'static str,
}

/// Stores distinct keys of `value_len` bytes until the server's `evictions` stat becomes
/// non-zero, then reads `curr_items`, `bytes` and the RSS. Also stops if the server starts
/// refusing sets, if `curr_items` stops growing without evictions being counted, or after
/// `max_items` keys. `budget` (the `-m` value in bytes) sizes the steps between checks.
pub fn fill_until_evicting(
    addr: SocketAddr,
    pid: u32,
    value_len: usize,
    budget: u64,
    max_items: u64,
) -> Result<FillResult, String> {
    let started = Instant::now();
    let mut c = Blocking::connect(addr, Protocol::Text)?;
    let value = vec![b'm'; value_len];
    let stat = |m: &HashMap<String, String>, k: &str| -> Result<u64, String> {
        m.get(k)
            .ok_or_else(|| format!("server stats have no {k}"))?
            .parse::<u64>()
            .map_err(|e| format!("stat {k}: {e}"))
    };
    // Check about 200 times per budget's worth of items, at least every 2000 keys.
    let step = (budget / 200 / (value_len as u64 + 50)).clamp(2_000, 200_000);
    let mut sent = 0u64;
    let mut last_items = 0u64;
    loop {
        let r = c.set_many(
            sent..sent + step,
            |k, out| {
                use std::io::Write as _;
                // Writing into a Vec cannot fail.
                let _ = write!(out, "fill:{k:012}");
            },
            &value,
        )?;
        sent += step;
        let m = c.stats()?;
        let items = stat(&m, "curr_items")?;
        let stopped = if stat(&m, "evictions")? > 0 {
            Some("evicting")
        } else if r.errors > 0 {
            Some("refusing")
        } else if items <= last_items {
            Some("not growing")
        } else if sent >= max_items {
            Some("max items")
        } else {
            None
        };
        last_items = items;
        if let Some(stopped) = stopped {
            return Ok(FillResult {
                sent,
                items,
                item_bytes: stat(&m, "bytes").ok(),
                rss: rss_bytes(pid)?,
                secs: started.elapsed().as_secs_f64(),
                stopped,
            });
        }
    }
}
