//! Live-test harness: starts memcached-compatible server processes on free loopback
//! ports and kills them on drop.
//!
//! The binary is `$LARDER_RING_SERVER` (default `memcached` from `PATH`), started with
//! only the flags memcached and larder both understand: `-p PORT -l 127.0.0.1 -m 64 -U 0`.
//! memcached refuses to run as root without `-u`, so when the tests run as root and the
//! binary is memcached, `-u root` is added (for memcached only).
//! Readiness is awaited by retrying connect, never by sleeping a fixed time.

#![allow(dead_code)]

use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// The server binary under test.
pub fn binary() -> String {
    std::env::var("LARDER_RING_SERVER").unwrap_or_else(|_| "memcached".to_string())
}

/// Whether the server binary can be found (tests skip with a message when it cannot).
pub fn available() -> bool {
    let bin = binary();
    if bin.contains('/') {
        return Path::new(&bin).is_file();
    }
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|p| p.join(&bin).is_file()))
        .unwrap_or(false)
}

fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .map(|s| {
            s.lines()
                .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    l.local_addr().expect("local addr").port()
}

/// One running server process.
pub struct Server {
    child: Option<Child>,
    /// Its TCP port on 127.0.0.1.
    pub port: u16,
}

impl Server {
    /// Starts a server on a free port (retrying with other ports if one is taken).
    pub fn start() -> Server {
        for _ in 0..10 {
            if let Some(s) = Server::start_on(free_port()) {
                return s;
            }
        }
        panic!("could not start {} on any port", binary());
    }

    /// Starts a server on `port`; `None` if it exited or never accepted connections.
    pub fn start_on(port: u16) -> Option<Server> {
        let bin = binary();
        let mut cmd = Command::new(&bin);
        cmd.args([
            "-p",
            &port.to_string(),
            "-l",
            "127.0.0.1",
            "-m",
            "64",
            "-U",
            "0",
        ]);
        // memcached and larder both refuse to run as root without -u.
        if running_as_root() {
            cmd.args(["-u", "root"]);
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {bin}: {e}"));
        let mut server = Server {
            child: Some(child),
            port,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Some(server);
            }
            let exited = server
                .child
                .as_mut()
                .map(|c| matches!(c.try_wait(), Ok(Some(_))));
            if exited == Some(true) {
                server.child = None;
                return None;
            }
            thread::yield_now();
        }
        None
    }

    /// `127.0.0.1:PORT`
    pub fn spec(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Kills the process and waits for it; connections to the port are then refused.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts the server again on the same port.
    pub fn restart(&mut self) {
        self.kill();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(mut s) = Server::start_on(self.port) {
                self.child = s.child.take();
                return;
            }
            assert!(
                Instant::now() < deadline,
                "could not restart on port {}",
                self.port
            );
            thread::yield_now();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Starts `n` servers, or returns `None` (after printing why) when the binary is absent.
pub fn cluster(n: usize) -> Option<Vec<Server>> {
    if !available() {
        eprintln!(
            "skipping: server binary {:?} not found (set LARDER_RING_SERVER)",
            binary()
        );
        return None;
    }
    Some((0..n).map(|_| Server::start()).collect())
}
