//! One client connection: its socket, its read and write buffers, and the loop that
//! turns buffered bytes into replies.
//!
//! The request path through this file, top to bottom: the socket is read into
//! `rbuf`; `protocol` parses a borrowed request from the unconsumed bytes;
//! `command::text::execute` runs it against the store and appends the reply to `wbuf`; the
//! request's bytes are consumed; once the input runs dry (or the `-R` budget is spent)
//! everything in `wbuf` leaves in one `write`.
//!
//! Syscall economy (what the benchmarks measure): the socket is registered once for
//! both directions, edge-triggered, and never re-registered. A read that returns less
//! than the free space means the socket is drained (Linux raises a fresh edge for any
//! later arrival), so an unpipelined request costs one `read` and one `write`; a
//! pipelined batch costs one `read` and one `write` for the whole batch.
//!
//! The one exception is the end of the stream. An end (FIN or reset) that arrives
//! together with the last bytes is reported in the same edge as those bytes, as
//! read-closed readiness (`EPOLLRDHUP`/`EPOLLHUP`), and no later edge will repeat it; so
//! once the poll has reported read-closed, a short read no longer ends reading, and the
//! connection reads on until `read` returns 0 (or an error). Only connections whose peer
//! has closed pay that extra `read`.
//!
//! End of stream: the requests already received are still executed and their replies
//! written (a slow reader is waited for, as on any connection); a partial request left
//! at the end is dropped; the connection closes as soon as nothing is left to write, as
//! memcached does. A socket error (a reset) closes it at once.
//!
//! Bounds: `rbuf` grows only as far as one request needs (a value of `-I` bytes, or a
//! long multiget line) up to [`Conn::read_cap`]; `wbuf` stops growing at
//! [`WBUF_HIGH`]: past it the connection stops parsing (a multiget pauses between
//! keys and resumes later) until the client has read its replies.
//!
//! Output held for slow readers is also bounded in total: every connection counts the
//! output its socket did not take (after a write) in one shared gauge
//! (`conn_output_held` in `stats`); while that is over `-o output_held_limit` (32 MiB by default; each connection may
//! still hold the reply it was building when the bound was crossed: up to one item, or
//! [`WBUF_HIGH`] of a multiget), a connection
//! with output pending writes it after each request and stops parsing if any is left,
//! until its client reads (`conn_output_paused` counts these pauses). Connections whose
//! client keeps up lose nothing but a write per request while the bound is exceeded; the
//! gauge is touched only by connections whose writes fall behind.
//!
//! TLS (`-Z`): a connection from a TLS listener carries a [`TlsStream`]; `fill` and
//! `write_out` branch to it once per call, so the parser, the commands and the buffers
//! are the same for both, and a plain connection pays one never-taken branch.

use super::listener::Stream;
use super::tls::{TlsRead, TlsStream};
use super::wirelog;
use crate::command::{self, Action, Ctx, Output, Session, Stepped, MAX_IOVECS};
use crate::protocol::{self, Dialect};
use crate::stats::Registry;
use std::io::{self, IoSlice, Read, Write};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

/// Whether output held for slow readers, all connections together, is over the bound
/// (`-o output_held_limit`).
fn output_over_limit(ctx: &Ctx<'_>) -> bool {
    ctx.registry.conns.output_held.load(Ordering::Relaxed) as usize > ctx.settings.output_held_limit
}

/// Initial (and idle) size of a connection's read buffer.
pub const RBUF_INITIAL: usize = 16 * 1024;
/// A read is attempted only with at least this much free space.
const RBUF_MIN_FREE: usize = 4 * 1024;
/// Output beyond this many unsent bytes pauses request processing.
pub const WBUF_HIGH: usize = 1024 * 1024;
/// Buffers larger than this are shrunk back as soon as they are empty. Smaller ones are kept
/// while the connection is busy (a pipelining client reuses them batch after batch, where
/// shrinking after every batch would reallocate and copy them again each time) and shrunk
/// by [`Conn::shrink_idle`] once it goes quiet.
const SHRINK_AT_ONCE_ABOVE: usize = 4 * WBUF_HIGH;

/// What the worker should do with a connection after [`Conn::ready`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Wait for the next readiness event.
    Open,
    /// Work is left (the `-R` budget ran out): call `ready` again after other connections.
    Yield,
    /// Close it now (its final replies have been written or cannot be).
    Close,
    /// The client asked the server to shut down (`shutdown` with `-A`).
    Shutdown,
}

/// What one read brought.
enum Filled {
    /// Bytes arrived.
    Data,
    /// Nothing to read now.
    Drained,
    /// End of stream: the peer closed its sending side.
    End,
}

enum Progress {
    NeedInput,
    OutputFull,
    /// Output held by all connections is over `-o output_held_limit` and this one has some
    /// pending: write it before parsing more.
    HeldOverLimit,
    BudgetSpent,
    Close,
    Shutdown,
}

/// A client connection.
pub struct Conn {
    stream: Stream,
    /// The TLS layer, for connections from a `-Z` listener (boxed: a plain connection
    /// keeps its small size).
    tls: Option<Box<TlsStream>>,
    rbuf: Vec<u8>,
    rstart: usize,
    rend: usize,
    /// Replies not yet written: bytes, and large values by reference (`command::Output`).
    wbuf: Output,
    /// This connection's share of the shared `output_held` gauge: its pending output as of
    /// its last write (0 while its writes keep up).
    held: usize,
    /// Bytes still to drop from the input (the data block of a rejected `set`).
    swallow: usize,
    /// Keys of a paused multiget already answered.
    resume: usize,
    readable: bool,
    writable: bool,
    /// The poll reported read-closed readiness: the peer has sent its FIN (or reset), so
    /// a short read does not mean drained; read on until end of stream.
    read_closed: bool,
    /// `read` returned end of stream: nothing more will arrive.
    eof: bool,
    read_cap: usize,
    /// Chosen from the first byte received (or forced by `-B`).
    dialect: Option<Dialect>,
    session: Session,
    /// Relative time of the last command, shared with `stats conns`.
    last_cmd: Arc<AtomicU32>,
    last_seen: u32,
}

impl Conn {
    /// Wraps an accepted stream. `item_size_max` sizes the largest read buffer it may need.
    pub fn new(
        stream: Stream,
        tls: Option<Box<TlsStream>>,
        settings: &command::Settings,
        now: u32,
        last_cmd: Arc<AtomicU32>,
    ) -> Conn {
        last_cmd.store(now, Ordering::Relaxed);
        Conn {
            stream,
            tls,
            rbuf: vec![0; RBUF_INITIAL],
            rstart: 0,
            rend: 0,
            wbuf: Output::with_capacity(RBUF_INITIAL, true),
            held: 0,
            swallow: 0,
            resume: 0,
            readable: false,
            writable: true,
            read_closed: false,
            eof: false,
            read_cap: Self::read_cap(settings.limits.item_size_max),
            dialect: settings.forced_dialect,
            session: Session {
                authenticated: !settings.auth_required,
            },
            last_cmd,
            last_seen: now,
        }
    }

    /// The most input one connection may buffer: a whole item plus its command line,
    /// or a multiget line of up to 16 MiB (hundreds of thousands of keys).
    pub fn read_cap(item_size_max: usize) -> usize {
        (item_size_max + 64 * 1024).max(16 * 1024 * 1024)
    }

    /// The socket, for (de)registration.
    pub fn stream_mut(&mut self) -> &mut Stream {
        &mut self.stream
    }

    /// Relative time of the last command (for the idle timeout).
    pub fn last_seen(&self) -> u32 {
        self.last_seen
    }

    /// Gives back buffer memory of a connection that has had nothing to do since `since`
    /// (the worker calls this about once a second): buffers return to their initial size.
    pub fn shrink_idle(&mut self, since: u32) {
        if self.last_seen >= since {
            return;
        }
        if self.rstart == self.rend && self.rbuf.len() > RBUF_INITIAL {
            self.rstart = 0;
            self.rend = 0;
            self.rbuf.truncate(RBUF_INITIAL);
            self.rbuf.shrink_to_fit();
        }
        if self.pending_output() == 0 && self.wbuf.capacity() > RBUF_INITIAL {
            self.wbuf.clear();
            self.wbuf.shrink_to(RBUF_INITIAL);
        }
    }

    /// Remembers readiness reported by the poll (edges are not repeated, so a
    /// readiness left unused must be remembered until used). `read_closed`: the poll
    /// reported that the peer closed its sending side (mio's `is_read_closed`, or an
    /// error); it implies `readable`.
    pub fn note(&mut self, readable: bool, writable: bool, read_closed: bool) {
        // After end of stream there is nothing left to read (a later edge for writing
        // repeats the read-closed bits).
        self.readable |= (readable || read_closed) && !self.eof;
        self.writable |= writable;
        self.read_closed |= read_closed;
    }

    /// Does all the work the connection's readiness allows: read, parse, execute and
    /// write, within `ctx.reqs_per_event` requests.
    pub fn ready(&mut self, ctx: &Ctx<'_>) -> Next {
        let mut budget = ctx.settings.reqs_per_event;
        loop {
            if self.pending_output() >= WBUF_HIGH {
                if self.flush(ctx).is_err() {
                    return Next::Close;
                }
                if self.pending_output() >= WBUF_HIGH {
                    return Next::Open;
                }
            }
            match self.process(&mut budget, ctx) {
                Progress::NeedInput => {}
                Progress::OutputFull => continue,
                Progress::HeldOverLimit => {
                    if self.flush(ctx).is_err() {
                        return Next::Close;
                    }
                    if self.held > 0 {
                        // The client is not reading: wait for it (a writable edge), keeping
                        // no more memory than the output it is owed.
                        ctx.stats.conn_output_paused.incr();
                        self.compact_output();
                        return Next::Open;
                    }
                    continue;
                }
                Progress::BudgetSpent => {
                    return match self.flush(ctx) {
                        Ok(()) => Next::Yield,
                        Err(_) => Next::Close,
                    };
                }
                Progress::Close => {
                    let _ = self.flush(ctx);
                    return Next::Close;
                }
                Progress::Shutdown => {
                    let _ = self.flush(ctx);
                    return Next::Shutdown;
                }
            }
            if !self.readable {
                break;
            }
            match self.fill(ctx) {
                Ok(Filled::Data) => continue,
                Ok(Filled::Drained) => break,
                Ok(Filled::End) => {
                    // Every complete request received has been executed (`fill` is only
                    // reached once `process` needs input); what is left is a partial
                    // request that can never complete.
                    self.end_of_input();
                    break;
                }
                Err(_) => {
                    let _ = self.flush(ctx);
                    return Next::Close;
                }
            }
        }
        match self.flush(ctx) {
            // The peer is gone and owed nothing more: close, as memcached does.
            Ok(()) if self.eof && self.pending_output() == 0 && !self.tls_wants_write() => {
                Next::Close
            }
            Ok(()) => Next::Open,
            Err(_) => Next::Close,
        }
    }

    /// End of stream: no more input will come, so the input buffer (and any partial
    /// request or data block in it) is freed now; the output still owed is kept.
    fn end_of_input(&mut self) {
        self.eof = true;
        self.readable = false;
        self.rbuf = Vec::new();
        self.rstart = 0;
        self.rend = 0;
        self.swallow = 0;
        self.resume = 0;
    }

    /// Writes what it can of the pending output before a shutdown closes the
    /// connection; true once nothing is left to write (or the socket failed).
    pub fn drain_output(&mut self, ctx: &Ctx<'_>) -> bool {
        self.flush(ctx).is_err() || (self.pending_output() == 0 && !self.tls_wants_write())
    }

    fn pending_output(&self) -> usize {
        self.wbuf.pending()
    }

    /// Encrypted bytes (a handshake message, records) still to be written.
    fn tls_wants_write(&self) -> bool {
        self.tls.as_ref().is_some_and(|t| t.wants_write())
    }

    /// Parses and executes buffered requests.
    fn process(&mut self, budget: &mut usize, ctx: &Ctx<'_>) -> Progress {
        loop {
            if self.swallow > 0 {
                let n = self.swallow.min(self.rend - self.rstart);
                self.rstart += n;
                self.swallow -= n;
                if self.swallow > 0 {
                    return Progress::NeedInput;
                }
            }
            if self.rstart == self.rend {
                return Progress::NeedInput;
            }
            if self.pending_output() >= WBUF_HIGH {
                return Progress::OutputFull;
            }
            if *budget == 0 {
                return Progress::BudgetSpent;
            }
            if self.pending_output() > 0 && output_over_limit(ctx) {
                return Progress::HeldOverLimit;
            }
            if self.wbuf.sent() > 0 && self.wbuf.sent() >= self.pending_output() {
                // Output was partly sent (a slow reader): once the sent prefix is at least
                // as long as the backlog, drop it, so that the command layer's view of the
                // buffer's length stays within twice the backlog. Moving only then keeps
                // the cost amortised (each byte is moved at most once per halving).
                self.wbuf.drop_sent();
            }
            let input = &self.rbuf[self.rstart..self.rend];
            let dialect = match self.dialect {
                Some(d) => d,
                None => {
                    let d = protocol::sniff(input[0]);
                    wirelog::negotiated(self.stream.fd(), d);
                    *self.dialect.insert(d)
                }
            };
            let resume = self.resume;
            let out_start = self.wbuf.len();
            // Read before executing: `verbosity 0` is itself logged, as in memcached.
            let log_request = wirelog::enabled();
            // The reply log reads values as bytes: copy them while it is on.
            self.wbuf.set_by_ref(!log_request);
            let stepped = command::step(
                dialect,
                input,
                resume,
                ctx,
                &mut self.session,
                &mut self.wbuf,
            );
            if let Stepped::Done { .. } = stepped {
                let fd = self.stream.fd();
                if log_request {
                    wirelog::request(dialect, fd, input);
                }
                if wirelog::enabled() {
                    wirelog::reply(dialect, fd, &self.wbuf[out_start..]);
                }
            }
            match stepped {
                Stepped::NeedInput => return Progress::NeedInput,
                Stepped::Done {
                    consumed,
                    swallow,
                    action,
                } => {
                    *budget -= 1;
                    let now = ctx.store.clock().now();
                    if now != self.last_seen {
                        self.last_seen = now;
                        self.last_cmd.store(now, Ordering::Relaxed);
                    }
                    self.rstart += consumed;
                    self.swallow = swallow;
                    match action {
                        Action::Continue => self.resume = 0,
                        Action::Suspend(done) => {
                            self.resume = done;
                            return Progress::OutputFull;
                        }
                        Action::Close => return Progress::Close,
                        Action::Shutdown => return Progress::Shutdown,
                    }
                }
            }
        }
    }

    /// One read into `rbuf`.
    ///
    /// # Errors
    /// A socket error, or input that outgrew [`Conn::read_cap`].
    fn fill(&mut self, ctx: &Ctx<'_>) -> io::Result<Filled> {
        self.make_room()?;
        if let Some(tls) = self.tls.as_mut() {
            let space = &mut self.rbuf[self.rend..];
            return match tls.read(&mut self.stream, space, self.read_closed, ctx.stats)? {
                TlsRead::Data(n, drained) => {
                    self.rend += n;
                    ctx.stats.bytes_read.add(n as u64);
                    if drained {
                        self.readable = false;
                    }
                    Ok(Filled::Data)
                }
                TlsRead::Drained => {
                    self.readable = false;
                    Ok(Filled::Drained)
                }
                TlsRead::End => Ok(Filled::End),
            };
        }
        let space = self.rbuf.len() - self.rend;
        loop {
            match self.stream.read(&mut self.rbuf[self.rend..]) {
                Ok(0) => return Ok(Filled::End),
                Ok(n) => {
                    self.rend += n;
                    ctx.stats.bytes_read.add(n as u64);
                    if n < space && !self.read_closed {
                        // Drained: the kernel raises a new edge for anything later. Not
                        // so once the peer has closed: its end of stream came with the
                        // edge already reported, so the next read must see it.
                        self.readable = false;
                    }
                    return Ok(Filled::Data);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.readable = false;
                    return Ok(Filled::Drained);
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Ensures `rbuf` has free space at its end: resets, compacts or grows it.
    fn make_room(&mut self) -> io::Result<()> {
        if self.rstart == self.rend {
            self.rstart = 0;
            self.rend = 0;
            if self.rbuf.len() > SHRINK_AT_ONCE_ABOVE {
                self.rbuf.truncate(RBUF_INITIAL);
                self.rbuf.shrink_to_fit();
            }
        }
        if self.rbuf.len() - self.rend >= RBUF_MIN_FREE {
            return Ok(());
        }
        if self.rstart > 0 {
            self.rbuf.copy_within(self.rstart..self.rend, 0);
            self.rend -= self.rstart;
            self.rstart = 0;
            if self.rbuf.len() - self.rend >= RBUF_MIN_FREE {
                return Ok(());
            }
        }
        if self.rbuf.len() >= self.read_cap {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "request larger than the read buffer cap",
            ));
        }
        let grown = (self.rbuf.len() * 2).min(self.read_cap);
        self.rbuf.resize(grown, 0);
        Ok(())
    }

    /// Drops the sent prefix of `wbuf` and gives back capacity beyond what is still owed
    /// (a paused slow reader's buffer may have grown to a megabyte and more while it was
    /// keeping up). Only when it is worth it: at least half the buffer would be freed.
    fn compact_output(&mut self) {
        let keep = self.pending_output().max(RBUF_INITIAL);
        if self.wbuf.capacity() >= 2 * keep {
            self.wbuf.shrink_to(keep);
        }
    }

    /// Ends the TLS session, if any, with close_notify (the connection is closing).
    pub fn close_tls(&mut self) {
        if let Some(tls) = self.tls.as_mut() {
            tls.close(&mut self.stream);
        }
    }

    /// Takes this connection's share out of the shared `output_held` gauge (it is closing).
    pub fn release_output(&mut self, registry: &Registry) {
        if self.held > 0 {
            registry
                .conns
                .output_held
                .fetch_sub(self.held as u64, Ordering::Relaxed);
            self.held = 0;
        }
    }

    /// Brings this connection's share of the shared `output_held` gauge up to date with its
    /// pending output: nothing to do (no shared write) while its writes keep up.
    fn account(&mut self, ctx: &Ctx<'_>) {
        let now = self.pending_output();
        if now != self.held {
            let gauge = &ctx.registry.conns.output_held;
            if now > self.held {
                gauge.fetch_add((now - self.held) as u64, Ordering::Relaxed);
            } else {
                gauge.fetch_sub((self.held - now) as u64, Ordering::Relaxed);
            }
            self.held = now;
        }
    }

    /// Writes pending output until done or the socket is full, and accounts for what is
    /// left.
    ///
    /// # Errors
    /// A socket error (the connection is then closed).
    fn flush(&mut self, ctx: &Ctx<'_>) -> io::Result<()> {
        let r = self.write_out(ctx);
        self.account(ctx);
        r
    }

    fn write_out(&mut self, ctx: &Ctx<'_>) -> io::Result<()> {
        if let Some(tls) = self.tls.as_mut() {
            // rustls takes one slice at a time (it copies into records anyway). Called even
            // with nothing pending: it also writes the records rustls has queued (handshake).
            while self.writable {
                let piece = self.wbuf.first_slice();
                let (n, full) = tls.write(&mut self.stream, piece)?;
                let short = n < piece.len();
                self.wbuf.advance(n);
                ctx.stats.bytes_written.add(n as u64);
                if full {
                    self.writable = false;
                }
                if short || self.wbuf.pending() == 0 {
                    break;
                }
            }
            if self.wbuf.pending() > 0 {
                return Ok(());
            }
        }
        while self.wbuf.pending() > 0 {
            if !self.writable {
                return Ok(());
            }
            let written = if self.wbuf.has_refs() {
                // One writev from the buffer and segment memory (values by reference).
                let mut iov = [IoSlice::new(&[]); MAX_IOVECS];
                let n = self.wbuf.slices(&mut iov);
                self.stream.write_vectored(&iov[..n])
            } else {
                self.stream.write(self.wbuf.first_slice())
            };
            match written {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.wbuf.advance(n);
                    ctx.stats.bytes_written.add(n as u64);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.writable = false;
                    return Ok(());
                }
                Err(e) => return Err(e),
            }
        }
        if self.wbuf.capacity() > SHRINK_AT_ONCE_ABOVE {
            self.wbuf.shrink_to(RBUF_INITIAL);
        }
        Ok(())
    }
}
