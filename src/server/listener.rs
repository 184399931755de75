//! Listening sockets (TCP on each `-l` address, a unix socket with `-s`) and the
//! stream type a connection owns, whichever kind it came through.

// Single libc calls, each with a `// SAFETY:` note (crate root: deny(unsafe_code)).
#![allow(unsafe_code)]

use mio::event::Source;
use mio::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use mio::{Interest, Registry, Token};
use socket2::{Domain, Protocol, Socket, Type};
use std::io::{self, Read, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::fd::{AsRawFd, RawFd};
use std::path::{Path, PathBuf};

/// A bound, listening socket.
pub enum Listener {
    /// A TCP listener and the address it is bound to.
    Tcp(TcpListener, SocketAddr),
    /// A unix-domain listener and its path.
    Unix(UnixListener, PathBuf),
}

/// An accepted connection's socket.
pub enum Stream {
    /// A TCP connection.
    Tcp(TcpStream),
    /// A unix-domain connection.
    Unix(UnixStream),
}

/// What `accept` hands over: the stream, its peer and listener as memcached names them.
pub struct Accepted {
    /// The connection.
    pub stream: Stream,
    /// `tcp:1.2.3.4:5` or `unix:/path`.
    pub peer: String,
    /// The listener's name, in the same format.
    pub local: String,
    /// It came through a TLS listener (set by the acceptor, which knows the listeners'
    /// roles).
    pub tls: bool,
}

/// The socket addresses of a `-l` entry: `host` (every interface, IPv4 and IPv6, when
/// `None`; a bare IPv6 address is bracketed) and `port`. `what` names the transport in the
/// error (`listen`, `UDP`).
///
/// # Errors
/// When the address does not resolve.
pub fn resolve(host: Option<&str>, port: u16, what: &str) -> io::Result<Vec<SocketAddr>> {
    let specs: Vec<String> = match host {
        None => vec![format!("0.0.0.0:{port}"), format!("[::]:{port}")],
        Some(h) if h.contains(':') && !h.starts_with('[') => vec![format!("[{h}]:{port}")],
        Some(h) => vec![format!("{h}:{port}")],
    };
    let mut addrs = Vec::new();
    for spec in &specs {
        addrs.extend(spec.to_socket_addrs().map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot resolve {what} address {spec}: {e}"),
            )
        })?);
    }
    Ok(addrs)
}

impl Listener {
    /// Binds TCP listeners on `host` (every interface, IPv4 and IPv6, when `None`) and
    /// `port`, with the given listen backlog.
    ///
    /// # Errors
    /// When the address does not resolve or cannot be bound.
    pub fn bind_tcp(host: Option<&str>, port: u16, backlog: i32) -> io::Result<Vec<Listener>> {
        let addrs = resolve(host, port, "listen")?;
        let mut out = Vec::new();
        for sa in addrs {
            let socket = Socket::new(Domain::for_address(sa), Type::STREAM, Some(Protocol::TCP))?;
            socket.set_reuse_address(true)?;
            if sa.is_ipv6() {
                socket.set_only_v6(true)?;
            }
            socket.set_nonblocking(true)?;
            socket
                .bind(&sa.into())
                .map_err(|e| io::Error::new(e.kind(), format!("failed to listen on {sa}: {e}")))?;
            socket.listen(backlog)?;
            let std_listener: std::net::TcpListener = socket.into();
            let local = std_listener.local_addr()?;
            out.push(Listener::Tcp(TcpListener::from_std(std_listener), local));
        }
        Ok(out)
    }

    /// Binds a unix-domain listener at `path` with permission bits `mask`, replacing a
    /// stale socket file left by an earlier run (but never any other kind of file).
    ///
    /// # Errors
    /// When the path exists and is not a socket, or cannot be bound.
    pub fn bind_unix(path: &Path, mask: u32, backlog: i32) -> io::Result<Listener> {
        use std::os::unix::fs::FileTypeExt;
        if let Ok(meta) = std::fs::symlink_metadata(path) {
            if meta.file_type().is_socket() {
                std::fs::remove_file(path)?;
            }
        }
        // The socket file gets its mode as it is created, as memcached does (umask around
        // bind): a chmod after bind would leave a window in which the socket is
        // reachable with the default mode. The umask is process-wide; listeners are
        // bound at start-up, before any thread that creates files.
        // SAFETY: umask(2) only swaps the process's file mode creation mask.
        let old = unsafe { libc::umask((0o777 & !mask) as libc::mode_t) };
        let bound = UnixListener::bind(path);
        // SAFETY: as above; restores the previous mask.
        unsafe { libc::umask(old) };
        let listener = bound.map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("failed to listen on {}: {e}", path.display()),
            )
        })?;
        // `-b` applies to the unix socket too: listen(2) again on a listening socket sets
        // its backlog (mio's bind uses the system default of 128).
        socket2::SockRef::from(&listener).listen(backlog)?;
        Ok(Listener::Unix(listener, path.to_path_buf()))
    }

    /// The listener's name as `stats conns` prints it.
    pub fn name(&self) -> String {
        match self {
            Listener::Tcp(_, a) => format!("tcp:{a}"),
            Listener::Unix(_, p) => format!("unix:{}", p.display()),
        }
    }

    /// The bound TCP address, if this is a TCP listener.
    pub fn tcp_addr(&self) -> Option<SocketAddr> {
        match self {
            Listener::Tcp(_, a) => Some(*a),
            Listener::Unix(..) => None,
        }
    }

    /// Accepts one pending connection.
    ///
    /// # Errors
    /// `WouldBlock` when none is pending; other errors as `accept(2)` gives them.
    pub fn accept(&self) -> io::Result<Accepted> {
        match self {
            Listener::Tcp(l, local) => {
                let (s, peer) = l.accept()?;
                // Replies are written whole, once per batch: Nagle would only add delay.
                s.set_nodelay(true)?;
                Ok(Accepted {
                    stream: Stream::Tcp(s),
                    peer: format!("tcp:{peer}"),
                    local: format!("tcp:{local}"),
                    tls: false,
                })
            }
            Listener::Unix(l, path) => {
                let (s, _) = l.accept()?;
                Ok(Accepted {
                    stream: Stream::Unix(s),
                    peer: format!("unix:{}", path.display()),
                    local: format!("unix:{}", path.display()),
                    tls: false,
                })
            }
        }
    }

    /// The file descriptor (used as the listener's id in `stats conns`).
    pub fn fd(&self) -> RawFd {
        match self {
            Listener::Tcp(l, _) => l.as_raw_fd(),
            Listener::Unix(l, _) => l.as_raw_fd(),
        }
    }

    /// Registers the listener with a poll for readable events.
    ///
    /// # Errors
    /// As `epoll_ctl` gives them.
    pub fn register(&mut self, registry: &Registry, token: Token) -> io::Result<()> {
        match self {
            Listener::Tcp(l, _) => registry.register(l, token, Interest::READABLE),
            Listener::Unix(l, _) => registry.register(l, token, Interest::READABLE),
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        if let Listener::Unix(_, path) = self {
            let _ = std::fs::remove_file(path);
        }
    }
}

impl Stream {
    /// The file descriptor (the connection's id in `stats conns`).
    pub fn fd(&self) -> RawFd {
        match self {
            Stream::Tcp(s) => s.as_raw_fd(),
            Stream::Unix(s) => s.as_raw_fd(),
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Unix(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            Stream::Unix(s) => s.write(buf),
        }
    }

    /// One `writev`: a reply with large values sent by reference (`command::Output`).
    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write_vectored(bufs),
            Stream::Unix(s) => s.write_vectored(bufs),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Source for Stream {
    fn register(&mut self, r: &Registry, t: Token, i: Interest) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.register(r, t, i),
            Stream::Unix(s) => s.register(r, t, i),
        }
    }

    fn reregister(&mut self, r: &Registry, t: Token, i: Interest) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.reregister(r, t, i),
            Stream::Unix(s) => s.reregister(r, t, i),
        }
    }

    fn deregister(&mut self, r: &Registry) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.deregister(r),
            Stream::Unix(s) => s.deregister(r),
        }
    }
}
