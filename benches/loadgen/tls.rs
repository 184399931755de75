//! TLS for the load generator: the client configuration (`run --tls-ca`), certificates for a
//! benchmark (`certs`), and the handshake benchmark (`handshakes`): connections opened,
//! handshaken (full, or resumed from the client's session cache), answered one `version` and
//! closed, as fast as the server allows, with the server's CPU time per handshake.

use crate::driver::{RunResult, Stats};
use crate::procstat::ProcSample;
use crate::proto::{Op, Reply};
use clap::Args;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

/// The name the benchmark certificate is issued for, and the client asks for.
pub const SERVER_NAME: &str = "localhost";

/// A client configuration trusting the CA in `ca_file` (PEM). `resume`: keep sessions
/// (rustls' default in-memory cache) so later handshakes resume; otherwise every handshake
/// is a full one.
pub fn client_config(ca_file: &Path, resume: bool) -> Result<Arc<ClientConfig>, String> {
    let mut roots = RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(ca_file)
        .map_err(|e| format!("--tls-ca {}: {e}", ca_file.display()))?;
    for c in certs {
        let c = c.map_err(|e| format!("--tls-ca {}: {e}", ca_file.display()))?;
        roots
            .add(c)
            .map_err(|e| format!("--tls-ca {}: {e}", ca_file.display()))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    if !resume {
        config.resumption = rustls::client::Resumption::disabled();
    }
    Ok(Arc::new(config))
}

/// A client session for a new connection.
pub fn session(config: &Arc<ClientConfig>) -> Result<ClientConnection, String> {
    let mut c = ClientConnection::new(
        Arc::clone(config),
        ServerName::try_from(SERVER_NAME).map_err(|e| e.to_string())?,
    )
    .map_err(|e| e.to_string())?;
    // The engine encrypts whole batches at once.
    c.set_buffer_limit(None);
    Ok(c)
}

/// Completes the handshake of `conn` on the blocking socket `sock`.
pub fn handshake(conn: &mut ClientConnection, sock: &mut TcpStream) -> Result<(), String> {
    while conn.is_handshaking() {
        conn.complete_io(sock)
            .map_err(|e| format!("TLS handshake: {e}"))?;
    }
    Ok(())
}

/// Writes `ca.pem`, `cert.pem` (for localhost and 127.0.0.1, signed by the CA) and `key.pem`
/// into `dir`: ECDSA P-256, what a deployment would pick for speed.
pub fn write_certs(dir: &Path) -> Result<(), String> {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, SanType};
    let e = |e: rcgen::Error| e.to_string();
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(e)?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "loadgen benchmark CA");
    let ca_key = KeyPair::generate().map_err(e)?;
    let ca_cert = ca.self_signed(&ca_key).map_err(e)?;
    let mut leaf = CertificateParams::new(vec![SERVER_NAME.to_string()]).map_err(e)?;
    leaf.subject_alt_names
        .push(SanType::IpAddress([127, 0, 0, 1].into()));
    let key = KeyPair::generate().map_err(e)?;
    let cert = leaf.signed_by(&key, &ca_cert, &ca_key).map_err(e)?;
    for (name, text) in [
        ("ca.pem", ca_cert.pem()),
        ("cert.pem", cert.pem()),
        ("key.pem", key.serialize_pem()),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}

/// One handshake: connect, handshake, `version`, read the reply. Whether it resumed.
fn one(addr: SocketAddr, config: &Arc<ClientConfig>) -> Result<bool, String> {
    let mut sock = TcpStream::connect(addr).map_err(|e| format!("connect {addr}: {e}"))?;
    sock.set_nodelay(true).map_err(|e| e.to_string())?;
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    let mut conn = session(config)?;
    handshake(&mut conn, &mut sock)?;
    let resumed = conn.handshake_kind() == Some(rustls::HandshakeKind::Resumed);
    let mut s = rustls::Stream::new(&mut conn, &mut sock);
    s.write_all(b"version\r\n").map_err(|e| e.to_string())?;
    let mut buf = [0u8; 64];
    let mut got = 0;
    while !buf[..got].ends_with(b"\r\n") {
        let n = match s.read(&mut buf[got..]) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            r => r.map_err(|e| e.to_string())?,
        };
        if n == 0 || got + n == buf.len() {
            return Err("bad reply to version".to_string());
        }
        got += n;
    }
    conn.send_close_notify();
    let _ = conn.write_tls(&mut sock);
    Ok(resumed)
}

/// The handshake benchmark: `threads` clients in closed loop for `duration`. Each
/// completed handshake is one "get" in the returned stats (latency: connect to reply);
/// `resumed` counts those the server resumed.
pub fn handshakes(
    addr: SocketAddr,
    config: &Arc<ClientConfig>,
    threads: usize,
    duration: Duration,
    server_pid: Option<u32>,
) -> Result<(RunResult, u64), String> {
    // Warm the client's session cache (and check the server) before measuring.
    one(addr, config)?;
    let stop = Arc::new(AtomicBool::new(false));
    let resumed = Arc::new(AtomicU64::new(0));
    let go = Arc::new(Barrier::new(threads + 1));
    let mut handles = Vec::new();
    for _ in 0..threads {
        let (config, stop, resumed, go) = (
            Arc::clone(config),
            Arc::clone(&stop),
            Arc::clone(&resumed),
            Arc::clone(&go),
        );
        handles.push(std::thread::spawn(move || {
            let mut stats = Stats::new();
            go.wait();
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                match one(addr, &config) {
                    Ok(r) => {
                        resumed.fetch_add(u64::from(r), Ordering::Relaxed);
                        stats.record(Op::Get, Reply::Hit, t.elapsed());
                    }
                    Err(e) => {
                        if stats.errors < 3 {
                            eprintln!("loadgen: handshake: {e}");
                        }
                        stats.errors += 1;
                    }
                }
            }
            stats
        }));
    }
    let before = server_pid.map(ProcSample::read).transpose()?;
    let me = std::process::id();
    let client_before = ProcSample::read(me).ok();
    let start = Instant::now();
    go.wait();
    std::thread::sleep(duration);
    stop.store(true, Ordering::Relaxed);
    let mut stats = Stats::new();
    for h in handles {
        stats.merge(&h.join().map_err(|_| "handshake thread panicked")?);
    }
    let elapsed = start.elapsed();
    let server = match (before, server_pid) {
        (Some(b), Some(pid)) => Some(b.delta(&ProcSample::read(pid)?)),
        _ => None,
    };
    let client_cpu_us = match (client_before, ProcSample::read(me).ok()) {
        (Some(b), Some(a)) => Some(b.delta(&a).0),
        _ => None,
    };
    Ok((
        RunResult {
            stats,
            elapsed,
            server,
            all_syscalls: None,
            client_cpu_us,
            client_threads: threads,
        },
        resumed.load(Ordering::Relaxed),
    ))
}

/// Options of `loadgen handshakes`.
#[derive(Args, Debug)]
pub struct HandshakeArgs {
    /// Server address (a TLS listener).
    #[arg(long, default_value = "127.0.0.1:11211")]
    pub server: String,
    /// The CA (PEM) that signed the server's certificate.
    #[arg(long)]
    pub tls_ca: PathBuf,
    /// Resume sessions (the server needs -o ssl_session_cache); otherwise full handshakes.
    #[arg(long)]
    pub resume: bool,
    /// Client threads, each one connection at a time.
    #[arg(long, default_value_t = 4)]
    pub threads: usize,
    /// Seconds to run.
    #[arg(long, default_value_t = 5.0)]
    pub duration: f64,
    /// Server pid, for its CPU time per handshake.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Server name for the results file.
    #[arg(long, default_value = "server")]
    pub label: String,
    /// Cell name for the results file.
    #[arg(long)]
    pub cell: Option<String>,
    /// Append one result record to this file.
    #[arg(long)]
    pub results: Option<PathBuf>,
}

/// `loadgen handshakes`: runs the benchmark and records it like a `run`.
pub fn cmd_handshakes(a: &HandshakeArgs) -> Result<(), String> {
    let addr = crate::resolve(&a.server)?;
    let config = client_config(&a.tls_ca, a.resume)?;
    let duration = Duration::try_from_secs_f64(a.duration)
        .ok()
        .filter(|d| !d.is_zero() && *d <= Duration::from_secs(86_400))
        .ok_or_else(|| format!("--duration {}: not a number of seconds", a.duration))?;
    let threads = a.threads.max(1);
    let (res, resumed) = handshakes(addr, &config, threads, duration, a.server_pid)?;
    let kind = if a.resume { "resumed" } else { "full" };
    let done = res.stats.completed();
    if a.resume && resumed < done {
        eprintln!("loadgen: only {resumed} of {done} handshakes were resumed");
    }
    let cfg = crate::driver::RunConfig {
        addr,
        protocol: crate::proto::Protocol::parse("text")?,
        threads,
        connections: threads,
        pipeline: 1,
        mix: crate::workload::Mix::parse("1:0")?,
        value: crate::workload::ValueSize::parse("0")?,
        keys: 1,
        dist: crate::workload::KeyDist::Uniform,
        stop: crate::driver::Stop::Duration(duration),
        rate: None,
        seed: 0,
        tls: Some(config),
    };
    let cell = a
        .cell
        .clone()
        .unwrap_or_else(|| format!("tls handshake {kind} c{threads}"));
    let mut rec = crate::results::run_record(&a.label, &cell, &cfg, &res);
    for (k, v) in rec.iter_mut() {
        match k.as_str() {
            "protocol" => *v = format!("tls-handshake-{kind}"),
            "ratio" | "value" => *v = "-".to_string(),
            "hit_pct" => *v = format!("{:.1}", resumed as f64 * 100.0 / done.max(1) as f64),
            _ => {}
        }
    }
    println!("{}  (hit% = resumed%)", crate::results::describe(&rec));
    if let Some(path) = &a.results {
        crate::results::append(path, &rec)?;
    }
    Ok(())
}
