//! UDP (`-U`): memcached's datagram framing, served by the same workers as TCP.
//!
//! # Sockets
//!
//! Every `-l` address gets one UDP socket per worker, all bound to the same address with
//! `SO_REUSEPORT`: the kernel spreads datagrams over the group by a hash of the sender's
//! address and port, so each worker reads only its own socket, with no wake-ups of the
//! other workers (memcached registers one socket with every thread, and every datagram
//! wakes them all) and no lock; the datagrams of one client all reach the same worker,
//! in order. Before the group is bound, a probe bind without `SO_REUSEPORT` checks that no
//! other process holds the port (a second daemon started on the same port fails as it
//! would over TCP instead of silently sharing the traffic).
//!
//! # Framing (memcached 1.6.18, `try_read_udp`, `build_udp_header`, `transmit_udp`)
//!
//! Every datagram starts with an 8-byte header of four big-endian `u16`: request id,
//! sequence number, total datagrams, reserved. A request must fit one datagram: a
//! datagram of 8 bytes or fewer, or whose total is not 1, is dropped without reply
//! (counted in `udp_datagrams_dropped`; memcached counts nothing); the sequence number
//! and the reserved field are not checked, as in memcached. The payload is one or more
//! requests, text or meta (or binary: memcached's UDP sniffs each datagram's first byte
//! and ignores `-B`, so larder does too); a partial request at the end is dropped, and no
//! state survives from one datagram to the next.
//!
//! Replies go back to the sender in datagrams of at most [`DATAGRAM_MAX`] bytes (header
//! included), each with the request id, its sequence number and the total. As in
//! memcached, the unit of that numbering is a *response object*: the reply of one command,
//! except that a multi-key `get`/`gets`/`gat`/`gats` has one object per key, the `END`
//! riding on the last; so one request may send several sequences, each starting at 0. An
//! empty object is sent (a bare header, total 0) when it is the first of its command: a
//! multi-key get whose first key misses, and `quit`. Quiet or `noreply` commands send
//! nothing. A response of more than 65535 datagrams says 65535 in its total and its
//! sequence numbers wrap, as memcached's do.
//!
//! # Bounds and fairness
//!
//! One datagram is read at a time into a 64 KiB buffer. Replies are built in a buffer
//! that pauses a multiget at the command layer's output limit (as on TCP), is sent, and
//! resumes; so an endpoint holds at most about a megabyte plus one item, however many
//! keys a datagram names. A send that would block keeps the reply and waits for the
//! socket's writable edge (nothing else is read meanwhile). Each readiness event serves
//! at most `-R` requests and datagrams, then yields to the worker's other connections.

use super::conn::Next;
use super::wirelog;
use crate::command::{self, Action, Ctx, Output, Session, Stepped};
use crate::protocol::{self, Dialect};
use mio::net::UdpSocket;
use socket2::{Domain, Protocol, Socket, Type};
use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;

/// Bytes of memcached's frame header.
pub const HEADER_LEN: usize = 8;
/// Largest datagram sent, header included (memcached's `UDP_MAX_PAYLOAD_SIZE`).
pub const DATAGRAM_MAX: usize = 1400;
/// Reply bytes carried by one datagram (memcached's `UDP_DATA_SIZE`).
pub const PAYLOAD_MAX: usize = DATAGRAM_MAX - HEADER_LEN;
/// The receive buffer: any UDP datagram fits (memcached's `UDP_READ_BUFFER_SIZE`).
const RECV_BUF: usize = 64 * 1024;
/// Send buffer asked for each socket (the kernel caps it at `net.core.wmem_max`):
/// memcached raises it as far as it can, since a large reply leaves in a burst.
const SEND_BUF: usize = 4 * 1024 * 1024;
/// A reply buffer that grew past this (a large item) is given back once sent.
const WBUF_KEEP: usize = 4 * 1024 * 1024;

/// The request id of a well-formed request datagram, or `None` when memcached drops it:
/// no payload after the header, or a request spread over several datagrams.
pub fn parse_header(datagram: &[u8]) -> Option<u16> {
    if datagram.len() <= HEADER_LEN {
        return None;
    }
    let total = u16::from_be_bytes([datagram[4], datagram[5]]);
    if total != 1 {
        return None;
    }
    Some(u16::from_be_bytes([datagram[0], datagram[1]]))
}

/// The frame header of reply datagram `seq` of `total`.
pub fn header(request_id: u16, seq: u16, total: u16) -> [u8; HEADER_LEN] {
    let [a, b] = request_id.to_be_bytes();
    let [c, d] = seq.to_be_bytes();
    let [e, f] = total.to_be_bytes();
    [a, b, c, d, e, f, 0, 0]
}

/// Datagrams a response of `len` bytes takes, as its header says: 0 for an empty one
/// (which still sends one bare header), at most 65535.
pub fn total_datagrams(len: usize) -> u16 {
    u16::try_from(len.div_ceil(PAYLOAD_MAX)).unwrap_or(u16::MAX)
}

/// Binds `copies` UDP sockets on each address `host` resolves to (every interface, IPv4
/// and IPv6, when `None`), port `port`, as `SO_REUSEPORT` groups: element `i` of the
/// result holds the sockets of worker `i`.
///
/// # Errors
/// When the address does not resolve, the port is taken, or a socket cannot be made.
pub fn bind(host: Option<&str>, port: u16, copies: usize) -> io::Result<Vec<Vec<UdpSocket>>> {
    let addrs = super::listener::resolve(host, port, "UDP")?;
    let mut per_worker: Vec<Vec<UdpSocket>> = (0..copies).map(|_| Vec::new()).collect();
    for sa in addrs {
        let failed =
            |e: io::Error| io::Error::new(e.kind(), format!("failed to bind UDP on {sa}: {e}"));
        // The probe: fails if anyone holds the port, with or without SO_REUSEPORT.
        let probe = new_socket(sa, false)?;
        probe.bind(&sa.into()).map_err(failed)?;
        let bound = probe
            .local_addr()?
            .as_socket()
            .expect("an inet socket has an inet address");
        drop(probe);
        for sockets in per_worker.iter_mut() {
            let socket = new_socket(bound, true)?;
            socket.bind(&bound.into()).map_err(failed)?;
            let std_socket: std::net::UdpSocket = socket.into();
            sockets.push(UdpSocket::from_std(std_socket));
        }
    }
    Ok(per_worker)
}

fn new_socket(sa: SocketAddr, reuse_port: bool) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(sa), Type::DGRAM, Some(Protocol::UDP))?;
    if sa.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    if reuse_port {
        socket.set_reuse_port(true)?;
        // Best effort: the kernel caps it, and a smaller buffer only means more waits.
        let _ = socket.set_send_buffer_size(SEND_BUF);
    }
    socket.set_nonblocking(true)?;
    Ok(socket)
}

/// One response object waiting to be sent: a range of the reply buffer and how far
/// its datagrams have gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Segment {
    start: usize,
    end: usize,
    /// Bytes of it already sent.
    sent: usize,
    /// Sequence number of its next datagram.
    seq: u16,
}

impl Segment {
    fn new(start: usize, end: usize) -> Segment {
        Segment {
            start,
            end,
            sent: 0,
            seq: 0,
        }
    }
}

/// One worker's UDP socket on one address, and the datagram it is serving.
pub struct Endpoint {
    socket: UdpSocket,
    fd: i32,
    /// The datagram being served (header included).
    rbuf: Box<[u8]>,
    /// Where the next request of the datagram starts, and where the datagram ends.
    pos: usize,
    end: usize,
    /// Keys of a paused multiget already answered.
    resume: usize,
    dialect: Dialect,
    peer: SocketAddr,
    request_id: u16,
    session: Session,
    /// Replies not yet sent, and their response objects (values copied: frames are built
    /// from the bytes).
    wbuf: Output,
    queue: VecDeque<Segment>,
    /// One datagram being assembled (header + payload).
    frame: Vec<u8>,
    readable: bool,
}

impl Endpoint {
    /// Wraps a bound socket.
    ///
    /// # Errors
    /// When its local address cannot be read.
    pub fn new(socket: UdpSocket) -> io::Result<Endpoint> {
        let peer = socket.local_addr()?;
        Ok(Endpoint {
            fd: socket.as_raw_fd(),
            socket,
            rbuf: vec![0; RECV_BUF].into_boxed_slice(),
            pos: 0,
            end: 0,
            resume: 0,
            dialect: Dialect::Text,
            peer,
            request_id: 0,
            session: Session {
                authenticated: true,
            },
            wbuf: Output::with_capacity(0, false),
            queue: VecDeque::new(),
            frame: Vec::with_capacity(DATAGRAM_MAX),
            readable: true,
        })
    }

    /// The socket, for (de)registration.
    pub fn socket_mut(&mut self) -> &mut UdpSocket {
        &mut self.socket
    }

    /// The socket's file descriptor (its id in `stats conns` and `-vv` logs).
    pub fn fd(&self) -> i32 {
        self.fd
    }

    /// `stats conns`' name of the socket: `udp:127.0.0.1:11211`.
    pub fn name(&self) -> String {
        match self.socket.local_addr() {
            Ok(a) => format!("udp:{a}"),
            Err(_) => "udp:?".to_string(),
        }
    }

    /// Remembers that the poll reported the socket readable (edges are not repeated).
    pub fn note(&mut self, readable: bool) {
        self.readable |= readable;
    }

    /// Serves datagrams until the socket is drained, a send would block, or `-R` requests
    /// have been served ([`Next::Yield`]: call again after the other connections).
    pub fn ready(&mut self, ctx: &Ctx<'_>) -> Next {
        let mut budget = ctx.settings.reqs_per_event;
        loop {
            if !self.flush(ctx) {
                return Next::Open; // the writable edge brings us back
            }
            if budget == 0 {
                return if self.pos < self.end || self.readable {
                    Next::Yield
                } else {
                    Next::Open
                };
            }
            budget -= 1;
            if self.pos < self.end {
                if self.step(ctx) == Action::Shutdown {
                    let _ = self.flush(ctx);
                    return Next::Shutdown;
                }
            } else if self.readable {
                self.receive(ctx);
            } else {
                return Next::Open;
            }
        }
    }

    /// Reads one datagram and, if its header is well formed, makes it the current one.
    fn receive(&mut self, ctx: &Ctx<'_>) {
        match self.socket.recv_from(&mut self.rbuf) {
            Ok((n, peer)) => {
                ctx.stats.udp_datagrams_read.incr();
                ctx.stats.bytes_read.add(n as u64);
                match parse_header(&self.rbuf[..n]) {
                    Some(id) => {
                        self.peer = peer;
                        self.request_id = id;
                        self.pos = HEADER_LEN;
                        self.end = n;
                        self.resume = 0;
                        self.dialect = protocol::sniff(self.rbuf[HEADER_LEN]);
                    }
                    None => {
                        ctx.stats.udp_datagrams_dropped.incr();
                        log::debug!(
                            "<{} dropped a malformed UDP datagram ({n} bytes) from {peer}",
                            self.fd
                        );
                    }
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.readable = false,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            // An error queued by an earlier send (ICMP port unreachable, say): the socket
            // is still good.
            Err(e) => log::debug!("<{} UDP receive: {e}", self.fd),
        }
    }

    /// Executes the request at `pos` (or the next part of a paused multiget) and queues
    /// its response objects.
    fn step(&mut self, ctx: &Ctx<'_>) -> Action {
        let input = &self.rbuf[self.pos..self.end];
        let log = wirelog::enabled();
        let start = self.wbuf.len();
        let stepped = command::step(
            self.dialect,
            input,
            self.resume,
            ctx,
            &mut self.session,
            &mut self.wbuf,
        );
        match stepped {
            Stepped::NeedInput => {
                // A partial request: nothing more can arrive for it.
                self.pos = self.end;
                Action::Continue
            }
            Stepped::Done {
                consumed,
                swallow,
                action,
            } => {
                if log {
                    wirelog::request(self.dialect, self.fd, input);
                    wirelog::reply(self.dialect, self.fd, &self.wbuf[start..]);
                }
                let quit = action == Action::Close && self.dialect == Dialect::Text;
                split_reply(
                    self.dialect,
                    input,
                    self.resume,
                    &self.wbuf,
                    start,
                    quit,
                    &mut self.queue,
                );
                match action {
                    // A request that used nothing cannot be followed by another: the rest
                    // of the datagram goes (a guard; the parsers always consume something).
                    Action::Continue if consumed + swallow == 0 => self.pos = self.end,
                    Action::Continue => {
                        self.pos = (self.pos + consumed + swallow).min(self.end);
                        self.resume = 0;
                    }
                    Action::Suspend(done) => self.resume = done,
                    // memcached's UDP `quit` ends the datagram (the socket stays).
                    Action::Close | Action::Shutdown => self.pos = self.end,
                }
                action
            }
        }
    }

    /// Sends the queued response objects; false when a send would block (the rest stays
    /// queued).
    fn flush(&mut self, ctx: &Ctx<'_>) -> bool {
        while let Some(seg) = self.queue.front_mut() {
            let len = seg.end - seg.start;
            let total = total_datagrams(len);
            loop {
                let from = seg.start + seg.sent;
                let to = (from + PAYLOAD_MAX).min(seg.end);
                self.frame.clear();
                self.frame
                    .extend_from_slice(&header(self.request_id, seg.seq, total));
                self.frame.extend_from_slice(&self.wbuf[from..to]);
                match self.socket.send_to(&self.frame, self.peer) {
                    Ok(_) => {
                        ctx.stats.udp_datagrams_written.incr();
                        ctx.stats.bytes_written.add(self.frame.len() as u64);
                        seg.sent = to - seg.start;
                        seg.seq = seg.seq.wrapping_add(1);
                        if seg.sent == len {
                            break;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        log::debug!(">{} UDP send would block", self.fd);
                        return false;
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        // The peer cannot be reached (or the address is bad): the rest of
                        // this response is dropped, as a lost datagram would be.
                        ctx.stats.udp_send_errors.incr();
                        log::debug!(">{} UDP send to {}: {e}", self.fd, self.peer);
                        break;
                    }
                }
            }
            self.queue.pop_front();
        }
        self.wbuf.clear();
        if self.wbuf.capacity() > WBUF_KEEP {
            self.wbuf = Output::with_capacity(0, false);
        }
        true
    }
}

/// Queues the reply `out[start..]` of the request at the front of `input` as memcached's
/// response objects (see the module doc): one per key for a text multiget (`resume`: keys
/// answered by earlier parts of a paused one), else one for the whole reply; nothing for
/// an empty reply, except after a text `quit` (`quit`), which sends a bare header.
fn split_reply(
    dialect: Dialect,
    input: &[u8],
    resume: usize,
    out: &[u8],
    start: usize,
    quit: bool,
    queue: &mut VecDeque<Segment>,
) {
    if start == out.len() {
        if quit {
            queue.push_back(Segment::new(start, start));
        }
        return;
    }
    if dialect == Dialect::Text {
        if let Some(keys) = retrieval_keys(input) {
            let before = queue.len();
            if split_values(keys, resume, out, start, queue) {
                return;
            }
            queue.truncate(before);
        }
    }
    queue.push_back(Segment::new(start, out.len()));
}

/// The keys of a text `get`/`gets`/`gat`/`gats` request line, or `None` for any other.
fn retrieval_keys(input: &[u8]) -> Option<impl Iterator<Item = &[u8]> + Clone> {
    let end = memchr::memchr(b'\n', input)?;
    let line = input[..end].strip_suffix(b"\r").unwrap_or(&input[..end]);
    let mut tokens = line.split(|&b| b == b' ').filter(|t| !t.is_empty());
    let skip = match tokens.next()? {
        b"get" | b"gets" => 0,
        b"gat" | b"gats" => 1, // the exptime
        _ => return None,
    };
    Some(tokens.skip(skip))
}

/// One `VALUE` block of a retrieval reply: the key and the block's end.
fn value_block(out: &[u8], at: usize) -> Option<(&[u8], usize)> {
    let rest = out.get(at..)?;
    if !rest.starts_with(b"VALUE ") {
        return None;
    }
    let nl = memchr::memchr(b'\n', rest)?;
    let line = rest[..nl].strip_suffix(b"\r")?;
    let mut tokens = line.split(|&b| b == b' ');
    let (_, key, _, bytes) = (
        tokens.next()?,
        tokens.next()?,
        tokens.next()?,
        tokens.next()?,
    );
    let bytes: usize = std::str::from_utf8(bytes).ok()?.parse().ok()?;
    let end = at + nl + 1 + bytes + 2;
    (end <= out.len()).then_some((key, end))
}

/// Splits a text multiget's reply into one response object per key (misses are empty
/// objects, of which only a first one is sent), `END` riding on the last key's; false
/// when the reply is not `VALUE` blocks followed by `END` (or by nothing, for a paused
/// part), or does not match the keys.
fn split_values<'a>(
    keys: impl Iterator<Item = &'a [u8]> + Clone,
    resume: usize,
    out: &[u8],
    start: usize,
    queue: &mut VecDeque<Segment>,
) -> bool {
    const END: &[u8] = b"END\r\n";
    // Check the shape first: blocks, then END or nothing.
    let mut at = start;
    while let Some((_, end)) = value_block(out, at) {
        at = end;
    }
    let blocks_end = at;
    let has_end = match &out[at..] {
        [] => false,
        rest if rest == END => true,
        _ => return false,
    };
    let several = keys.clone().nth(1).is_some();
    let mut at = start;
    let mut block = value_block(out, at);
    let mut last: Option<(usize, usize)> = None;
    let mut last_hit = false;
    for (i, key) in keys.skip(resume).enumerate() {
        let hit = block.is_some_and(|(k, _)| k == key);
        if i == 0 && resume == 0 && !hit && several {
            // memcached sends the first key's empty response object.
            queue.push_back(Segment::new(at, at));
        }
        if let Some((_, end)) = block.filter(|_| hit) {
            if let Some((s, e)) = last.take() {
                queue.push_back(Segment::new(s, e));
            }
            last = Some((at, end));
            at = end;
            block = value_block(out, at);
        }
        last_hit = hit;
        if block.is_none() && !has_end {
            break; // a paused part: the keys left are answered later
        }
    }
    if at != blocks_end {
        return false; // blocks that match no key
    }
    match last {
        Some((s, _)) if has_end && last_hit => queue.push_back(Segment::new(s, out.len())),
        Some((s, e)) => {
            queue.push_back(Segment::new(s, e));
            if has_end {
                queue.push_back(Segment::new(e, out.len()));
            }
        }
        None if has_end => queue.push_back(Segment::new(at, out.len())),
        None => {}
    }
    true
}

#[cfg(test)]
mod tests;
