//! One node as the client sees it: its spec, an idle-connection pool, and its health
//! (consecutive failures, retry deadline). This is where the failure policy's counting
//! lives; the client decides what an ejection does to the ring.
//!
//! Health follows twemproxy's `server_failure_limit` / `server_retry_timeout`: every
//! request that fails to reach the node adds one to its failure count, every successful
//! one resets it; when the count reaches the limit the node gets a retry deadline
//! `now + retry_timeout` and the count starts over. Until the deadline the node is
//! "resting": it is left out of the ring (auto-eject) or refused without network I/O.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::conn::{Conn, Timeouts};
use crate::error::{io_cause, Cause, Error};
use crate::node::NodeSpec;

/// A node's pool and health. Shared (`Arc`) across ring rebuilds so neither is lost when
/// membership changes.
pub(crate) struct Backend {
    pub(crate) spec: NodeSpec,
    pub(crate) label: String,
    idle: Mutex<Vec<Conn>>,
    failures: AtomicU32,
    /// Milliseconds since the client's epoch before which the node rests; 0 = healthy.
    retry_at: AtomicU64,
}

/// What a failure did to the node.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Failure {
    /// Counted; still below the limit.
    Counted,
    /// The limit was reached: the node rests until the returned deadline (ms).
    Resting(u64),
}

impl Backend {
    pub(crate) fn new(spec: NodeSpec) -> Backend {
        let label = spec.label();
        Backend {
            spec,
            label,
            idle: Mutex::new(Vec::new()),
            failures: AtomicU32::new(0),
            retry_at: AtomicU64::new(0),
        }
    }

    /// The retry deadline in ms since the epoch, 0 when healthy.
    pub(crate) fn retry_at(&self) -> u64 {
        self.retry_at.load(Ordering::Acquire)
    }

    /// True while the node rests (`now_ms` before its retry deadline).
    pub(crate) fn resting(&self, now_ms: u64) -> bool {
        now_ms < self.retry_at()
    }

    /// Consecutive failures so far.
    pub(crate) fn failures(&self) -> u32 {
        self.failures.load(Ordering::Relaxed)
    }

    pub(crate) fn record_success(&self) {
        // Loads first so a healthy node's hot path does not write shared cache lines.
        if self.failures.load(Ordering::Relaxed) != 0 {
            self.failures.store(0, Ordering::Relaxed);
        }
        if self.retry_at.load(Ordering::Relaxed) != 0 {
            self.retry_at.store(0, Ordering::Release);
        }
    }

    pub(crate) fn record_failure(&self, now_ms: u64, limit: u32, retry: Duration) -> Failure {
        // Every pooled connection is suspect once one failed (a restarted node resets them all).
        self.discard_idle();
        let n = self.failures.fetch_add(1, Ordering::AcqRel) + 1;
        if n >= limit.max(1) {
            self.failures.store(0, Ordering::Relaxed);
            let deadline =
                now_ms.saturating_add(u64::try_from(retry.as_millis()).unwrap_or(u64::MAX));
            self.retry_at.store(deadline.max(1), Ordering::Release);
            Failure::Resting(deadline)
        } else {
            Failure::Counted
        }
    }

    fn lock_idle(&self) -> std::sync::MutexGuard<'_, Vec<Conn>> {
        // A panic while holding this lock cannot leave the Vec inconsistent.
        self.idle.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A pooled connection (`true`: reused) or a new one. Connect failures are
    /// `Unavailable`.
    pub(crate) fn checkout(&self, t: &Timeouts) -> Result<(Conn, bool), Error> {
        if let Some(mut c) = self.lock_idle().pop() {
            c.reset_read_count();
            return Ok((c, true));
        }
        self.connect(t).map(|c| (c, false))
    }

    /// A new connection. Connect failures are `Unavailable`.
    pub(crate) fn connect(&self, t: &Timeouts) -> Result<Conn, Error> {
        Conn::connect(&self.spec, t).map_err(|e| Error::Unavailable {
            node: self.label.clone(),
            cause: Cause::Connect(e.kind()),
        })
    }

    /// Drops every pooled connection.
    pub(crate) fn discard_idle(&self) {
        self.lock_idle().clear();
    }

    /// Returns a connection to the pool if it is in a clean state and there is room.
    pub(crate) fn checkin(&self, conn: Conn, max_idle: usize) {
        if !conn.is_clean() {
            return;
        }
        let mut idle = self.lock_idle();
        if idle.len() < max_idle {
            idle.push(conn);
        }
    }

    /// Maps an I/O error on an established connection to `Unavailable`, or `Protocol`
    /// for malformed input.
    pub(crate) fn io_error(&self, e: &std::io::Error) -> Error {
        if e.kind() == std::io::ErrorKind::InvalidData {
            return Error::Protocol {
                node: self.label.clone(),
                detail: e.to_string(),
            };
        }
        Error::Unavailable {
            node: self.label.clone(),
            cause: io_cause(e),
        }
    }

    pub(crate) fn protocol(&self, detail: impl Into<String>) -> Error {
        Error::Protocol {
            node: self.label.clone(),
            detail: detail.into(),
        }
    }

    pub(crate) fn server(&self, line: &str) -> Error {
        Error::Server {
            node: self.label.clone(),
            message: line.to_string(),
        }
    }
}

/// Milliseconds since `epoch`, never 0 (0 means "no deadline").
pub(crate) fn now_ms(epoch: Instant) -> u64 {
    epoch.elapsed().as_millis() as u64 + 1
}
