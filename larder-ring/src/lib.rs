//! # larder-ring
//!
//! Client-side sharding for memcached-compatible nodes (larder, memcached): a ketama ring
//! that places every key exactly where libmemcached (pylibmc, php-memcached) and
//! twemproxy place it, and a blocking client over the text protocol with per-node
//! connection pools, failure handling and optional replicas. It does not depend on the
//! larder daemon.
//!
//! ## How a key finds its node
//!
//! ```text
//!  key ──(hash tag?)──► key hash (md5 by default) ──► first ring point >= hash ──► node
//!                                                      (wrap to the first point)
//!  ring: per live node, floor(w/W * 160/4 * L) * 4 points (f32, as in C), four per
//!        MD5("<point name>-<i>"); point name = node name | host (port 11211) | host:port
//! ```
//!
//! ```
//! use larder_ring::{NodeSpec, Ring, RingConfig};
//!
//! let nodes: Vec<NodeSpec> = ["10.0.0.1:11211", "10.0.0.2:11211:2", "10.0.0.3:11212"]
//!     .iter()
//!     .map(|s| s.parse().unwrap())
//!     .collect();
//! let ring = Ring::new(&RingConfig::default(), &nodes);
//! let home = ring.route(b"user:42").unwrap();
//! assert!(home < 3);
//! // The weight-2 node owns about half of the hash space.
//! assert!((ring.share(1) - 0.5).abs() < 0.1);
//! ```
//!
//! [`RingConfig`] selects the [`Distribution`] (ketama, libmemcached's `KETAMA_SPY`,
//! spymemcached's `KetamaNodeLocator`, modula, and the larder-ring-only jump and
//! rendezvous), whether weights count ([`RingConfig::weighted`], set by each client's own
//! rule), the key [`Hash`], a twemproxy hash tag, and how unix-socket nodes are named
//! ([`Compat`]).
//!
//! ## Failure policy
//!
//! As twemproxy and libmemcached offer it ([`ClientConfig`]):
//! - a request that cannot reach its node (connect refused, timeout, reset) returns
//!   [`Error::Unavailable`] and counts one failure; a success resets the count;
//! - after `server_failure_limit` consecutive failures the node *rests* for
//!   `server_retry_timeout`;
//! - with `auto_eject_hosts`, a resting node leaves the ring: its keys move to the next
//!   node on the ring (everyone else's stay), and return when the rest is over and the
//!   ring is rebuilt; if the node still fails, it is ejected again;
//! - without it, requests for a resting node fail at once with [`Cause::RetryWindow`]
//!   instead of waiting on timeouts;
//! - with `replicas = R`, writes and deletes go to the R distinct nodes following the key
//!   on the ring, and reads fall over from one to the next when a node is unavailable.
//!
//! ```no_run
//! use std::time::Duration;
//! use larder_ring::{Client, ClientConfig};
//!
//! let config = ClientConfig {
//!     auto_eject_hosts: true,
//!     server_failure_limit: 2,
//!     server_retry_timeout: Duration::from_secs(10),
//!     ..ClientConfig::default()
//! };
//! let client = Client::from_specs(&["127.0.0.1:11211", "127.0.0.1:11212"], config)?;
//! client.set("greeting", "hello", 0, 300)?;
//! assert_eq!(client.get("greeting")?.unwrap().value, b"hello");
//! let hits = client.get_multi(&["greeting", "absent"])?;
//! assert_eq!(hits.items.len(), 1);
//! # Ok::<(), larder_ring::Error>(())
//! ```
//!
//! ## Modules
//!
//! | module | owns |
//! |---|---|
//! | `hash` | the key hashes, bit-exact with libhashkit / nc_hashkit |
//! | `node` | node specs, labels and ketama point names |
//! | `ring` | the continuum: build, route, replica successors |
//! | `error` | the error type |
//! | `proto` | text-protocol encoders and reply classification (sans-IO) |
//! | `conn` | one socket with buffers and timeouts |
//! | `backend` | per-node pool and health (failure counting, rest deadline) |
//! | `client` | configuration, topology swap, membership, request plumbing |
//! | `ops` / `multi` | single-key operations / multi-get and per-node commands |

#![deny(unsafe_code)]

mod backend;
mod client;
mod conn;
mod error;
pub mod hash;
mod multi;
pub mod node;
mod ops;
pub mod proto;
pub mod ring;

pub use client::{Client, ClientConfig, NodeStatus, MAX_REPLICAS};
pub use conn::Timeouts;
pub use error::{Cause, Error};
pub use hash::Hash;
pub use multi::{MultiGet, NodeReply};
pub use node::{Address, Compat, NodeSpec, SpecError, SpyFormat};
pub use ops::Item;
pub use ring::{Distribution, Ring, RingConfig};
