//! The TLS layer of a connection accepted on a `-Z` listener: a rustls `ServerConnection`
//! between the socket and the connection's own buffers.
//!
//! Sans-blocking, driven by the worker's readiness like the plain path: `read` decrypts
//! into the connection's input buffer (reading the socket only when rustls holds no
//! plaintext), `write` encrypts from the connection's output buffer and sends the records.
//! The handshake happens inside the same two calls: a client that stops mid-handshake
//! leaves a connection that waits like any idle one (and is closed by `idle_timeout`).
//!
//! Bounds: rustls holds at most one TLS record of received data beyond what it has
//! decrypted, at most its default 16 KiB of decrypted input (drained into the connection's
//! buffer before the socket is read again), and at most `ssl_wbuf_size` of encrypted
//! output (rustls' `set_buffer_limit`); the rest of a slow reader's
//! output stays in the connection's buffer, counted in `conn_output_held`.
//!
//! As on the plain path, a read that returns less than rustls asked for means the socket
//! is drained (unless the peer has closed: then its end of stream is still to be read), so
//! an unpipelined request costs one `read` over TLS too. rustls reads at most 4 KiB at a
//! time, so a large value takes several.

use super::listener::Stream;
use crate::stats::WorkerStats;
use rustls::{ServerConfig, ServerConnection};
use std::io::{self, Read, Write};
use std::sync::Arc;

/// What one [`TlsStream::read`] brought.
pub enum TlsRead {
    /// This many decrypted bytes were placed in the buffer; `drained`: the socket had
    /// nothing more and rustls holds no more plaintext (wait for the next readable edge).
    Data(usize, bool),
    /// Nothing more until the socket is readable again.
    Drained,
    /// The peer closed (close_notify, or the socket's end of stream).
    End,
}

/// The socket as rustls reads it, noting a short read (the socket is drained).
struct ShortRead<'a> {
    sock: &'a mut Stream,
    short: bool,
}

impl Read for ShortRead<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.sock.read(buf)?;
        self.short = n < buf.len();
        Ok(n)
    }
}

/// A connection's TLS state.
pub struct TlsStream {
    conn: ServerConnection,
}

impl TlsStream {
    /// A server-side TLS session with the given configuration.
    ///
    /// # Errors
    /// When rustls cannot start a session with it.
    pub fn new(config: Arc<ServerConfig>, wbuf_size: usize) -> io::Result<TlsStream> {
        let mut conn = ServerConnection::new(config).map_err(io::Error::other)?;
        conn.set_buffer_limit(Some(wbuf_size));
        Ok(TlsStream { conn })
    }

    /// Whether encrypted bytes (handshake or records) wait to be written.
    pub fn wants_write(&self) -> bool {
        self.conn.wants_write()
    }

    /// Decrypts into `buf` (not empty), reading the socket as needed. `read_closed`: the
    /// poll reported the peer's end of stream, so a short read does not mean drained.
    ///
    /// # Errors
    /// A socket error, or a TLS error (a failed handshake is counted in
    /// `ssl_handshake_errors`; the alert is sent, best effort).
    pub fn read(
        &mut self,
        sock: &mut Stream,
        buf: &mut [u8],
        read_closed: bool,
        stats: &WorkerStats,
    ) -> io::Result<TlsRead> {
        // The socket returned less than asked: it is drained.
        let mut drained = false;
        loop {
            match self.conn.reader().read(buf) {
                Ok(0) => return Ok(TlsRead::End),
                Ok(n) => {
                    // Drained only if rustls has no plaintext left either (everything
                    // complete it received is decrypted by `process_new_packets`).
                    let left = drained
                        && self
                            .conn
                            .process_new_packets()
                            .map_or(true, |s| s.plaintext_bytes_to_read() > 0);
                    return Ok(TlsRead::Data(n, drained && !left));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                // The socket ended without close_notify: as a plain connection's end.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(TlsRead::End),
                Err(e) => return Err(e),
            }
            if drained {
                return Ok(TlsRead::Drained);
            }
            let mut src = ShortRead { sock, short: false };
            match self.conn.read_tls(&mut src) {
                Ok(_) => drained = src.short && !read_closed,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(TlsRead::Drained),
                Err(e) => return Err(e),
            }
            if let Err(e) = self.conn.process_new_packets() {
                if self.conn.is_handshaking() {
                    stats.ssl_handshake_errors.incr();
                }
                log::debug!("<{} TLS error: {e}", sock.fd());
                // The alert rustls queued, if the socket takes it now.
                let _ = self.conn.write_tls(sock);
                return Err(io::Error::new(io::ErrorKind::InvalidData, e));
            }
        }
    }

    /// Sends close_notify before the socket closes (best effort, without waiting): a
    /// client reading to the end sees an orderly end rather than a truncation.
    pub fn close(&mut self, sock: &mut Stream) {
        self.conn.send_close_notify();
        let _ = self.conn.write_tls(sock);
    }

    /// Encrypts what it can of `out` and writes records until the socket is full or
    /// nothing is left. Returns the bytes of `out` taken, and whether the socket is full.
    ///
    /// # Errors
    /// A socket error.
    pub fn write(&mut self, sock: &mut Stream, out: &[u8]) -> io::Result<(usize, bool)> {
        let mut taken = 0;
        loop {
            while self.conn.wants_write() {
                match self.conn.write_tls(sock) {
                    Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok((taken, true)),
                    Err(e) => return Err(e),
                }
            }
            if taken == out.len() || self.conn.is_handshaking() {
                return Ok((taken, false));
            }
            let n = self.conn.writer().write(&out[taken..])?;
            if n == 0 && !self.conn.wants_write() {
                return Ok((taken, false));
            }
            taken += n;
        }
    }
}
