//! larder: a memcached-compatible, multi-threaded cache daemon. This page is the map;
//! `docs/ARCHITECTURE.md` has the same picture with the reasons, `docs/STORE.md` the store.
//!
//! # Threads
//! ```text
//!  control thread (server.rs) ── accept, -c, round-robin hand-off ──► worker 0..t
//!     signals: TERM/INT/USR1 stop, HUP reloads -o cluster_config     (server/worker.rs,
//!                                                                     one mio Poll each)
//!  worker: per connection  read → command::step → write             (server/conn.rs)
//!          per UDP socket (-U; one per -l address per worker, SO_REUSEPORT group)
//!          datagram → command::step per request → framed replies    (server/udp.rs)
//!  maintenance thread: every 100 ms clock tick + Store::maintain (expiry crawl, spare
//!     segments back to the pool, prefix tombstones retired)
//!  snapshot thread (-e with snapshot_interval or the `snapshot` command): snapshot.rs,
//!     at nice 10 so that workers sharing its core go first
//!  metrics thread (-o metrics_port): server/metrics.rs, plain HTTP /metrics
//!  all share Arc<Shared> = Store + stats Registry + settings + stop flags
//! ```
//!
//! # Modules (who may use whom: docs/ARCHITECTURE.md)
//! - [`config`]: memcached's flags, `-o` suboptions and the conf file → one `Config`
//!   (`config/tls.rs`: `-Z` and `-o ssl_*`).
//! - [`process`]: daemonizing, pid file, dropping privileges, rlimits, systemd notify.
//! - [`server`]: listeners, the control thread, workers, connections, UDP, `/metrics`;
//!   `server/tls.rs` is a TLS connection's rustls layer between socket and buffers.
//! - [`tls`]: the shared rustls (ring) context from `-o ssl_*`, `refresh_certs`' reload.
//! - [`protocol`]: sans-IO parsing of requests and encoding of replies (text, meta,
//!   binary, operator commands, ASCII auth; `protocol::line` is the framing, tokenizer
//!   and numbers the text family shares); all wire bytes live here.
//! - [`command`]: executes parsed requests against the store; the only module that knows
//!   both `protocol` and `store`.
//! - [`store`]: the cache: lock stripes, a segment log per stripe, records, S3-FIFO
//!   eviction, expiry, CAS, scans, prefix tombstones, snapshot batches.
//! - [`snapshot`]: the `-e` file: format (docs/SNAPSHOT.md), writing, loading.
//! - [`clock`]: the coarse process clock and memcached's expiry rules.
//! - [`decimal`]: numbers as decimal ASCII, the one formatter of both `protocol` and
//!   `store` (counters are decimal text in items).
//! - [`stats`]: per-worker counters (single-writer atomics) and their sums.
//!
//! # The request path, by function
//! `server::worker` polls → `server::conn::Conn::ready` reads into the connection's buffer
//! → `command::step` picks the dialect and calls `protocol::{text, binary}::parse` (meta
//! is parsed on the text tokenizer) → `command::text::execute` (text), `command::meta`,
//! `command::binary` call [`store::Store`] (`get`, `store`, `entry`, `arith`, ...) → the
//! reply is encoded by `protocol` into the connection's write buffer (a `command::Output`:
//! values of 16 KiB and up are spliced in by reference, as `store::ValuePart`s) → one
//! `write` (or `writev`, with values by reference) per batch.
//!
//! # Rules and where they are written
//! - Locking: the module doc of `store.rs` (stripe locks; no thread waits on a second
//!   stripe lock), the `stats` registry's in `stats.rs` (per-worker single-writer
//!   counters, read without locks), connection state is owned by its worker (no lock).
//! - `unsafe`: denied at the crate root (`#![deny(unsafe_code)]`); allowed only for single
//!   libc calls with a `// SAFETY:` note, in `process.rs` (fork, setsid, setuid, rlimits,
//!   malloc tuning, a background thread's priority), `server/listener.rs` (umask around a
//!   unix socket's bind) and `stats::rusage` (getrusage); and in the store, `store/page.rs`
//!   (segment memory shared with readers of large values, its soundness rule in the module
//!   doc) and `store/segment.rs` (the only user of its accessors, exact ranges each with its
//!   `// SAFETY:` note).
//! - Panics abort the process (`main.rs`): a dead worker must not strand its connections.
//!
//! # Tests, by concern
//! - Store as a library: `src/store/tests.rs`, `tests/store_*.rs` (model, capacity,
//!   fill, memory ceiling, expiry, calcification, threads).
//! - Protocols: `src/protocol/*/tests.rs`; over sockets `tests/{text,meta,binary,auth}.rs`
//!   (transcripts, also run against memcached: `LARDER_TEST_BIN=/usr/bin/memcached`); one
//!   transcript table (`tests/common/transcripts.rs`) runs both over a socket
//!   (`tests/text.rs`) and in process through `command::step` (`src/command/tests.rs`),
//!   `tests/differential.rs` (random streams compared byte for byte with memcached).
//! - Operators: `tests/ops.rs`; snapshots: `tests/snapshot.rs`; memory: `tests/memory.rs`.
//! - Process and faults: `tests/{process,robustness,faults,soak,netfuzz,concurrency}.rs`;
//!   the systemd unit (`systemd-analyze verify`, a stop and start as the unit runs it):
//!   `tests/systemd.rs`.
//! - TLS: `tests/tls.rs` (rustls and `openssl s_client` clients, mutual TLS, stalled
//!   handshakes, `refresh_certs`, `notls:` listeners).
//! - Real clients: `tests/interop.rs` (pymemcache (also over TLS), python-binary-memcached, meta-memcache,
//!   php-memcached, memccapable, memcached-tool, memcdump); fuzz targets in `fuzz/`.
//! - UDP: `tests/udp.rs` (raw-socket framing, also against memcached; `memccp --udp`).
//!
//! # Adding a command
//! 1. Parse it in `protocol` (a `Request` variant; its reply bytes as `protocol` constants
//!    or encoders) and add a transcript to `tests/text.rs` checked against memcached.
//! 2. Execute it in `command` (text: `command::text::execute`; meta/binary: their modules),
//!    calling the store through `Store`'s public methods only.
//! 3. Count it in `stats` if memcached does, and cover the new variant in `fuzz/`.

// `unsafe` only where a libc call needs it: `process`, `server::listener` and
// `stats::rusage` allow it, each block with a `// SAFETY:` note.
#![deny(unsafe_code)]

pub mod clock;
pub mod command;
pub mod config;
pub mod decimal;
pub mod process;
pub mod protocol;
pub mod server;
pub mod snapshot;
pub mod stats;
pub mod store;
pub mod tls;
