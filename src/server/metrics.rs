//! The optional Prometheus endpoint (`-o metrics_port=PORT`): a plain HTTP/1.0 listener on
//! a thread of its own (no async runtime), serving `GET /metrics` (the text format, from
//! [`crate::command::metrics`]) and 404 for anything else, one short request at a time,
//! closing each connection after the reply. It binds the host of the first `-l` entry
//! (loopback unless `-l` says otherwise; `-l *` binds every interface).
//!
//! A scrape reads the same counters as `stats`; nothing on the request path changes.

use super::Shared;
use crate::command::{metrics, Ctx};
use crate::protocol::prometheus::{self, CONTENT_TYPE};
use crate::stats::WorkerStats;
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

/// The longest request head read.
const MAX_HEAD: usize = 8192;

/// Binds the listener and starts its thread.
///
/// # Errors
/// The address does not resolve or cannot be bound.
pub fn start(host: Option<&str>, port: u16, shared: Arc<Shared>) -> io::Result<()> {
    let host = host.unwrap_or("0.0.0.0");
    let addr = (host, port)
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no address"))?;
    let listener = TcpListener::bind(addr).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("failed to listen on {addr} (metrics_port): {e}"),
        )
    })?;
    listener.set_nonblocking(true)?;
    log::info!("serving Prometheus metrics on http://{addr}/metrics");
    std::thread::Builder::new()
        .name("metrics".into())
        .spawn(move || serve(listener, &shared))?;
    Ok(())
}

fn serve(listener: TcpListener, shared: &Shared) {
    // `stats` reads every worker's counters; this thread has none of its own.
    let own = WorkerStats::default();
    while !shared.stopping() {
        match listener.accept() {
            Ok((stream, _)) => {
                let ctx = shared.ctx(&own);
                if let Err(e) = answer(stream, &ctx) {
                    log::debug!("metrics request failed: {e}");
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => {
                log::warn!("metrics accept failed: {e}");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

fn answer(mut stream: TcpStream, ctx: &Ctx<'_>) -> io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    stream.set_write_timeout(Some(Duration::from_secs(5)))?;
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    let target = loop {
        if let Some((m, p)) = prometheus::request_target(&head) {
            break Some((m.to_vec(), p.to_vec()));
        }
        if head.len() > MAX_HEAD {
            break None;
        }
        let n = stream.read(&mut buf)?;
        if n == 0 {
            break None;
        }
        head.extend_from_slice(&buf[..n]);
    };
    let reply = match target {
        Some((m, p)) if m == b"GET" && (p == b"/metrics" || p.starts_with(b"/metrics?")) => {
            prometheus::http_response("200 OK", CONTENT_TYPE, &metrics::render(ctx))
        }
        Some((m, _)) if m != b"GET" => {
            prometheus::http_response("405 Method Not Allowed", "text/plain", b"only GET\n")
        }
        Some(_) => prometheus::http_response("404 Not Found", "text/plain", b"try /metrics\n"),
        None => prometheus::http_response("400 Bad Request", "text/plain", b"bad request\n"),
    };
    stream.write_all(&reply)?;
    let _ = stream.shutdown(std::net::Shutdown::Write);
    Ok(())
}
