//! larder: a memcached-compatible, multi-threaded cache daemon.
//!
//! # Threads
//! ```text
//!  control thread ── accept, -c, round-robin ──► worker 0..t (mio Poll each)
//!                                                  │ read → parse → execute → write
//!  maintenance thread ── clock tick, expiry crawl ─┴──► Store (lock stripes)
//! ```
//!
//! # Modules (who uses whom: see docs/ARCHITECTURE.md)
//! - [`config`]: memcached's flags and the conf file → one `Config`.
//! - [`process`]: daemonizing, pid file, dropping privileges, systemd notify.
//! - [`server`]: listeners, the control thread, workers and connections.
//! - [`protocol`]: sans-IO parsing of requests and encoding of replies.
//! - [`command`]: executes requests against the store; the only bridge between them.
//! - [`store`]: the cache itself: stripes, segments (a log per stripe), items, S3-FIFO
//!   eviction, expiry.
//! - [`clock`]: the coarse process clock and memcached's expiry rules.
//! - [`stats`]: per-worker counters and their aggregation.
//! - [`snapshot`]: the `-e` snapshot file: format, writing, loading, the snapshot thread.
//!
//! # The request path
//! socket → `server::conn` read buffer → `protocol::text::parse` → `command::execute`
//! → `store` → reply bytes appended to the connection's write buffer → one `write`.

pub mod clock;
pub mod command;
pub mod config;
pub mod process;
pub mod protocol;
pub mod server;
pub mod snapshot;
pub mod stats;
pub mod store;
