//! The sharded client: configuration, the current topology (node list + ring) and its
//! atomic replacement, membership changes, and the per-request plumbing every operation
//! uses (pick targets, borrow a connection, account success or failure).
//!
//! The topology is an immutable `Arc<Topology>` in an [`ArcSwap`]: a request loads it
//! without locking; a rebuild (membership change, ejection, or a rested node's return)
//! builds a new one under the `admin` mutex and swaps it in. Requests in flight keep the
//! old one; pools and health live in `Arc<Backend>`s shared by both.
//!
//! The operations themselves are in `ops.rs` (single-key) and `multi.rs` (multi-get and
//! per-node commands).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arc_swap::{ArcSwap, Guard};

use crate::backend::{now_ms, Backend, Failure};
use crate::conn::{Conn, Timeouts};
use crate::error::{Cause, Error};
use crate::node::NodeSpec;
use crate::ring::{Ring, RingConfig};

/// Most replicas a key can have.
pub const MAX_REPLICAS: usize = 8;

/// Client settings. Field names follow twemproxy's pool settings where they exist.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// Placement: distribution, key hash, hash tag, unix-socket naming.
    pub ring: RingConfig,
    /// Connect, read and write timeouts.
    pub timeouts: Timeouts,
    /// Idle connections kept per node.
    pub max_idle_per_node: usize,
    /// Consecutive failures after which a node rests (twemproxy `server_failure_limit`).
    pub server_failure_limit: u32,
    /// How long a node rests (twemproxy `server_retry_timeout`).
    pub server_retry_timeout: Duration,
    /// Eject resting nodes from the ring, moving their keys to the next node
    /// (twemproxy `auto_eject_hosts`, libmemcached `MEMCACHED_BEHAVIOR_REMOVE_FAILED_SERVERS`).
    /// When false, requests for a resting node fail fast with [`Cause::RetryWindow`].
    pub auto_eject_hosts: bool,
    /// Copies of each key (1..=[`MAX_REPLICAS`]): writes and deletes go to the `replicas`
    /// distinct nodes following the key on the ring; reads go to the first that answers.
    pub replicas: usize,
}

impl Default for ClientConfig {
    /// Weighted ketama + MD5, 1 s timeouts, 4 idle connections per node, failure limit 2,
    /// retry timeout 30 s (twemproxy's defaults), no auto-eject, one replica.
    fn default() -> ClientConfig {
        ClientConfig {
            ring: RingConfig::default(),
            timeouts: Timeouts::default(),
            max_idle_per_node: 4,
            server_failure_limit: 2,
            server_retry_timeout: Duration::from_secs(30),
            auto_eject_hosts: false,
            replicas: 1,
        }
    }
}

/// A node's state as reported by [`Client::nodes`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeStatus {
    /// The node's label (its name, else `host:port` or the socket path).
    pub label: String,
    /// Its specification.
    pub spec: NodeSpec,
    /// Whether it currently has points on the ring.
    pub in_ring: bool,
    /// Whether it is resting after `server_failure_limit` failures.
    pub resting: bool,
    /// Consecutive failures counted so far.
    pub failures: u32,
}

/// One immutable view of the cluster.
pub(crate) struct Topology {
    /// Node specs in ring-index order (weights live here, not in the backend).
    specs: Vec<NodeSpec>,
    pub(crate) backends: Vec<Arc<Backend>>,
    pub(crate) ring: Ring,
    /// Earliest retry deadline (ms) of an ejected node; 0 when none is ejected.
    next_rebuild: u64,
}

/// A sharded memcached client. `Send + Sync`: share it (e.g. in an `Arc`) across threads.
pub struct Client {
    pub(crate) config: ClientConfig,
    topology: ArcSwap<Topology>,
    admin: Mutex<()>,
    epoch: Instant,
}

impl Client {
    /// A client over `nodes`.
    ///
    /// # Errors
    /// [`Error::DuplicateNode`] when two nodes share a label.
    pub fn new(
        nodes: impl IntoIterator<Item = NodeSpec>,
        mut config: ClientConfig,
    ) -> Result<Client, Error> {
        config.replicas = config.replicas.clamp(1, MAX_REPLICAS);
        let mut members: Vec<Member> = Vec::new();
        for spec in nodes {
            let b = Backend::new(spec.clone());
            if members.iter().any(|(_, o)| o.label == b.label) {
                return Err(Error::DuplicateNode(b.label));
            }
            members.push((spec, Arc::new(b)));
        }
        let epoch = Instant::now();
        let topology = build(&config, members, now_ms(epoch));
        Ok(Client {
            config,
            topology: ArcSwap::from_pointee(topology),
            admin: Mutex::new(()),
            epoch,
        })
    }

    /// A client over node specs in text form (`host:port[:weight] [name]`, socket paths).
    ///
    /// # Errors
    /// [`Error::Spec`] for a spec that does not parse, [`Error::DuplicateNode`].
    pub fn from_specs<S: AsRef<str>>(specs: &[S], config: ClientConfig) -> Result<Client, Error> {
        let nodes = specs
            .iter()
            .map(|s| NodeSpec::parse(s.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        Client::new(nodes, config)
    }

    /// The configuration in use.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// Every node with its health.
    pub fn nodes(&self) -> Vec<NodeStatus> {
        let topo = self.topology();
        let now = now_ms(self.epoch);
        let points = topo.ring.point_counts();
        topo.backends
            .iter()
            .enumerate()
            .map(|(i, b)| NodeStatus {
                label: b.label.clone(),
                spec: topo.specs[i].clone(),
                in_ring: points[i] > 0,
                resting: b.resting(now),
                failures: b.failures(),
            })
            .collect()
    }

    /// The label of the node `key` maps to now (its first replica), if any node is live.
    pub fn route(&self, key: &[u8]) -> Option<String> {
        let topo = self.topology();
        topo.ring.route(key).map(|i| topo.backends[i].label.clone())
    }

    /// Adds a node and rebuilds the ring; about 1/N of the keys move to it.
    ///
    /// # Errors
    /// [`Error::DuplicateNode`] when its label is taken.
    pub fn add_node(&self, spec: NodeSpec) -> Result<(), Error> {
        self.change(|members| {
            let b = Backend::new(spec.clone());
            if members.iter().any(|(_, o)| o.label == b.label) {
                return Err(Error::DuplicateNode(b.label));
            }
            members.push((spec, Arc::new(b)));
            Ok(())
        })
    }

    /// Removes the node labelled `label` and rebuilds the ring; only its keys move.
    ///
    /// # Errors
    /// [`Error::UnknownNode`].
    pub fn remove_node(&self, label: &str) -> Result<NodeSpec, Error> {
        self.change(|members| {
            let at = position(members, label)?;
            Ok(members.remove(at).0)
        })
    }

    /// Changes a node's weight (raised to at least 1) and rebuilds the ring.
    ///
    /// # Errors
    /// [`Error::UnknownNode`].
    pub fn set_weight(&self, label: &str, weight: u32) -> Result<(), Error> {
        self.change(|members| {
            let at = position(members, label)?;
            // Same backend (pool and health), new weight.
            let spec = members[at].0.clone().with_weight(weight);
            members[at].0 = spec;
            Ok(())
        })
    }

    /// Applies a membership change to a copy of the node list and swaps in the new ring.
    fn change<R>(
        &self,
        edit: impl FnOnce(&mut Vec<Member>) -> Result<R, Error>,
    ) -> Result<R, Error> {
        let _admin = self.admin.lock().unwrap_or_else(|p| p.into_inner());
        self.rebuild_locked(edit)
    }

    /// Rebuilds with the admin lock held.
    fn rebuild_locked<R>(
        &self,
        edit: impl FnOnce(&mut Vec<Member>) -> Result<R, Error>,
    ) -> Result<R, Error> {
        let current = self.topology.load();
        let mut members: Vec<Member> = current
            .specs
            .iter()
            .cloned()
            .zip(current.backends.iter().cloned())
            .collect();
        drop(current);
        let out = edit(&mut members)?;
        let topo = build(&self.config, members, now_ms(self.epoch));
        self.topology.store(Arc::new(topo));
        Ok(out)
    }

    /// Rebuilds the ring from the current nodes' health (after an ejection).
    fn refresh(&self) {
        let _ = self.change(|_| Ok(()));
    }

    /// The current topology, first rebuilding it if an ejected node's rest is over.
    pub(crate) fn topology(&self) -> Guard<Arc<Topology>> {
        let topo = self.topology.load();
        if topo.next_rebuild == 0 || now_ms(self.epoch) < topo.next_rebuild {
            return topo;
        }
        drop(topo);
        {
            let _admin = self.admin.lock().unwrap_or_else(|p| p.into_inner());
            // Another thread may have rebuilt while this one waited for the lock.
            let due = self.topology.load().next_rebuild;
            if due != 0 && now_ms(self.epoch) >= due {
                let _ = self.rebuild_locked(|_| Ok(()));
            }
        }
        self.topology.load()
    }

    /// The replica targets of `key` into `out`; returns how many.
    ///
    /// # Errors
    /// [`Error::NoNodes`] when no node is live.
    pub(crate) fn targets(
        &self,
        topo: &Topology,
        key: &[u8],
        out: &mut [usize; MAX_REPLICAS],
    ) -> Result<usize, Error> {
        match topo.ring.successors(key, &mut out[..self.config.replicas]) {
            0 => Err(Error::NoNodes),
            n => Ok(n),
        }
    }

    /// Runs `f` on a connection to `b`, accounting the outcome in `b`'s health.
    /// `Unavailable` counts as a failure (and may eject the node); protocol errors drop
    /// the connection; every other outcome counts as a success.
    ///
    /// A pooled connection the node has since closed (it restarted, or dropped idle
    /// clients) fails with `Closed` before any reply: the request was not executed, so it
    /// is retried once on a fresh connection before anything is counted.
    pub(crate) fn call<T>(
        &self,
        b: &Backend,
        f: impl Fn(&mut Conn, &Backend) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let (mut conn, reused) = self.begin(b)?;
        let mut result = f(&mut conn, b);
        if reused && stale(&conn, &result) {
            conn = self.reconnect(b)?;
            result = f(&mut conn, b);
        }
        self.finish(b, conn, &result);
        result
    }

    /// First half of a request: refuse a resting node, else borrow a connection
    /// (`true`: reused from the pool). A connect failure is counted.
    pub(crate) fn begin(&self, b: &Backend) -> Result<(Conn, bool), Error> {
        // Healthy nodes (deadline 0) skip reading the clock.
        let rest = b.retry_at();
        if rest != 0 && now_ms(self.epoch) < rest {
            return Err(Error::Unavailable {
                node: b.label.clone(),
                cause: Cause::RetryWindow,
            });
        }
        b.checkout(&self.config.timeouts)
            .inspect_err(|_| self.failed(b))
    }

    /// Replaces a stale pooled connection: drops the pool, connects afresh.
    pub(crate) fn reconnect(&self, b: &Backend) -> Result<Conn, Error> {
        b.discard_idle();
        b.connect(&self.config.timeouts)
            .inspect_err(|_| self.failed(b))
    }

    /// Second half: account the outcome and return the connection when it is reusable.
    pub(crate) fn finish<T>(&self, b: &Backend, conn: Conn, result: &Result<T, Error>) {
        match result {
            Err(Error::Unavailable { .. }) => self.failed(b),
            Err(Error::Protocol { .. }) => {}
            _ => {
                b.record_success();
                b.checkin(conn, self.config.max_idle_per_node);
            }
        }
    }

    fn failed(&self, b: &Backend) {
        let c = &self.config;
        let now = now_ms(self.epoch);
        let failure = b.record_failure(now, c.server_failure_limit, c.server_retry_timeout);
        if let Failure::Resting(_) = failure {
            if c.auto_eject_hosts {
                self.refresh();
            }
        }
    }
}

/// A node's spec (with its current weight) and its shared backend.
type Member = (NodeSpec, Arc<Backend>);

/// A reused connection that the node had closed before sending anything: the request
/// never ran, so it may be retried on a fresh connection.
pub(crate) fn stale<T>(conn: &Conn, result: &Result<T, Error>) -> bool {
    conn.nothing_read()
        && matches!(
            result,
            Err(Error::Unavailable {
                cause: Cause::Closed,
                ..
            })
        )
}

fn position(members: &[Member], label: &str) -> Result<usize, Error> {
    members
        .iter()
        .position(|(_, b)| b.label == label)
        .ok_or_else(|| Error::UnknownNode(label.to_string()))
}

/// Builds a topology: with auto-eject, resting nodes get no points.
fn build(config: &ClientConfig, members: Vec<Member>, now: u64) -> Topology {
    let (specs, backends): (Vec<NodeSpec>, Vec<Arc<Backend>>) = members.into_iter().unzip();
    let eject = config.auto_eject_hosts;
    let ring = Ring::with_liveness(&config.ring, &specs, |i| {
        !(eject && backends[i].resting(now))
    });
    let next_rebuild = if eject {
        backends
            .iter()
            .map(|b| b.retry_at())
            .filter(|t| *t > now)
            .min()
            .unwrap_or(0)
    } else {
        0
    };
    Topology {
        specs,
        backends,
        ring,
        next_rebuild,
    }
}
