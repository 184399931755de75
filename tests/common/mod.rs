//! Test harness: starts the real daemon on a free port and talks to it over real
//! sockets.
//!
//! `LARDER_TEST_BIN=/usr/bin/memcached cargo test --test text` runs the same suite
//! against another server binary that takes memcached's flags (real memcached 1.6),
//! which shows the transcripts encode memcached's behaviour. Tests of larder-only
//! behaviour call [`larder_only`] and return early under another binary.
#![allow(dead_code)]

pub mod transcripts;

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a test waits for any one reply before failing.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(10);

/// The server binary under test.
pub fn server_bin() -> PathBuf {
    std::env::var_os("LARDER_TEST_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_larder")))
}

/// True when the suite targets larder itself (not another server binary).
pub fn larder_only() -> bool {
    std::env::var_os("LARDER_TEST_BIN").is_none()
}

fn running_as_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// A port that was free a moment ago and that no other test of this process was given
/// (the server is restarted on another one should someone take it meanwhile).
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("bind an ephemeral port");
        let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

/// True when process `pid` owns the socket listening on TCP `port`: a server that lost
/// the race for its port must not be mistaken for the one that won it.
pub fn owns_listener(pid: u32, port: u16) -> bool {
    let mut inodes = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 10 || f[3] != "0A" {
                continue; // not LISTEN
            }
            let local_port = f[1]
                .rsplit(':')
                .next()
                .and_then(|p| u16::from_str_radix(p, 16).ok());
            if local_port == Some(port) {
                inodes.push(format!("socket:[{}]", f[9]));
            }
        }
    }
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    fds.flatten().any(|fd| {
        std::fs::read_link(fd.path())
            .map(|target| inodes.iter().any(|i| target.as_os_str() == i.as_str()))
            .unwrap_or(false)
    })
}

/// A daemon process, killed on drop.
pub struct Server {
    child: Child,
    /// Its TCP address (when it listens on TCP).
    pub addr: SocketAddr,
    /// Its unix socket, when started with `-s`.
    pub unix: Option<PathBuf>,
}

impl Server {
    /// Starts the daemon on loopback with memcached-style `args` and waits until it
    /// accepts connections.
    pub fn start(args: &[&str]) -> Server {
        for _attempt in 0..5 {
            let port = free_port();
            if let Some(s) = Self::try_start(port, args) {
                return s;
            }
        }
        panic!("the server did not start with args {args:?}");
    }

    fn try_start(port: u16, args: &[&str]) -> Option<Server> {
        let mut cmd = Command::new(server_bin());
        let unix = args
            .iter()
            .position(|a| *a == "-s")
            .map(|i| PathBuf::from(args[i + 1]));
        if unix.is_none() {
            cmd.args(["-p", &port.to_string(), "-l", "127.0.0.1"]);
        }
        if running_as_root() && !args.contains(&"-u") {
            cmd.args(["-u", "root"]);
        }
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        let mut child = cmd.spawn().expect("spawn server");
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                let _ = child.wait();
                return None; // exited: most likely the port was taken
            }
            let up = match &unix {
                Some(path) => UnixStream::connect(path).is_ok(),
                None => TcpStream::connect(addr).is_ok() && owns_listener(child.id(), port),
            };
            if up {
                return Some(Server { child, addr, unix });
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let _ = child.kill();
        let _ = child.wait();
        None
    }

    /// A new client connection.
    pub fn connect(&self) -> Client {
        Client::tcp(self.addr)
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a signal to the daemon.
    pub fn signal(&self, sig: i32) {
        // SAFETY: kill(2) with a pid we own; no memory is involved.
        unsafe {
            libc::kill(self.child.id() as i32, sig);
        }
    }

    /// Waits up to `timeout` for the process to exit; its status if it did.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Either kind of stream.
pub enum Sock {
    /// TCP.
    Tcp(TcpStream),
    /// Unix domain.
    Unix(UnixStream),
}

/// A raw-bytes client.
pub struct Client {
    sock: Sock,
    buf: Vec<u8>,
}

/// Connects to `addr` if something listens there: a connection the kernel made to itself
/// does not count. (Connecting over and over to a loopback port in the ephemeral range
/// that nothing listens on yet can succeed as a TCP self-connect, when the kernel happens
/// to pick that same port as the source: a server-start poll would then think the server
/// is up before it is.)
pub fn connect_listening(addr: SocketAddr) -> Option<TcpStream> {
    let s = TcpStream::connect(addr).ok()?;
    match (s.local_addr(), s.peer_addr()) {
        (Ok(local), Ok(peer)) if local != peer => Some(s),
        _ => None,
    }
}

impl Client {
    /// Connects over TCP.
    pub fn tcp(addr: SocketAddr) -> Client {
        Client::from_tcp(TcpStream::connect(addr).expect("connect"))
    }

    /// A client on an open TCP connection.
    pub fn from_tcp(s: TcpStream) -> Client {
        s.set_read_timeout(Some(REPLY_TIMEOUT)).unwrap();
        s.set_nodelay(true).unwrap();
        Client {
            sock: Sock::Tcp(s),
            buf: Vec::new(),
        }
    }

    /// One `stats settings` value, if the server prints that name.
    pub fn setting(&mut self, name: &str) -> Option<String> {
        self.stats("settings")
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }

    /// Connects over a unix socket.
    pub fn unix(path: &std::path::Path) -> Client {
        let s = UnixStream::connect(path).expect("connect unix");
        s.set_read_timeout(Some(REPLY_TIMEOUT)).unwrap();
        Client {
            sock: Sock::Unix(s),
            buf: Vec::new(),
        }
    }

    /// Sends bytes as they are.
    pub fn send(&mut self, bytes: &[u8]) {
        match &mut self.sock {
            Sock::Tcp(s) => s.write_all(bytes).expect("send"),
            Sock::Unix(s) => s.write_all(bytes).expect("send"),
        }
    }

    fn read_some(&mut self) -> std::io::Result<usize> {
        let mut chunk = [0u8; 64 * 1024];
        let n = match &mut self.sock {
            Sock::Tcp(s) => s.read(&mut chunk)?,
            Sock::Unix(s) => s.read(&mut chunk)?,
        };
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(n)
    }

    /// Reads exactly `n` bytes.
    pub fn read_exact(&mut self, n: usize) -> Vec<u8> {
        while self.buf.len() < n {
            match self.read_some() {
                Ok(0) => panic!(
                    "connection closed after {:?}",
                    String::from_utf8_lossy(&self.buf)
                ),
                Ok(_) => {}
                Err(e) => panic!(
                    "read failed ({e}) with {:?} received",
                    String::from_utf8_lossy(&self.buf)
                ),
            }
        }
        self.buf.drain(..n).collect()
    }

    /// Reads one line, CRLF included.
    pub fn read_line(&mut self) -> Vec<u8> {
        loop {
            if let Some(i) = self.buf.windows(2).position(|w| w == b"\r\n") {
                return self.buf.drain(..i + 2).collect();
            }
            match self.read_some() {
                Ok(0) => panic!(
                    "connection closed mid-line: {:?}",
                    String::from_utf8_lossy(&self.buf)
                ),
                Ok(_) => {}
                Err(e) => panic!("read failed: {e}"),
            }
        }
    }

    /// Reads lines up to and including `END\r\n` (or a lone error line).
    pub fn read_until_end(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            let line = self.read_line();
            let done = line == b"END\r\n" || line == b"ERROR\r\n" || line == b"RESET\r\n";
            out.extend_from_slice(&line);
            if done {
                return out;
            }
        }
    }

    /// Asserts the next bytes received are exactly `expected`.
    pub fn expect(&mut self, expected: &[u8]) {
        let got = self.read_exact(expected.len());
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(expected),
            "reply mismatch"
        );
    }

    /// Sends `request` and asserts the reply is exactly `expected`.
    pub fn roundtrip(&mut self, request: &[u8], expected: &[u8]) {
        self.send(request);
        self.expect(expected);
    }

    /// Asserts nothing more arrives within `wait` (for noreply and quiet commands).
    pub fn expect_silence(&mut self, wait: Duration) {
        self.set_timeout(wait);
        let r = self.read_some();
        self.set_timeout(REPLY_TIMEOUT);
        match r {
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            other => panic!(
                "expected silence, got {other:?} with {:?}",
                String::from_utf8_lossy(&self.buf)
            ),
        }
        assert!(self.buf.is_empty(), "unexpected bytes {:?}", self.buf);
    }

    /// Asserts the server closes the connection (after any bytes in `expected_first`).
    pub fn expect_closed(&mut self) {
        loop {
            match self.read_some() {
                Ok(0) => return,
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::ConnectionReset => return,
                Err(e) => panic!(
                    "expected the server to close; got {e}, received {:?}",
                    String::from_utf8_lossy(&self.buf)
                ),
            }
        }
    }

    /// Bytes received but not yet consumed by an expectation.
    pub fn leftover(&self) -> &[u8] {
        &self.buf
    }

    /// Closes our sending side.
    pub fn shutdown_write(&mut self) {
        match &mut self.sock {
            Sock::Tcp(s) => {
                let _ = s.shutdown(Shutdown::Write);
            }
            Sock::Unix(s) => {
                let _ = s.shutdown(Shutdown::Write);
            }
        }
    }

    fn set_timeout(&mut self, t: Duration) {
        match &mut self.sock {
            Sock::Tcp(s) => s.set_read_timeout(Some(t)).unwrap(),
            Sock::Unix(s) => s.set_read_timeout(Some(t)).unwrap(),
        }
    }

    /// `stats [group]` as (name, value) pairs.
    pub fn stats(&mut self, group: &str) -> Vec<(String, String)> {
        let cmd = if group.is_empty() {
            "stats\r\n".to_string()
        } else {
            format!("stats {group}\r\n")
        };
        self.send(cmd.as_bytes());
        let text = String::from_utf8(self.read_until_end()).unwrap();
        text.lines()
            .filter_map(|l| l.strip_prefix("STAT "))
            .map(|l| {
                let (k, v) = l.split_once(' ').unwrap_or((l, ""));
                (k.to_string(), v.to_string())
            })
            .collect()
    }

    /// One numeric field of `stats`.
    pub fn stat(&mut self, name: &str) -> u64 {
        self.stats("")
            .into_iter()
            .find(|(k, _)| k == name)
            .unwrap_or_else(|| panic!("no stat {name}"))
            .1
            .parse()
            .unwrap()
    }
}

/// Resident memory of process `pid`, in KiB.
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap()
}

/// Open file descriptors of process `pid`.
pub fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Polls `f` until it returns true or `timeout` passes; whether it did.
pub fn wait_for(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until `stats curr_connections` (as `obs` sees it) is `want`; its last value.
pub fn settle_conns(obs: &mut Client, want: u64) -> u64 {
    let mut last = 0;
    wait_for(Duration::from_secs(10), || {
        last = obs.stat("curr_connections");
        last == want
    });
    last
}

/// Raises this process's soft `RLIMIT_NOFILE` to at least `want` (as far as the hard
/// limit allows; servers started afterwards inherit it); the soft limit now in force.
pub fn raise_nofile(want: u64) -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid pointer to a local struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 0;
        }
        if lim.rlim_cur < want {
            lim.rlim_cur = want.min(lim.rlim_max);
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
    }
    lim.rlim_cur
}

/// Closes `t` with SO_LINGER 0: the kernel sends a reset instead of a FIN.
pub fn reset(t: TcpStream) {
    socket2::SockRef::from(&t)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(t);
}

/// A small deterministic generator (xorshift64*) for the randomized tests; the seed is
/// printed by the tests so a failure can be replayed.
pub struct Rng(u64);

impl Rng {
    /// Seeded generator (a zero seed is replaced).
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    /// A seed from the clock, or `LARDER_TEST_SEED` when set.
    pub fn seed() -> u64 {
        std::env::var("LARDER_TEST_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(1)
            })
    }

    /// The next 64 random bits.
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// True with probability `num`/`den`.
    pub fn chance(&mut self, num: u64, den: u64) -> bool {
        self.next() % den < num
    }
}
