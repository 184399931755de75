//! One blocking connection to one node: the socket (TCP or unix), a reusable write buffer
//! and a read buffer that yields reply lines and data blocks. Timeouts are socket options,
//! so every read and write is bounded. Knows bytes, not commands (that is `proto.rs`).

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use crate::node::{Address, NodeSpec};

/// Longest reply line accepted; memcached's are far shorter (a `VALUE` line is < 300 bytes).
const MAX_LINE: usize = 64 * 1024;
const READ_CHUNK: usize = 16 * 1024;

/// Connect, read and write timeouts for one node connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// Bound on establishing a TCP connection (per resolved address).
    pub connect: Duration,
    /// Bound on each blocking read.
    pub read: Duration,
    /// Bound on each blocking write.
    pub write: Duration,
}

impl Default for Timeouts {
    /// One second each.
    fn default() -> Timeouts {
        let second = Duration::from_secs(1);
        Timeouts {
            connect: second,
            read: second,
            write: second,
        }
    }
}

enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

/// A connection with its buffers. `out` is filled by `proto` encoders, then `send()`.
pub(crate) struct Conn {
    stream: Stream,
    pub(crate) out: Vec<u8>,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// Bytes received since checkout; 0 means the node sent nothing for this request.
    received: usize,
}

impl Conn {
    /// Connects to `spec` and applies the timeouts.
    pub(crate) fn connect(spec: &NodeSpec, t: &Timeouts) -> io::Result<Conn> {
        let stream = match &spec.address {
            Address::Tcp { host, port } => {
                let mut last = io::Error::new(io::ErrorKind::NotFound, "no address resolved");
                let mut found = None;
                for addr in (host.as_str(), *port).to_socket_addrs()? {
                    match TcpStream::connect_timeout(&addr, t.connect) {
                        Ok(s) => {
                            found = Some(s);
                            break;
                        }
                        Err(e) => last = e,
                    }
                }
                let s = found.ok_or(last)?;
                s.set_nodelay(true)?;
                s.set_read_timeout(Some(t.read))?;
                s.set_write_timeout(Some(t.write))?;
                Stream::Tcp(s)
            }
            Address::Unix(path) => {
                let s = UnixStream::connect(path)?;
                s.set_read_timeout(Some(t.read))?;
                s.set_write_timeout(Some(t.write))?;
                Stream::Unix(s)
            }
        };
        Ok(Conn {
            stream,
            out: Vec::with_capacity(1024),
            buf: vec![0; READ_CHUNK],
            start: 0,
            end: 0,
            received: 0,
        })
    }

    /// Writes all of `out` and clears it.
    pub(crate) fn send(&mut self) -> io::Result<()> {
        let result = match &mut self.stream {
            Stream::Tcp(s) => s.write_all(&self.out),
            Stream::Unix(s) => s.write_all(&self.out),
        };
        self.out.clear();
        result
    }

    /// True when nothing was received since checkout.
    pub(crate) fn nothing_read(&self) -> bool {
        self.received == 0
    }

    /// Starts a new request's receive count.
    pub(crate) fn reset_read_count(&mut self) {
        self.received = 0;
    }

    /// Bytes already read but not consumed. A reused connection must have none.
    pub(crate) fn is_clean(&self) -> bool {
        self.start == self.end && self.out.is_empty()
    }

    fn fill(&mut self) -> io::Result<()> {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            if self.buf.len() >= MAX_LINE {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "reply line too long",
                ));
            }
            self.buf.resize(self.buf.len() * 2, 0);
        }
        let n = match &mut self.stream {
            Tcp(s) => s.read(&mut self.buf[self.end..]),
            Unix(s) => s.read(&mut self.buf[self.end..]),
        }?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        self.received += n;
        self.end += n;
        Ok(())
    }

    /// The next reply line, without `\r\n`.
    pub(crate) fn read_line(&mut self) -> io::Result<&[u8]> {
        let mut scanned = self.start;
        loop {
            if let Some(pos) = self.buf[scanned..self.end].iter().position(|b| *b == b'\n') {
                let nl = scanned + pos;
                let line_start = self.start;
                self.start = nl + 1;
                let line_end = if nl > line_start && self.buf[nl - 1] == b'\r' {
                    nl - 1
                } else {
                    nl
                };
                return Ok(&self.buf[line_start..line_end]);
            }
            scanned = self.end;
            let consumed = self.start;
            self.fill()?;
            // fill() may have moved unconsumed bytes to the front.
            scanned -= consumed - self.start;
        }
    }

    /// Reads a `bytes`-long data block and its `\r\n` into `out` (replacing its contents).
    /// Returns false when the terminator is wrong (a protocol error).
    pub(crate) fn read_data(&mut self, bytes: usize, out: &mut Vec<u8>) -> io::Result<bool> {
        out.clear();
        out.reserve(bytes);
        let want = bytes + 2;
        let mut got = 0;
        let mut tail = [0u8; 2];
        while got < want {
            if self.start == self.end {
                if want - got >= READ_CHUNK && got < bytes {
                    // Large value: read straight into the destination.
                    out.resize(bytes, 0);
                    let n = match &mut self.stream {
                        Tcp(s) => s.read(&mut out[got..bytes]),
                        Unix(s) => s.read(&mut out[got..bytes]),
                    }?;
                    if n == 0 {
                        return Err(io::ErrorKind::UnexpectedEof.into());
                    }
                    got += n;
                    out.truncate(got);
                    continue;
                }
                self.fill()?;
            }
            let avail = self.end - self.start;
            let take = avail.min(want - got);
            let chunk = &self.buf[self.start..self.start + take];
            let data = take.min(bytes.saturating_sub(got));
            out.extend_from_slice(&chunk[..data]);
            for (i, b) in chunk[data..].iter().enumerate() {
                tail[got + data + i - bytes] = *b;
            }
            got += take;
            self.start += take;
        }
        Ok(tail == *b"\r\n")
    }
}

use Stream::{Tcp, Unix};
