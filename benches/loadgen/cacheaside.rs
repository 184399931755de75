//! Hit-ratio benchmark: a cache-aside client. Every request is `get key`; on a miss the client
//! does `set key` with a value whose size (and TTL) is a fixed function of the key, as an
//! application filling its cache from a database would. What is measured is how many gets hit
//! for a given memory budget (`-m`), not how fast the server answers.
//!
//! The request stream ([`Stream`]: synthetic or a trace) comes from `stream.rs`; this file
//! drives it against a server.
//!
//! The engine keeps the get → set-on-miss order of every key: requests are split over
//! connections by a hash of the key (so all requests for one key go over one connection, in
//! stream order), and each connection sends pipelined rounds of `[sets for the previous
//! round's misses] + [gets]`. A key may appear twice in a round (a hot key would otherwise cost
//! a round trip per request): if its first get misses, the later gets of that key in the round
//! are not counted and are sent again in the next round, after the set, so every counted get
//! sees the effect of every earlier request (the server sees one extra miss per such get;
//! `resent` counts them). With `strict` a round stops before a repeated key instead.
//! Connections move through the stream in lockstep epochs (a barrier every `epoch` requests of
//! the global stream), so the server sees the requests in nearly the global order.

use crate::driver::connect_retry;
use crate::fill::{Blocking, ReplyBuf};
use crate::procstat::rss_bytes;
use crate::proto::{self, Op, Parsed, Protocol, Reply};
use crate::stream::{mix64, parse_trace, Stream};
use std::collections::HashMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{mpsc, Arc, Barrier};
use std::time::Instant;

/// Rounds up to this many bytes are written by the reading thread itself (see `send_round`).
const DIRECT_WRITE_MAX: usize = 32 * 1024;

/// Counts of one run (or one connection's part of it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Gets sent (= requests of the stream).
    pub gets: u64,
    /// Gets that hit.
    pub hits: u64,
    /// Gets in the second half of the stream.
    pub gets2: u64,
    /// Hits among those.
    pub hits2: u64,
    /// Sets sent (one per miss).
    pub sets: u64,
    /// Sets answered with an error or NOT_STORED.
    pub set_errors: u64,
    /// Gets answered with an error.
    pub get_errors: u64,
    /// Pipelined rounds (one write, then the replies to all of it).
    pub rounds: u64,
    /// Gets sent again because an earlier get of the same key in their round missed (their
    /// first answer is not counted; the server saw one extra miss each).
    pub resent: u64,
}

impl Counts {
    fn add(&mut self, o: &Counts) {
        self.gets += o.gets;
        self.hits += o.hits;
        self.gets2 += o.gets2;
        self.hits2 += o.hits2;
        self.sets += o.sets;
        self.set_errors += o.set_errors;
        self.get_errors += o.get_errors;
        self.rounds += o.rounds;
        self.resent += o.resent;
    }
}

/// How the stream is driven.
#[derive(Clone, Copy, Debug)]
pub struct EngineConfig {
    /// Connections (each owns the keys hashing to it).
    pub connections: usize,
    /// Most gets per pipelined round on one connection.
    pub batch: usize,
    /// Requests of the global stream between barriers.
    pub epoch: usize,
    /// Never pipeline two gets of one key in a round (one round trip per request of a hot
    /// key) instead of re-sending the later get after the set when the first one missed.
    pub strict: bool,
}

/// Runs the stream against `addr` cache-aside; returns the counts and the seconds it took.
pub fn run(addr: SocketAddr, stream: &Stream, cfg: EngineConfig) -> Result<(Counts, f64), String> {
    let conns = cfg.connections.max(1);
    let total = stream.reqs.len();
    if total > u32::MAX as usize {
        return Err(format!("{total} requests: at most {} per run", u32::MAX));
    }
    let half = total / 2;
    // Per connection, the indexes of its requests, in stream order.
    let mut parts: Vec<Vec<u32>> = vec![Vec::with_capacity(total / conns + 16); conns];
    for (i, r) in stream.reqs.iter().enumerate() {
        parts[(mix64(r.key) % conns as u64) as usize].push(i as u32);
    }
    let socks = (0..conns)
        .map(|_| {
            let s = connect_retry(addr, std::time::Duration::from_secs(5))?;
            s.set_read_timeout(Some(std::time::Duration::from_secs(60)))
                .map_err(|e| format!("read timeout: {e}"))?;
            Ok(s)
        })
        .collect::<Result<Vec<_>, String>>()?;
    let barrier = Arc::new(Barrier::new(conns));
    let epoch = cfg.epoch.max(1);
    let started = Instant::now();
    let results: Vec<Result<Counts, String>> = std::thread::scope(|s| {
        let handles: Vec<_> = socks
            .into_iter()
            .zip(&parts)
            .map(|(sock, part)| {
                let barrier = barrier.clone();
                s.spawn(move || {
                    let (mut c, mut failed) =
                        match ConnRunner::new(sock, stream, cfg.batch.max(1), half, cfg.strict) {
                            Ok(c) => (Some(c), None),
                            Err(e) => (None, Some(e)),
                        };
                    let mut pos = 0;
                    let mut end = 0u64;
                    // Every connection passes the same number of barriers, even after an error,
                    // so that none waits forever.
                    while end < total as u64 {
                        end += epoch as u64;
                        let stop = part[pos..].partition_point(|&i| u64::from(i) < end) + pos;
                        if let (Some(c), None) = (c.as_mut(), &failed) {
                            if let Err(e) = c.drive(&part[pos..stop]) {
                                failed = Some(e);
                            }
                        }
                        pos = stop;
                        barrier.wait();
                    }
                    match (failed, c) {
                        (None, Some(c)) => Ok(c.counts),
                        (Some(e), _) => Err(e),
                        (None, None) => Err("no connection".to_string()),
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err("connection thread panicked".into()))
            })
            .collect()
    });
    let secs = started.elapsed().as_secs_f64();
    let mut total_counts = Counts::default();
    for r in results {
        total_counts.add(&r?);
    }
    Ok((total_counts, secs))
}

/// One connection: a writer thread sends each round's bytes while this thread reads the
/// replies, so a round larger than the socket buffers cannot deadlock.
struct ConnRunner<'a> {
    stream: &'a Stream,
    sock: std::net::TcpStream,
    to_writer: Option<mpsc::SyncSender<Vec<u8>>>,
    from_writer: mpsc::Receiver<Vec<u8>>,
    writer: Option<std::thread::JoinHandle<Result<(), String>>>,
    spare: Option<Vec<u8>>,
    batch: usize,
    half: usize,
    rbuf: ReplyBuf,
    ops: Vec<(Op, u32)>,
    pending_sets: Vec<u32>,
    reissue: Vec<u32>,
    missed: Vec<u64>,
    strict: bool,
    round: Vec<u32>,
    counts: Counts,
    value: Vec<u8>,
}

impl<'a> ConnRunner<'a> {
    fn new(
        sock: std::net::TcpStream,
        stream: &'a Stream,
        batch: usize,
        half: usize,
        strict: bool,
    ) -> Result<Self, String> {
        let mut w = sock.try_clone().map_err(|e| format!("socket clone: {e}"))?;
        let (to_writer, rx) = mpsc::sync_channel::<Vec<u8>>(1);
        let (back, from_writer) = mpsc::channel::<Vec<u8>>();
        let writer = std::thread::spawn(move || {
            for buf in rx {
                w.write_all(&buf)
                    .map_err(|e| format!("sending requests: {e}"))?;
                let _ = back.send(buf);
            }
            Ok(())
        });
        let max_value = stream.reqs.iter().map(|r| r.size).max().unwrap_or(0) as usize;
        Ok(ConnRunner {
            stream,
            sock,
            to_writer: Some(to_writer),
            from_writer,
            writer: Some(writer),
            spare: None,
            batch,
            half,
            rbuf: ReplyBuf::new(),
            ops: Vec::new(),
            pending_sets: Vec::new(),
            reissue: Vec::new(),
            missed: Vec::new(),
            strict,
            round: Vec::new(),
            counts: Counts::default(),
            value: vec![b'v'; max_value],
        })
    }

    /// Runs requests `idx` (indexes into the stream, ascending), then the sets for the last
    /// round's misses (and the gets re-sent after them).
    fn drive(&mut self, idx: &[u32]) -> Result<(), String> {
        let reqs = &self.stream.reqs;
        let mut pos = 0;
        while pos < idx.len() || !self.reissue.is_empty() || !self.pending_sets.is_empty() {
            self.round.clear();
            self.round.append(&mut self.reissue);
            while pos < idx.len() && self.round.len() < self.batch {
                if self.strict {
                    let key = reqs[idx[pos] as usize].key;
                    if self.round.iter().any(|&j| reqs[j as usize].key == key) {
                        break;
                    }
                }
                self.round.push(idx[pos]);
                pos += 1;
            }
            self.send_round()?;
            self.read_round()?;
        }
        Ok(())
    }

    fn send_round(&mut self) -> Result<(), String> {
        let mut buf = match self.spare.take() {
            Some(b) => b,
            None => self.from_writer.try_recv().unwrap_or_default(),
        };
        buf.clear();
        self.ops.clear();
        let reqs = &self.stream.reqs;
        for &i in &self.pending_sets {
            let r = reqs[i as usize];
            buf.extend_from_slice(b"set ");
            self.stream.key(r.key, &mut buf);
            let _ = write!(buf, " 0 {} {}\r\n", r.ttl, r.size);
            buf.extend_from_slice(&self.value[..r.size as usize]);
            buf.extend_from_slice(b"\r\n");
            self.ops.push((Op::Set, i));
        }
        self.pending_sets.clear();
        for &i in &self.round {
            buf.extend_from_slice(b"get ");
            self.stream.key(reqs[i as usize].key, &mut buf);
            buf.extend_from_slice(b"\r\n");
            self.ops.push((Op::Get, i));
        }
        self.counts.rounds += 1;
        // A round that fits in the server's receive buffer is written here: every earlier reply
        // has been read, so the server can take all of it without first sending anything.
        // Larger rounds go through the writer thread so this one can read replies meanwhile.
        if buf.len() <= DIRECT_WRITE_MAX {
            let r = self.sock.write_all(&buf);
            self.spare = Some(buf);
            return r.map_err(|e| format!("sending requests: {e}"));
        }
        self.to_writer
            .as_ref()
            .ok_or("writer gone")?
            .send(buf)
            .map_err(|_| self.writer_error())
    }

    fn writer_error(&mut self) -> String {
        self.to_writer = None;
        match self.writer.take().map(|h| h.join()) {
            Some(Ok(Err(e))) => e,
            _ => "writer thread stopped".to_string(),
        }
    }

    fn read_round(&mut self) -> Result<(), String> {
        self.missed.clear();
        let mut start = 0;
        let mut k = 0;
        while k < self.ops.len() {
            let (op, i) = self.ops[k];
            match proto::parse_reply(Protocol::Text, op, &self.rbuf.bytes()[start..]) {
                Parsed::Complete(reply, used) => {
                    start += used;
                    k += 1;
                    let second = i as usize >= self.half;
                    let key = self.stream.reqs[i as usize].key;
                    let c = &mut self.counts;
                    if op == Op::Get && self.missed.contains(&key) {
                        // An earlier get of this key in the round missed: in stream order this
                        // get comes after the set, so its answer does not count; it is sent
                        // again after the set.
                        c.resent += 1;
                        self.reissue.push(i);
                        continue;
                    }
                    match (op, reply) {
                        (Op::Get, Reply::Hit) => {
                            c.gets += 1;
                            c.hits += 1;
                            c.gets2 += u64::from(second);
                            c.hits2 += u64::from(second);
                        }
                        (Op::Get, Reply::Miss) => {
                            c.gets += 1;
                            c.gets2 += u64::from(second);
                            self.pending_sets.push(i);
                            self.missed.push(key);
                        }
                        (Op::Get, _) => {
                            c.gets += 1;
                            c.gets2 += u64::from(second);
                            c.get_errors += 1;
                        }
                        (Op::Set, Reply::Stored) => c.sets += 1,
                        (Op::Set, _) => {
                            c.sets += 1;
                            c.set_errors += 1;
                        }
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
                        return Err(match self.writer.as_ref().map(|h| h.is_finished()) {
                            Some(true) => self.writer_error(),
                            _ => "server closed the connection".to_string(),
                        });
                    }
                }
                Parsed::Invalid(e) => return Err(e),
            }
        }
        self.rbuf.consume(start);
        Ok(())
    }
}

impl Drop for ConnRunner<'_> {
    fn drop(&mut self) {
        self.to_writer = None;
        let _ = self.sock.shutdown(std::net::Shutdown::Both);
        if let Some(h) = self.writer.take() {
            let _ = h.join();
        }
    }
}

/// The server-side figures read after a run.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ServerState {
    /// `stats` values by name (`bytes`, `curr_items`, `limit_maxbytes`, `evictions`, ...).
    pub stats: HashMap<String, String>,
    /// Resident set size of the server process, if its pid was given.
    pub rss: Option<u64>,
}

/// Reads the server's `stats` and, given its pid, its RSS.
pub fn server_state(addr: SocketAddr, pid: Option<u32>) -> Result<ServerState, String> {
    let stats = Blocking::connect(addr, Protocol::Text)?.stats()?;
    let rss = match pid {
        Some(p) => Some(rss_bytes(p)?),
        None => None,
    };
    Ok(ServerState { stats, rss })
}

/// Loads a trace file.
pub fn load_trace(path: &Path, limit: Option<u64>) -> Result<Stream, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("reading trace {}: {e}", path.display()))?;
    parse_trace(&text, limit)
}
