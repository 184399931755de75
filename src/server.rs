//! The server: listeners, the acceptor (control) thread, `-t` workers and the
//! maintenance thread, and the orderly stop that ties them together.
//!
//! ```text
//!             ┌──────────── control thread ────────────┐
//!  clients ──►│ listeners (TCP -l/-p, unix -s)         │
//!             │ accept, enforce -c, round-robin hand-off├──► worker 0: Poll + Slab<Conn>
//!             │ SIGTERM/SIGINT, shutdown requests      ├──► worker 1: Poll + Slab<Conn>
//!             └────────────────────────────────────────┘    ...   (each: read → parse →
//!  maintenance thread: clock tick, store upkeep (expiry crawl)       execute → write)
//! ```
//!
//! Stop: the control thread drops the listeners (no new connections), raises the
//! `stopping` flag and wakes every worker; each worker writes the replies it still
//! owes, closes its connections and returns; then the maintenance thread stops, and with
//! `-e` the snapshot thread too, and the snapshot of every live item is written.

pub mod conn;
pub mod listener;
pub mod metrics;
pub mod tls;
pub mod udp;
pub mod wirelog;
pub mod worker;

use crate::clock::Clock;
use crate::command::auth::Credentials;
use crate::command::{self, Settings};
use crate::config::{Config, ProtocolMode};
use crate::protocol::Dialect;
use crate::snapshot::Snapshots;
use crate::stats::Registry;
use crate::store::{Store, StoreConfig};
use crossbeam::channel::{self, Sender};
use listener::{Accepted, Listener};
use mio::{Events, Poll, Token, Waker};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGUSR1};
use signal_hook_mio::v1_0::Signals;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::Duration;

/// What every thread of the server shares.
pub struct Shared {
    /// The cache.
    pub store: Store,
    /// All counters.
    pub registry: Registry,
    /// The knobs the command layer reads.
    pub settings: Settings,
    stopping: AtomicBool,
    shutdown_requested: AtomicBool,
    control: OnceLock<Arc<Waker>>,
}

impl Shared {
    /// The context a request runs in on the thread whose counters are `stats`.
    pub fn ctx<'a>(&'a self, stats: &'a crate::stats::WorkerStats) -> crate::command::Ctx<'a> {
        crate::command::Ctx {
            store: &self.store,
            stats,
            registry: &self.registry,
            settings: &self.settings,
        }
    }

    /// True once the server has begun its orderly stop.
    pub fn stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }

    /// Asks the control thread to stop the server (the `shutdown` command).
    pub fn request_shutdown(&self) {
        self.shutdown_requested.store(true, Ordering::Release);
        if let Some(w) = self.control.get() {
            let _ = w.wake();
        }
    }
}

/// A running server.
pub struct Server {
    shared: Arc<Shared>,
    control: JoinHandle<()>,
    tcp_addrs: Vec<SocketAddr>,
}

const SIGNALS: Token = Token(usize::MAX - 1);
const CONTROL: Token = Token(usize::MAX - 2);

impl Server {
    /// Binds every listener, starts the workers, the control and the maintenance
    /// threads, and returns once the server accepts connections.
    ///
    /// # Errors
    /// When a listener cannot be bound, the store configuration is invalid, or a
    /// thread or poll cannot be created.
    pub fn start(config: &Config) -> io::Result<Server> {
        let clock = Clock::system();
        let store_config = StoreConfig {
            memory_limit: config.memory_limit,
            item_size_max: config.item_size_max,
            chunk_size_min: config.chunk_size_min,
            growth_factor: config.factor,
            page_size: config.slab_page_size,
            use_cas: config.use_cas,
            evict: !config.no_evict,
            eviction: config.eviction,
            stripes: (config.threads * 8).next_power_of_two().clamp(8, 1024),
        };
        let store = Store::new(store_config, clock.clone())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
        let settings = settings_from(config)?;

        let mut listeners = Vec::new();
        // Per listener: whether its connections speak TLS (-Z, unless `notls:`).
        let mut tls_listeners = Vec::new();
        if config.tcp_enabled() {
            for addr in config.listen_addrs() {
                let bound = Listener::bind_tcp(addr.host.as_deref(), addr.port, config.backlog)?;
                tls_listeners.extend(bound.iter().map(|_| config.tls.enabled && !addr.notls));
                listeners.extend(bound);
            }
        }
        if let Some(path) = &config.unix_socket {
            listeners.push(Listener::bind_unix(path, config.unix_mask, config.backlog)?);
            tls_listeners.push(false);
        }
        // -U: one socket per address per worker (see server/udp.rs).
        let mut udp_sockets: Vec<Vec<mio::net::UdpSocket>> =
            (0..config.threads).map(|_| Vec::new()).collect();
        if config.udp_enabled() {
            for addr in config.udp_addrs() {
                let groups = udp::bind(addr.host.as_deref(), addr.port, config.threads)?;
                for (mine, group) in udp_sockets.iter_mut().zip(groups) {
                    mine.extend(group);
                }
            }
        }
        if listeners.is_empty() && udp_sockets.iter().all(Vec::is_empty) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "no listener: give a TCP port (-p), a UDP port (-U) or a unix socket (-s)",
            ));
        }
        let tcp_addrs = listeners.iter().filter_map(Listener::tcp_addr).collect();
        // The snapshot is loaded once the listeners are bound (a port in use fails fast) and
        // before any connection is accepted.
        if let Some(snap) = &settings.snapshot {
            snap.load(&store);
        }

        let registry = Registry::with_prefixes(
            config.threads,
            config.prefix_delimiter,
            config.detail_enabled,
        );
        for l in &listeners {
            registry.add_listener(l.fd() as u64, l.name());
        }
        registry.set_hot_keys(config.hot_keys);
        let shared = Arc::new(Shared {
            store,
            registry,
            settings,
            stopping: AtomicBool::new(false),
            shutdown_requested: AtomicBool::new(false),
            control: OnceLock::new(),
        });

        if let Some(port) = config.metrics_port {
            let host = config
                .listen_addrs()
                .into_iter()
                .next()
                .and_then(|a| a.host);
            let host = match (&host, config.listen.is_empty()) {
                (Some(h), _) => Some(h.as_str()),
                (None, false) => None, // `-l *`: every interface
                (None, true) => Some("127.0.0.1"),
            };
            metrics::start(host, port, Arc::clone(&shared))?;
        }

        let mut inboxes = Vec::new();
        let mut workers = Vec::new();
        for (i, udp) in udp_sockets.into_iter().enumerate() {
            let (tx, rx) = channel::unbounded();
            let (mut worker, waker) = worker::Worker::new(i, Arc::clone(&shared), rx)?;
            for socket in udp {
                worker.add_udp(socket)?;
            }
            inboxes.push((tx, waker));
            workers.push(
                std::thread::Builder::new()
                    .name(format!("worker-{i}"))
                    .spawn(move || worker.run())?,
            );
        }

        let (stop_tx, stop_rx) = channel::bounded::<()>(1);
        let maint_shared = Arc::clone(&shared);
        let maintenance = std::thread::Builder::new()
            .name("maintenance".into())
            .spawn(move || loop {
                match stop_rx.recv_timeout(Duration::from_millis(100)) {
                    Err(channel::RecvTimeoutError::Timeout) => {
                        maint_shared.store.clock().tick();
                        maint_shared.store.maintain();
                    }
                    _ => return,
                }
            })?;

        let snapshot = match shared.settings.snapshot.clone() {
            Some(snap) => {
                let snap_shared = Arc::clone(&shared);
                Some(
                    std::thread::Builder::new()
                        .name("snapshot".into())
                        .spawn(move || snap.run(&snap_shared.store))?,
                )
            }
            None => None,
        };

        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), CONTROL)?);
        let _ = shared.control.set(waker);
        // SIGHUP is caught (and does not stop the server), as memcached ignores it.
        // SIGUSR1: memcached's restartable shutdown; here, like SIGTERM, a graceful stop
        // that writes the -e snapshot.
        let mut signals = Signals::new([SIGTERM, SIGINT, SIGHUP, SIGUSR1])?;
        poll.registry()
            .register(&mut signals, SIGNALS, mio::Interest::READABLE)?;
        for (i, l) in listeners.iter_mut().enumerate() {
            l.register(poll.registry(), Token(i))?;
        }
        let control = Control {
            poll,
            signals,
            listeners,
            tls_listeners,
            inboxes,
            next: 0,
            shared: Arc::clone(&shared),
            workers,
            maintenance: Some((maintenance, stop_tx)),
            snapshot,
        };
        let control = std::thread::Builder::new()
            .name("control".into())
            .spawn(move || control.run())?;
        Ok(Server {
            shared,
            control,
            tcp_addrs,
        })
    }

    /// The bound TCP addresses (useful when `-l` named port 0 or a host name).
    pub fn tcp_addrs(&self) -> &[SocketAddr] {
        &self.tcp_addrs
    }

    /// Asks the server to stop, as SIGTERM would.
    pub fn stop(&self) {
        self.shared.request_shutdown();
    }

    /// Blocks until the server has stopped (a signal, `shutdown`, or [`Server::stop`]).
    pub fn wait(self) {
        if self.control.join().is_err() {
            log::error!("control thread panicked");
        }
    }
}

/// The control thread's state: listeners, signals, and the way into each worker.
struct Control {
    poll: Poll,
    signals: Signals,
    listeners: Vec<Listener>,
    /// Whether each listener's connections speak TLS.
    tls_listeners: Vec<bool>,
    inboxes: Vec<(Sender<Accepted>, Arc<Waker>)>,
    next: usize,
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
    maintenance: Option<(JoinHandle<()>, Sender<()>)>,
    snapshot: Option<JoinHandle<()>>,
}

impl Control {
    fn run(mut self) {
        let mut events = Events::with_capacity(64);
        // Set when accept ran out of file descriptors: retry after a pause, since the
        // pending connections will not raise a new edge.
        let mut retry_accept = false;
        loop {
            let timeout = retry_accept.then(|| Duration::from_millis(10));
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                log::error!("control poll failed: {e}");
                break;
            }
            if retry_accept {
                retry_accept = false;
                for i in 0..self.listeners.len() {
                    retry_accept |= self.accept_all(i);
                }
            }
            let mut stop = false;
            for ev in events.iter() {
                match ev.token() {
                    SIGNALS => {
                        for sig in self.signals.pending() {
                            if sig == SIGHUP {
                                self.reload_cluster();
                                continue;
                            }
                            log::info!("signal {sig} received, shutting down");
                            stop = true;
                        }
                    }
                    CONTROL => {
                        stop |= self.shared.shutdown_requested.load(Ordering::Acquire);
                    }
                    Token(i) => retry_accept |= self.accept_all(i),
                }
            }
            if stop || self.shared.shutdown_requested.load(Ordering::Acquire) {
                break;
            }
        }
        self.stop();
    }

    /// Accepts every pending connection on listener `i`; true if accept must be retried.
    /// SIGHUP: memcached ignores it; larder reloads `-o cluster_config` if given.
    fn reload_cluster(&self) {
        match &self.shared.settings.cluster {
            Some(cluster) => match cluster.reload() {
                Ok(version) => log::info!("SIGHUP: cluster config reloaded (version {version})"),
                Err(e) => log::warn!("SIGHUP: {e}; keeping the previous cluster config"),
            },
            None => log::info!("SIGHUP received, ignored"),
        }
    }

    fn accept_all(&mut self, i: usize) -> bool {
        loop {
            let Some(listener) = self.listeners.get(i) else {
                return false;
            };
            match listener.accept() {
                Ok(mut acc) => {
                    acc.tls = self.tls_listeners.get(i).copied().unwrap_or(false);
                    self.dispatch(acc)
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    // EMFILE/ENFILE and friends: memcached disables accepting for a
                    // moment (listen_disabled_num); so do we.
                    log::warn!("accept failed: {e}");
                    return true;
                }
            }
        }
    }

    /// Hands a new connection to the next worker, or refuses it over `-c`.
    fn dispatch(&mut self, mut acc: Accepted) {
        let counters = &self.shared.registry.conns;
        let curr = counters.curr_connections.load(Ordering::Relaxed);
        if curr as usize >= self.shared.settings.max_connections {
            counters
                .rejected_connections
                .fetch_add(1, Ordering::Relaxed);
            log::debug!("too many open connections, refusing {}", acc.peer);
            let _ = write_all_now(&mut acc.stream, b"ERROR Too many open connections\r\n");
            return;
        }
        counters.curr_connections.fetch_add(1, Ordering::Relaxed);
        counters.total_connections.fetch_add(1, Ordering::Relaxed);
        let (tx, waker) = &self.inboxes[self.next];
        self.next = (self.next + 1) % self.inboxes.len();
        if tx.send(acc).is_ok() {
            let _ = waker.wake();
        } else {
            counters.curr_connections.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// The orderly stop: no new connections, workers finish and close, threads joined.
    fn stop(mut self) {
        self.listeners.clear();
        self.shared.stopping.store(true, Ordering::Release);
        // A snapshot being written while serving is abandoned: the complete one below
        // replaces it.
        if let Some(snap) = &self.shared.settings.snapshot {
            snap.stop_thread();
        }
        for (_, waker) in &self.inboxes {
            let _ = waker.wake();
        }
        for w in self.workers.drain(..) {
            if w.join().is_err() {
                log::error!("a worker panicked");
            }
        }
        if let Some((handle, stop_tx)) = self.maintenance.take() {
            let _ = stop_tx.send(());
            let _ = handle.join();
        }
        if let Some(handle) = self.snapshot.take() {
            let _ = handle.join();
        }
        // Nothing changes the cache any more: write every live item.
        if let Some(snap) = &self.shared.settings.snapshot {
            snap.write_final(&self.shared.store);
        }
    }
}

/// Writes a short message to a fresh socket without waiting (best effort).
fn write_all_now(stream: &mut listener::Stream, mut msg: &[u8]) -> io::Result<()> {
    while !msg.is_empty() {
        let n = stream.write(msg)?;
        msg = &msg[n..];
    }
    Ok(())
}

/// The command layer's settings, taken from the configuration.
fn settings_from(config: &Config) -> io::Result<Settings> {
    let credentials = load_credentials(config)?;
    Ok(Settings {
        reqs_per_event: config.reqs_per_event.max(1),
        limits: crate::protocol::Limits {
            item_size_max: config.item_size_max,
        },
        flush_enabled: config.flush_enabled,
        shutdown_enabled: config.shutdown_enabled,
        max_connections: config.max_connections,
        threads: config.threads,
        idle_timeout: config.idle_timeout,
        output_limit: conn::WBUF_HIGH,
        output_held_limit: config.output_held_limit,
        forced_dialect: match config.protocol {
            ProtocolMode::Auto => None,
            ProtocolMode::Ascii => Some(Dialect::Text),
            ProtocolMode::Binary => Some(Dialect::Binary),
        },
        auth_required: config.sasl || config.auth_file.is_some(),
        credentials,
        stats_settings: config.stats_settings(),
        dump_disabled: config.cachedump_disabled,
        cluster: match &config.cluster_config {
            Some(path) => Some(Arc::new(
                command::cluster::Cluster::load(path)
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?,
            )),
            None => None,
        },
        snapshot: config
            .snapshot_file
            .clone()
            .map(|path| Arc::new(Snapshots::new(path, config.snapshot_interval))),
        tls: match config.tls.enabled {
            true => Some(Arc::new(
                crate::tls::TlsContext::new(&config.tls)
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?,
            )),
            false => None,
        },
    })
}

/// memcached's environment variable naming its SASL password database (`user:password`
/// lines), used by `-S` when no `-Y` file is given.
pub const SASL_PWDB_ENV: &str = "MEMCACHED_SASL_PWDB";

/// Loads the credentials `-S`/`-Y` need, once, at startup.
///
/// # Errors
/// `-S` without a file to read, or a file that cannot be read or parsed (the message names
/// the file and the line, never its contents).
fn load_credentials(config: &Config) -> io::Result<Option<Arc<Credentials>>> {
    let path = match (&config.auth_file, config.sasl) {
        (Some(path), _) => path.clone(),
        (None, true) => match std::env::var_os(SASL_PWDB_ENV) {
            Some(p) => std::path::PathBuf::from(p),
            None => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "-S needs a password file: set {SASL_PWDB_ENV} to a file of \
                         user:password lines, or give -Y <file>"
                    ),
                ))
            }
        },
        (None, false) => return Ok(None),
    };
    Credentials::load(&path)
        .map(|c| Some(Arc::new(c)))
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))
}
