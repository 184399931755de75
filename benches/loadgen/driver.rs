//! The load engine: client threads, each driving many non-blocking connections with one
//! `mio::Poll`, in closed-loop or open-loop mode, recording every reply's latency in an HDR
//! histogram.
//!
//! Closed loop keeps `pipeline` requests outstanding on every connection, replacing each as its
//! reply arrives: it measures how fast the server answers. Open loop sends each connection's
//! requests on a fixed schedule (`rate / connections` per second per connection) and measures
//! latency from each request's *intended* send time. When the server stalls, requests queue up
//! behind the pipeline limit and their latency keeps growing from their scheduled time, so a
//! stall shows up in the percentiles instead of silently slowing the client down (no
//! coordinated omission). Scheduled requests that never got sent before the end are reported
//! as `unsent`.
//!
//! Per request the engine does no allocation: the write buffer, read buffer and in-flight queue
//! of a connection are reused, keys are fixed-width stack arrays and values are slices of one
//! preallocated buffer.

use crate::procstat::{ProcSample, SyscallCounter};
use crate::proto::{self, Op, Parsed, Protocol, Reply};
use crate::workload::{key_bytes, KeyDist, KeyGen, Mix, Rng, ValueSize};
use hdrhistogram::Histogram;
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

/// When the measured phase ends.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Stop {
    /// After this much wall-clock time.
    Duration(Duration),
    /// After this many requests in total (split across client threads).
    Requests(u64),
}

/// Everything a run needs to know.
#[derive(Clone, Debug)]
pub struct RunConfig {
    /// Server address.
    pub addr: SocketAddr,
    /// Wire dialect.
    pub protocol: Protocol,
    /// Client threads.
    pub threads: usize,
    /// Connections in total, spread over the threads.
    pub connections: usize,
    /// Maximum outstanding requests per connection.
    pub pipeline: usize,
    /// get:set weights.
    pub mix: Mix,
    /// Value sizes for sets.
    pub value: ValueSize,
    /// Number of distinct keys.
    pub keys: u64,
    /// Key popularity.
    pub dist: KeyDist,
    /// End of the measured phase.
    pub stop: Stop,
    /// Open-loop request rate per second (all connections together); `None` = closed loop.
    pub rate: Option<f64>,
    /// Seed for the request stream.
    pub seed: u64,
    /// TLS: every connection handshakes first (before the measured phase) and then
    /// encrypts its batches; `None` for plain TCP.
    pub tls: Option<Arc<rustls::ClientConfig>>,
}

/// Counters and latencies of (part of) a run.
#[derive(Clone, Debug)]
pub struct Stats {
    /// Latency of every completed request, in nanoseconds.
    pub latency: Histogram<u64>,
    /// Completed gets.
    pub gets: u64,
    /// Completed sets.
    pub sets: u64,
    /// Gets that found their key.
    pub hits: u64,
    /// Gets that missed.
    pub misses: u64,
    /// Sets refused without an error.
    pub not_stored: u64,
    /// Error replies, requests lost to broken connections, and replies still missing at the end.
    pub errors: u64,
    /// Open loop only: requests scheduled before the end that were never sent because the
    /// server had not answered the earlier ones.
    pub unsent: u64,
}

impl Stats {
    /// Empty counters.
    pub fn new() -> Self {
        Stats {
            // 1 ns .. 1 hour at 3 significant digits: wide enough that nothing saturates.
            latency: Histogram::new_with_bounds(1, 3_600_000_000_000, 3)
                .expect("static histogram bounds are valid"),
            gets: 0,
            sets: 0,
            hits: 0,
            misses: 0,
            not_stored: 0,
            errors: 0,
            unsent: 0,
        }
    }

    /// Adds `other` into `self`.
    pub fn merge(&mut self, other: &Stats) {
        // Both histograms have the same bounds, so adding cannot fail.
        let _ = self.latency.add(&other.latency);
        self.gets += other.gets;
        self.sets += other.sets;
        self.hits += other.hits;
        self.misses += other.misses;
        self.not_stored += other.not_stored;
        self.errors += other.errors;
        self.unsent += other.unsent;
    }

    /// Requests answered (gets + sets).
    pub fn completed(&self) -> u64 {
        self.gets + self.sets
    }

    /// Counts one completed request.
    pub fn record(&mut self, op: Op, reply: Reply, latency: Duration) {
        self.latency
            .saturating_record(latency.as_nanos().max(1) as u64);
        match op {
            Op::Get => self.gets += 1,
            Op::Set => self.sets += 1,
        }
        match reply {
            Reply::Hit => self.hits += 1,
            Reply::Miss => self.misses += 1,
            Reply::Stored => {}
            Reply::NotStored => self.not_stored += 1,
            Reply::Error => self.errors += 1,
        }
    }
}

impl Default for Stats {
    fn default() -> Self {
        Stats::new()
    }
}

/// The outcome of [`run`].
#[derive(Clone, Debug)]
pub struct RunResult {
    /// Merged counters of all threads.
    pub stats: Stats,
    /// Wall-clock length of the measured phase.
    pub elapsed: Duration,
    /// Server CPU microseconds and read/write syscalls over the measured phase, if a pid was
    /// given.
    pub server: Option<(f64, u64)>,
    /// Every server syscall over the measured phase, counted by perf, if asked for.
    pub all_syscalls: Option<u64>,
    /// CPU microseconds this load generator used over the measured phase (all its threads),
    /// to tell whether the client rather than the server was the limit.
    pub client_cpu_us: Option<f64>,
    /// Client threads that ran.
    pub client_threads: usize,
}

/// Runs the measured phase: connects everything first, then starts all threads together.
/// `server_pid`, if given, is sampled in `/proc` just before and just after; with `perf` its
/// syscalls are also counted by `perf stat` over the same interval.
pub fn run(cfg: &RunConfig, server_pid: Option<u32>, perf: bool) -> Result<RunResult, String> {
    let threads = cfg.threads.clamp(1, cfg.connections.max(1));
    let connected = Arc::new(Barrier::new(threads + 1));
    let go = Arc::new(Barrier::new(threads + 1));
    let mut handles = Vec::with_capacity(threads);
    for t in 0..threads {
        let conns = cfg.connections / threads + usize::from(t < cfg.connections % threads);
        let first_conn = t * (cfg.connections / threads) + t.min(cfg.connections % threads);
        let quota = match cfg.stop {
            Stop::Requests(n) => {
                Some(n / threads as u64 + u64::from((t as u64) < n % threads as u64))
            }
            Stop::Duration(_) => None,
        };
        let cfg = cfg.clone();
        let (connected, go) = (connected.clone(), go.clone());
        let h = thread::Builder::new()
            .name(format!("loadgen-{t}"))
            .spawn(move || {
                let setup = Worker::connect(&cfg, t, first_conn, conns, quota);
                connected.wait();
                go.wait();
                setup?.run()
            })
            .map_err(|e| format!("spawning client thread: {e}"))?;
        handles.push(h);
    }
    connected.wait();
    let counter = match server_pid {
        Some(pid) if perf => Some(SyscallCounter::attach(pid)),
        _ => None,
    };
    let before = server_pid.map(ProcSample::read).transpose();
    let me = std::process::id();
    let client_before = ProcSample::read(me).ok();
    let start = Instant::now();
    go.wait();
    let mut stats = Stats::new();
    let mut first_err = None;
    for h in handles {
        match h.join() {
            Ok(Ok(s)) => stats.merge(&s),
            Ok(Err(e)) => first_err = first_err.or(Some(e)),
            Err(_) => first_err = first_err.or(Some("client thread panicked".to_string())),
        }
    }
    let elapsed = start.elapsed();
    let client_cpu_us = match (client_before, ProcSample::read(me).ok()) {
        (Some(b), Some(a)) => Some(b.delta(&a).0),
        _ => None,
    };
    let all_syscalls = counter
        .map(|c| c.and_then(SyscallCounter::finish))
        .transpose();
    if let Some(e) = first_err {
        return Err(e);
    }
    let all_syscalls = all_syscalls?;
    let server = match (before?, server_pid) {
        (Some(b), Some(pid)) => Some(b.delta(&ProcSample::read(pid)?)),
        _ => None,
    };
    Ok(RunResult {
        stats,
        elapsed,
        server,
        all_syscalls,
        client_cpu_us,
        client_threads: threads,
    })
}

/// Opens a blocking connection with `TCP_NODELAY`, retrying refused connects for up to
/// `patience` (a server that is still starting).
pub fn connect_retry(addr: SocketAddr, patience: Duration) -> Result<std::net::TcpStream, String> {
    let give_up = Instant::now() + patience;
    loop {
        match std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)) {
            Ok(s) => {
                s.set_nodelay(true)
                    .map_err(|e| format!("TCP_NODELAY on {addr}: {e}"))?;
                return Ok(s);
            }
            Err(_) if Instant::now() < give_up => thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(format!("connecting to {addr}: {e}")),
        }
    }
}

struct InFlight {
    op: Op,
    start: Instant,
}

struct Conn {
    sock: TcpStream,
    tls: Option<rustls::ClientConnection>,
    wbuf: Vec<u8>,
    wpos: usize,
    rbuf: Vec<u8>,
    rstart: usize,
    rend: usize,
    inflight: VecDeque<InFlight>,
    /// Offset of this connection's open-loop schedule within one interval.
    phase: Duration,
    next_due: Instant,
    dead: bool,
}

impl Conn {
    /// Frees space at the end of the read buffer: compacts, or doubles it.
    fn make_room(&mut self) {
        if self.rend == self.rbuf.len() {
            if self.rstart > 0 {
                self.rbuf.copy_within(self.rstart..self.rend, 0);
                self.rend -= self.rstart;
                self.rstart = 0;
            } else {
                let len = self.rbuf.len();
                self.rbuf.resize(len * 2, 0);
            }
        }
    }
}

struct Worker {
    cfg: RunConfig,
    poll: Poll,
    conns: Vec<Conn>,
    quota: Option<u64>,
    rng: Rng,
    keys: KeyGen,
    value_buf: Vec<u8>,
    stats: Stats,
}

impl Worker {
    fn connect(
        cfg: &RunConfig,
        thread_idx: usize,
        first_conn: usize,
        n: usize,
        quota: Option<u64>,
    ) -> Result<Self, String> {
        let poll = Poll::new().map_err(|e| format!("creating poll: {e}"))?;
        let mut conns = Vec::with_capacity(n);
        let now = Instant::now();
        for i in 0..n {
            let mut s = connect_retry(cfg.addr, Duration::from_secs(2))?;
            let tls = match &cfg.tls {
                Some(config) => {
                    let mut c = crate::tls::session(config)?;
                    crate::tls::handshake(&mut c, &mut s)?;
                    Some(c)
                }
                None => None,
            };
            s.set_nonblocking(true)
                .map_err(|e| format!("non-blocking socket: {e}"))?;
            let mut sock = TcpStream::from_std(s);
            poll.registry()
                .register(&mut sock, Token(i), Interest::READABLE | Interest::WRITABLE)
                .map_err(|e| format!("registering socket: {e}"))?;
            // Spread the connections' schedules evenly over one interval.
            let phase = cfg.rate.map(|r| (first_conn + i) as f64 / r).unwrap_or(0.0);
            conns.push(Conn {
                sock,
                tls,
                wbuf: Vec::with_capacity(64 * 1024),
                wpos: 0,
                rbuf: vec![0; 64 * 1024],
                rstart: 0,
                rend: 0,
                inflight: VecDeque::with_capacity(cfg.pipeline.max(1)),
                phase: Duration::from_secs_f64(phase),
                next_due: now,
                dead: false,
            });
        }
        Ok(Worker {
            cfg: cfg.clone(),
            poll,
            conns,
            quota,
            rng: Rng::new(cfg.seed.wrapping_add(thread_idx as u64 * 0x9e37_79b9)),
            keys: KeyGen::new(cfg.keys, cfg.dist),
            value_buf: vec![b'v'; cfg.value.max],
            stats: Stats::new(),
        })
    }

    fn run(mut self) -> Result<Stats, String> {
        let start = Instant::now();
        let pipeline = self.cfg.pipeline.max(1);
        let interval = self
            .cfg
            .rate
            .map(|r| Duration::from_secs_f64(self.cfg.connections as f64 / r));
        for c in &mut self.conns {
            c.next_due = start + c.phase;
        }
        let deadline = match self.cfg.stop {
            Stop::Duration(d) => Some(start + d),
            Stop::Requests(_) => None,
        };
        let mut issued = 0u64;
        let mut drain_until: Option<Instant> = None;
        let mut events = Events::with_capacity(256);
        loop {
            let now = Instant::now();
            if drain_until.is_none() {
                let out_of_time = deadline.is_some_and(|d| now >= d);
                let out_of_quota = self.quota.is_some_and(|q| issued >= q);
                if out_of_time || out_of_quota || self.conns.iter().all(|c| c.dead) {
                    if let (Some(iv), Some(d)) = (interval, deadline) {
                        for c in self.conns.iter().filter(|c| !c.dead && c.next_due < d) {
                            let behind = (d - c.next_due).as_secs_f64() / iv.as_secs_f64();
                            self.stats.unsent += behind.ceil() as u64;
                        }
                    }
                    drain_until = Some(now + Duration::from_secs(2));
                }
            }
            if let Some(until) = drain_until {
                let waiting: usize = self.conns.iter().map(|c| c.inflight.len()).sum();
                if waiting == 0 || now >= until {
                    self.stats.errors += waiting as u64;
                    break;
                }
            } else {
                for i in 0..self.conns.len() {
                    if self.conns[i].dead {
                        continue;
                    }
                    while self.conns[i].inflight.len() < pipeline
                        && !self.quota.is_some_and(|q| issued >= q)
                    {
                        let intended = match interval {
                            None => now,
                            Some(iv) => {
                                let due = self.conns[i].next_due;
                                if due > now {
                                    break;
                                }
                                self.conns[i].next_due = due + iv;
                                due
                            }
                        };
                        self.issue(i, intended);
                        issued += 1;
                    }
                    self.flush(i);
                }
            }
            let timeout = self.timeout(now, deadline, drain_until, pipeline);
            self.poll.poll(&mut events, timeout).or_else(|e| {
                if e.kind() == io::ErrorKind::Interrupted {
                    Ok(())
                } else {
                    Err(format!("poll: {e}"))
                }
            })?;
            for ev in events.iter() {
                let i = ev.token().0;
                if ev.is_writable() {
                    self.flush(i);
                }
                if ev.is_readable() || ev.is_read_closed() || ev.is_error() {
                    self.read(i);
                }
            }
        }
        Ok(self.stats)
    }

    /// How long poll may sleep: until the next scheduled send (open loop), the deadline, or the
    /// end of draining. Sub-millisecond waits spin, because epoll sleeps in whole milliseconds
    /// and an open-loop client that wakes late adds its own lateness to every latency.
    fn timeout(
        &self,
        now: Instant,
        deadline: Option<Instant>,
        drain_until: Option<Instant>,
        pipeline: usize,
    ) -> Option<Duration> {
        let mut wake = drain_until.or(deadline);
        if drain_until.is_none() && self.cfg.rate.is_some() {
            for c in self
                .conns
                .iter()
                .filter(|c| !c.dead && c.inflight.len() < pipeline)
            {
                wake = Some(wake.map_or(c.next_due, |w| w.min(c.next_due)));
            }
        }
        let wait = wake?.saturating_duration_since(now);
        if self.cfg.rate.is_some() && wait < Duration::from_millis(2) {
            Some(Duration::ZERO)
        } else if self.cfg.rate.is_some() {
            Some(wait - Duration::from_millis(1))
        } else {
            Some(wait)
        }
    }

    fn issue(&mut self, i: usize, intended: Instant) {
        let key = key_bytes(self.keys.next(&mut self.rng));
        let op = if self.cfg.mix.next_is_get(&mut self.rng) {
            Op::Get
        } else {
            Op::Set
        };
        let conn = &mut self.conns[i];
        match op {
            Op::Get => proto::encode_get(self.cfg.protocol, &key, &mut conn.wbuf),
            Op::Set => {
                let len = self.cfg.value.next(&mut self.rng);
                proto::encode_set(
                    self.cfg.protocol,
                    &key,
                    &self.value_buf[..len],
                    &mut conn.wbuf,
                )
            }
        }
        conn.inflight.push_back(InFlight {
            op,
            start: intended,
        });
    }

    fn flush(&mut self, i: usize) {
        if self.conns[i].tls.is_some() {
            return self.flush_tls(i);
        }
        loop {
            let conn = &mut self.conns[i];
            if conn.wpos >= conn.wbuf.len() {
                conn.wbuf.clear();
                conn.wpos = 0;
                return;
            }
            match conn.sock.write(&conn.wbuf[conn.wpos..]) {
                Ok(0) => return self.kill(i, "server closed the connection"),
                Ok(n) => conn.wpos += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return self.kill(i, "write failed"),
            }
        }
    }

    /// TLS: the whole batch is encrypted at once, then records are written until the socket
    /// is full.
    fn flush_tls(&mut self, i: usize) {
        let conn = &mut self.conns[i];
        let Some(tls) = conn.tls.as_mut() else {
            return;
        };
        if conn.wpos < conn.wbuf.len() {
            if tls.writer().write_all(&conn.wbuf[conn.wpos..]).is_err() {
                return self.kill(i, "TLS write failed");
            }
            conn.wbuf.clear();
            conn.wpos = 0;
        }
        while tls.wants_write() {
            match tls.write_tls(&mut conn.sock) {
                Ok(0) => return self.kill(i, "server closed the connection"),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return self.kill(i, "write failed"),
            }
        }
    }

    /// TLS: reads records until the socket is drained, decrypting into the read buffer.
    fn read_tls(&mut self, i: usize) {
        loop {
            let conn = &mut self.conns[i];
            if conn.dead {
                return;
            }
            let Some(tls) = conn.tls.as_mut() else {
                return;
            };
            match tls.read_tls(&mut conn.sock) {
                Ok(0) => return self.kill(i, "server closed the connection"),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return self.kill(i, "read failed"),
            }
            if tls.process_new_packets().is_err() {
                return self.kill(i, "TLS error");
            }
            loop {
                let conn = &mut self.conns[i];
                conn.make_room();
                let Some(tls) = conn.tls.as_mut() else {
                    return;
                };
                match tls.reader().read(&mut conn.rbuf[conn.rend..]) {
                    Ok(0) => return self.kill(i, "server closed the TLS session"),
                    Ok(n) => conn.rend += n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(_) => return self.kill(i, "TLS read failed"),
                }
            }
            if let Err(e) = self.parse(i, Instant::now()) {
                return self.kill(i, &e);
            }
        }
    }

    fn read(&mut self, i: usize) {
        if self.conns[i].tls.is_some() {
            return self.read_tls(i);
        }
        loop {
            let conn = &mut self.conns[i];
            if conn.dead {
                return;
            }
            conn.make_room();
            match conn.sock.read(&mut conn.rbuf[conn.rend..]) {
                Ok(0) => return self.kill(i, "server closed the connection"),
                Ok(n) => {
                    conn.rend += n;
                    if let Err(e) = self.parse(i, Instant::now()) {
                        return self.kill(i, &e);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return self.kill(i, "read failed"),
            }
        }
    }

    fn parse(&mut self, i: usize, now: Instant) -> Result<(), String> {
        let proto = self.cfg.protocol;
        let conn = &mut self.conns[i];
        while conn.rstart < conn.rend {
            let Some(front) = conn.inflight.front() else {
                return Err("reply without a request".to_string());
            };
            match proto::parse_reply(proto, front.op, &conn.rbuf[conn.rstart..conn.rend]) {
                Parsed::Complete(reply, used) => {
                    conn.rstart += used;
                    let op = front.op;
                    let latency = now.saturating_duration_since(front.start);
                    conn.inflight.pop_front();
                    self.stats.record(op, reply, latency);
                }
                Parsed::Incomplete => break,
                Parsed::Invalid(e) => return Err(e),
            }
        }
        if conn.rstart == conn.rend {
            conn.rstart = 0;
            conn.rend = 0;
        }
        Ok(())
    }

    /// Marks connection `i` unusable; its outstanding requests count as errors.
    fn kill(&mut self, i: usize, why: &str) {
        let conn = &mut self.conns[i];
        if conn.dead {
            return;
        }
        conn.dead = true;
        self.stats.errors += conn.inflight.len() as u64;
        conn.inflight.clear();
        let _ = self.poll.registry().deregister(&mut conn.sock);
        if self.stats.errors < 10 {
            eprintln!("loadgen: connection {i}: {why}");
        }
    }
}
