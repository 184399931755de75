//! A worker thread: one mio `Poll`, the connections handed to it, and its loop.
//!
//! The only way into a worker from another thread is its inbox (a channel of
//! accepted connections) followed by a wake of its `Waker`: memcached's
//! `dispatch_conn_new`, in Rust. Everything else a worker touches is its own, except
//! the store (which has its own locks) and the stats registry (read by `stats`).

use super::conn::{Conn, Next};
use super::listener::Accepted;
use super::tls::TlsStream;
use super::udp::Endpoint;
use super::Shared;
use crate::stats::{ConnInfo, WorkerStats};
use crossbeam::channel::Receiver;
use mio::{Events, Interest, Poll, Token, Waker};
use slab::Slab;
use std::io;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The token of a worker's waker; connection tokens are their slab keys.
pub const WAKER: Token = Token(usize::MAX);
/// UDP endpoint `i` of a worker has token `UDP_TOKENS + i` (far above any slab key).
const UDP_TOKENS: usize = usize::MAX / 2;

/// Connections the once-a-second sweep (idle kicks, buffer shrinking) visits per loop
/// turn: a worker with many connections sweeps over several turns instead of stalling the
/// ready ones for a time that grows with the connection count.
const SWEEP_SLICE: usize = 256;

/// One event loop and its connections.
pub struct Worker {
    poll: Poll,
    conns: Slab<(Conn, u64)>,
    inbox: Receiver<Accepted>,
    pending: Vec<Token>,
    /// The next slab key the sweep in progress visits (None: no sweep in progress).
    sweep_at: Option<usize>,
    /// This worker's UDP sockets (`-U`), one per address.
    udp: Vec<Endpoint>,
    shared: Arc<Shared>,
    stats: Arc<WorkerStats>,
}

impl Worker {
    /// Creates worker `index`'s loop and the waker other threads use to reach it.
    ///
    /// # Errors
    /// When the poll or waker cannot be created.
    pub fn new(
        index: usize,
        shared: Arc<Shared>,
        inbox: Receiver<Accepted>,
    ) -> io::Result<(Worker, Arc<Waker>)> {
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        let stats = shared.registry.worker(index);
        Ok((
            Worker {
                poll,
                conns: Slab::with_capacity(64),
                inbox,
                pending: Vec::new(),
                sweep_at: None,
                udp: Vec::new(),
                shared,
                stats,
            },
            waker,
        ))
    }

    /// Adds a UDP socket that this worker serves (before [`Worker::run`]).
    ///
    /// # Errors
    /// When the socket cannot be registered with the poll.
    pub fn add_udp(&mut self, socket: mio::net::UdpSocket) -> io::Result<()> {
        let mut endpoint = Endpoint::new(socket)?;
        let token = Token(UDP_TOKENS + self.udp.len());
        self.poll.registry().register(
            endpoint.socket_mut(),
            token,
            Interest::READABLE | Interest::WRITABLE,
        )?;
        self.shared
            .registry
            .add_udp(endpoint.fd() as u64, endpoint.name());
        self.udp.push(endpoint);
        Ok(())
    }

    /// Runs until the server stops.
    pub fn run(mut self) {
        let mut events = Events::with_capacity(1024);
        let idle = self.shared.settings.idle_timeout;
        let mut next_sweep = Instant::now() + Duration::from_secs(1);
        loop {
            let timeout = if !self.pending.is_empty() || self.sweep_at.is_some() {
                Some(Duration::ZERO)
            } else {
                Some(next_sweep.saturating_duration_since(Instant::now()))
            };
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                log::error!("worker poll failed: {e}");
                return;
            }
            for ev in events.iter() {
                let token = ev.token();
                if token == WAKER {
                    self.adopt_new();
                    continue;
                }
                // Read-closed (the peer's FIN, or a hang-up) and errors both mean the
                // input ends here: the connection reads until `read` says so.
                let read_closed = ev.is_read_closed() || ev.is_error();
                let writable = ev.is_writable() || ev.is_write_closed();
                if let Some(endpoint) = token.0.checked_sub(UDP_TOKENS) {
                    if let Some(u) = self.udp.get_mut(endpoint) {
                        u.note(ev.is_readable() || ev.is_error());
                    }
                } else if let Some((conn, _)) = self.conns.get_mut(token.0) {
                    conn.note(ev.is_readable(), writable, read_closed);
                }
                self.drive(token);
            }
            for token in std::mem::take(&mut self.pending) {
                self.drive(token);
            }
            if self.shared.stopping() {
                self.shutdown();
                return;
            }
            if self.sweep_at.is_none() && Instant::now() >= next_sweep {
                self.sweep_at = Some(0);
                next_sweep = Instant::now() + Duration::from_secs(1);
            }
            if let Some(from) = self.sweep_at {
                self.sweep_at = self.sweep(from, idle);
            }
        }
    }

    /// Runs a connection and acts on its status.
    fn drive(&mut self, token: Token) {
        let shared = &*self.shared;
        let ctx = shared.ctx(&self.stats);
        let status = if let Some(i) = token.0.checked_sub(UDP_TOKENS) {
            match self.udp.get_mut(i) {
                Some(endpoint) => endpoint.ready(&ctx),
                None => return,
            }
        } else {
            match self.conns.get_mut(token.0) {
                Some((conn, _)) => conn.ready(&ctx),
                None => return,
            }
        };
        match status {
            Next::Open => {}
            Next::Yield => {
                self.stats.conn_yields.incr();
                self.pending.push(token);
            }
            Next::Close => self.close(token),
            Next::Shutdown => {
                self.shared.request_shutdown();
            }
        }
    }

    /// Takes the connections the acceptor queued for this worker.
    fn adopt_new(&mut self) {
        while let Ok(acc) = self.inbox.try_recv() {
            let now = self.shared.store.clock().now();
            let fd = acc.stream.fd() as u64;
            let last = Arc::new(AtomicU32::new(now));
            let tls = match (&self.shared.settings.tls, acc.tls) {
                (Some(ctx), true) => match TlsStream::new(ctx.server_config(), ctx.wbuf_size()) {
                    Ok(t) => Some(Box::new(t)),
                    Err(e) => {
                        log::warn!("cannot start TLS for {}: {e}", acc.peer);
                        self.uncount_connection();
                        continue;
                    }
                },
                _ => None,
            };
            let conn = Conn::new(
                acc.stream,
                tls,
                &self.shared.settings,
                now,
                Arc::clone(&last),
            );
            let entry = self.conns.vacant_entry();
            let token = Token(entry.key());
            let (conn, _) = entry.insert((conn, fd));
            if let Err(e) = self.poll.registry().register(
                conn.stream_mut(),
                token,
                Interest::READABLE | Interest::WRITABLE,
            ) {
                log::warn!("cannot register connection {}: {e}", acc.peer);
                self.conns.remove(token.0);
                self.uncount_connection();
                continue;
            }
            log::debug!("<{fd} new client connection from {}", acc.peer);
            self.shared.registry.conn_opened(
                fd,
                ConnInfo {
                    addr: acc.peer,
                    listen_addr: acc.local,
                    last_cmd: last,
                },
            );
            // Data may have arrived before registration; the edge is not lost (the
            // registration reports current readiness), so nothing more to do here.
        }
    }

    /// A connection the acceptor counted in `curr_connections` is gone (closed, or never
    /// started: TLS setup or registration failed).
    fn uncount_connection(&self) {
        self.shared
            .registry
            .conns
            .curr_connections
            .fetch_sub(1, Ordering::Relaxed);
    }

    fn close(&mut self, token: Token) {
        if let Some((mut conn, fd)) = self.conns.try_remove(token.0) {
            conn.close_tls();
            let _ = self.poll.registry().deregister(conn.stream_mut());
            conn.release_output(&self.shared.registry);
            self.shared.registry.conn_closed(fd);
            self.uncount_connection();
            log::debug!("<{fd} connection closed.");
        }
    }

    /// One slice of the sweep: from slab key `from`, up to [`SWEEP_SLICE`] keys, closes
    /// connections idle longer than `idle` seconds (`-o idle_timeout`, 0: never) and
    /// shrinks the buffers of the others that were quiet for a second. Returns where the
    /// next slice starts, or None when the sweep is done.
    fn sweep(&mut self, from: usize, idle: u32) -> Option<usize> {
        let now = self.shared.store.clock().now();
        let end = (from + SWEEP_SLICE).min(self.conns.capacity());
        for key in from..end {
            let Some((conn, _)) = self.conns.get_mut(key) else {
                continue;
            };
            if idle > 0 && now.saturating_sub(conn.last_seen()) > idle {
                self.stats.idle_kicks.incr();
                self.close(Token(key));
            } else {
                conn.shrink_idle(now.saturating_sub(1));
            }
        }
        (end < self.conns.capacity()).then_some(end)
    }

    /// Orderly stop: write what each connection still owes (waiting up to
    /// [`DRAIN_TIMEOUT`] for slow readers), then close it.
    fn shutdown(&mut self) {
        let deadline = Instant::now() + DRAIN_TIMEOUT;
        let mut events = Events::with_capacity(256);
        loop {
            let shared = &*self.shared;
            let ctx = shared.ctx(&self.stats);
            let mut done = Vec::new();
            for (key, (conn, _)) in self.conns.iter_mut() {
                if conn.drain_output(&ctx) {
                    done.push(Token(key));
                }
            }
            for t in done {
                self.close(t);
            }
            let now = Instant::now();
            if self.conns.is_empty() || now >= deadline {
                break;
            }
            let wait = (deadline - now).min(Duration::from_millis(50));
            if self.poll.poll(&mut events, Some(wait)).is_ok() {
                for ev in events.iter() {
                    if let Some((conn, _)) = self.conns.get_mut(ev.token().0) {
                        conn.note(false, ev.is_writable() || ev.is_write_closed(), false);
                    }
                }
            }
        }
        let tokens: Vec<Token> = self.conns.iter().map(|(k, _)| Token(k)).collect();
        for t in tokens {
            self.close(t);
        }
    }
}

/// How long a stopping worker waits for clients to read the replies they are owed.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);
