//! Server counters with memcached's names, and their aggregation for `stats`.
//!
//! Every worker owns one [`WorkerStats`]: a block of relaxed atomics that only its
//! own thread writes, so counting on the request path is a plain load and store on a
//! cache line no other core writes (no `lock`-prefixed instruction, no shared counter).
//! A `stats` command on any worker reads every block and sums them. `stats reset`
//! does not write other threads' counters (that would race with their owner): it
//! records the current sums as a baseline that later reads subtract.
//!
//! This module knows nothing of the store, the protocols or the server: the numbers
//! it cannot see itself (items, memory, connections' addresses) are handed to it.

pub mod classes;
pub mod hotkeys;
pub mod prefix;

use classes::{ClassCounters, ClassTotals};
use parking_lot::Mutex;
use prefix::PrefixStats;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;

/// A counter written by one thread and read by any.
///
/// `add` is a load and a store rather than a `fetch_add`: with a single writer the
/// result is the same and the instruction is not a locked read-modify-write.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Adds `n`. Must only be called by the owning thread.
    #[inline]
    pub fn add(&self, n: u64) {
        let v = self.0.load(Ordering::Relaxed);
        self.0.store(v.wrapping_add(n), Ordering::Relaxed);
    }

    /// Adds one. Must only be called by the owning thread.
    #[inline]
    pub fn incr(&self) {
        self.add(1);
    }

    /// The current value.
    #[inline]
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

macro_rules! worker_counters {
    ($($name:ident),* $(,)?) => {
        /// One worker's request counters, named exactly as memcached's `stats` names them.
        #[derive(Debug, Default)]
        pub struct WorkerStats {
            $(
                #[doc = concat!("memcached's `", stringify!($name), "`.")]
                pub $name: Counter,
            )*
            /// The per-class command counters of `stats slabs`.
            pub classes: ClassCounters,
            /// The sampled hot-key sketch (`stats hotkeys`).
            pub hot: hotkeys::HotKeys,
        }

        /// A plain copy of summed [`WorkerStats`].
        #[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
        pub struct Totals {
            $(
                #[doc = concat!("memcached's `", stringify!($name), "`.")]
                pub $name: u64,
            )*
        }

        impl Totals {
            fn add(&mut self, w: &WorkerStats) {
                $( self.$name = self.$name.wrapping_add(w.$name.get()); )*
            }

            fn minus(&self, base: &Totals) -> Totals {
                Totals { $( $name: self.$name.wrapping_sub(base.$name), )* }
            }
        }
    };
}

worker_counters!(
    cmd_get,
    cmd_set,
    cmd_flush,
    cmd_flush_prefix,
    cmd_touch,
    cmd_meta,
    get_hits,
    get_misses,
    get_expired,
    get_flushed,
    delete_misses,
    delete_hits,
    incr_misses,
    incr_hits,
    decr_misses,
    decr_hits,
    cas_misses,
    cas_hits,
    cas_badval,
    touch_hits,
    touch_misses,
    store_too_large,
    store_no_memory,
    auth_cmds,
    auth_errors,
    bytes_read,
    bytes_written,
    conn_yields,
    idle_kicks,
    conn_output_paused,
    ssl_handshake_errors,
    udp_datagrams_read,
    udp_datagrams_dropped,
    udp_datagrams_written,
    udp_send_errors,
);

/// What `stats conns` shows of one open connection.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    /// Peer address as memcached prints it: `tcp:127.0.0.1:5555` or `unix:/path`.
    pub addr: String,
    /// The listener it came through, same format.
    pub listen_addr: String,
    /// Relative time of its last command, updated by its worker.
    pub last_cmd: Arc<AtomicU32>,
}

/// Connection-level counters: written by the acceptor and by workers when a
/// connection opens or closes, never per request.
#[derive(Debug, Default)]
pub struct ConnCounters {
    /// Open client connections.
    pub curr_connections: AtomicU64,
    /// Connections accepted since start.
    pub total_connections: AtomicU64,
    /// Connections refused because `-c` was reached.
    pub rejected_connections: AtomicU64,
    /// Most connection structures ever alive at once (plus the listeners).
    pub connection_structures: AtomicU64,
    /// Output bytes written into connections' buffers but not yet accepted by their
    /// sockets, summed over every connection of every worker (slow readers' backlog; a
    /// connection's share is counted only once a write leaves some of it unsent). Past
    /// `-o output_held_limit`, connections that hold output stop
    /// parsing until theirs drains.
    pub output_held: AtomicU64,
}

/// Every worker's counters plus the server-wide ones: what `stats` reads.
#[derive(Debug)]
pub struct Registry {
    workers: Vec<Arc<WorkerStats>>,
    baseline: Mutex<Totals>,
    class_baseline: Mutex<ClassTotals>,
    /// Connection counters.
    pub conns: ConnCounters,
    /// `stats detail`: per-prefix counters.
    pub prefixes: PrefixStats,
    /// `slabs automove` as last set (reported by `stats settings`; no effect here).
    pub slab_automove: AtomicU32,
    open: Mutex<BTreeMap<u64, ConnInfo>>,
    listeners: Mutex<Vec<(u64, String)>>,
    udp: Mutex<Vec<(u64, String)>>,
}

impl Registry {
    /// A registry for `workers` workers, all counters zero.
    pub fn new(workers: usize) -> Registry {
        Registry {
            workers: (0..workers)
                .map(|_| Arc::new(WorkerStats::default()))
                .collect(),
            baseline: Mutex::new(Totals::default()),
            class_baseline: Mutex::new(ClassTotals::default()),
            conns: ConnCounters::default(),
            prefixes: PrefixStats::new(b':'),
            slab_automove: AtomicU32::new(1),
            open: Mutex::new(BTreeMap::new()),
            listeners: Mutex::new(Vec::new()),
            udp: Mutex::new(Vec::new()),
        }
    }

    /// Worker `i`'s counters (only worker `i` may write them).
    ///
    /// # Panics
    /// If `i` is not below the worker count given to [`Registry::new`].
    pub fn worker(&self, i: usize) -> Arc<WorkerStats> {
        Arc::clone(&self.workers[i])
    }

    /// The sums of all workers' counters since start or the last [`Registry::reset`].
    pub fn totals(&self) -> Totals {
        let mut t = Totals::default();
        for w in &self.workers {
            t.add(w);
        }
        t.minus(&self.baseline.lock())
    }

    /// A registry whose per-prefix stats use `delimiter` and start `enabled` (`-D`).
    pub fn with_prefixes(workers: usize, delimiter: u8, enabled: bool) -> Registry {
        let r = Registry {
            prefixes: PrefixStats::new(delimiter),
            ..Registry::new(workers)
        };
        r.prefixes.set_enabled(enabled);
        r
    }

    /// Turns hot-key sampling on or off in every worker (`-o no_hotkeys` at startup).
    pub fn set_hot_keys(&self, enabled: bool) {
        for w in &self.workers {
            w.hot.set_enabled(enabled);
        }
    }

    /// Whether hot keys are sampled.
    pub fn hot_keys_enabled(&self) -> bool {
        self.workers.first().is_some_and(|w| w.hot.enabled())
    }

    /// `stats hotkeys`: the `n` most requested keys of the last one or two intervals.
    pub fn hot_keys(&self, n: usize, now: u32) -> Vec<(Box<[u8]>, u64)> {
        hotkeys::top(self.workers.iter().map(|w| &w.hot), n, now)
    }

    /// The per-class command counters summed over workers, since start or the last reset.
    pub fn class_totals(&self) -> ClassTotals {
        self.raw_class_totals().minus(&self.class_baseline.lock())
    }

    fn raw_class_totals(&self) -> ClassTotals {
        let mut t = ClassTotals::default();
        for w in &self.workers {
            w.classes.add_to(&mut t);
        }
        t
    }

    /// `stats reset`: later reads count from now.
    pub fn reset(&self) {
        let mut t = Totals::default();
        for w in &self.workers {
            t.add(w);
        }
        *self.baseline.lock() = t;
        *self.class_baseline.lock() = self.raw_class_totals();
        self.prefixes.clear();
        self.conns.total_connections.store(0, Ordering::Relaxed);
        self.conns.rejected_connections.store(0, Ordering::Relaxed);
    }

    /// Records a listener for `stats conns` (`id` orders the listing like memcached's fds).
    pub fn add_listener(&self, id: u64, addr: String) {
        self.listeners.lock().push((id, addr));
    }

    /// Records a UDP socket for `stats conns` (`addr` as `udp:127.0.0.1:11211`).
    pub fn add_udp(&self, id: u64, addr: String) {
        self.udp.lock().push((id, addr));
    }

    /// Whether UDP is served (`-U`): `stats` then prints the UDP counters.
    pub fn udp_enabled(&self) -> bool {
        !self.udp.lock().is_empty()
    }

    /// Records an open connection under `id` (its file descriptor).
    pub fn conn_opened(&self, id: u64, info: ConnInfo) {
        let mut open = self.open.lock();
        open.insert(id, info);
        let structures = (open.len() + self.listeners.lock().len()) as u64;
        self.conns
            .connection_structures
            .fetch_max(structures, Ordering::Relaxed);
    }

    /// Forgets a closed connection.
    pub fn conn_closed(&self, id: u64) {
        self.open.lock().remove(&id);
    }

    /// `stats conns` rows: `(id, name, value)` for listeners and connections, in id order.
    pub fn conn_rows(&self, now: u32) -> Vec<(u64, &'static str, String)> {
        let mut rows = Vec::new();
        for (id, addr) in self.listeners.lock().iter() {
            rows.push((*id, "addr", addr.clone()));
            rows.push((*id, "state", "conn_listening".to_string()));
            rows.push((*id, "secs_since_last_cmd", "0".to_string()));
        }
        // memcached lists each worker's UDP socket as a connection waiting to read.
        for (id, addr) in self.udp.lock().iter() {
            rows.push((*id, "UDP", "UDP".to_string()));
            rows.push((*id, "addr", addr.clone()));
            rows.push((*id, "state", "conn_read".to_string()));
            rows.push((*id, "secs_since_last_cmd", "0".to_string()));
        }
        for (id, c) in self.open.lock().iter() {
            let last = c.last_cmd.load(Ordering::Relaxed);
            rows.push((*id, "addr", c.addr.clone()));
            rows.push((*id, "listen_addr", c.listen_addr.clone()));
            rows.push((*id, "state", "conn_parse_cmd".to_string()));
            rows.push((
                *id,
                "secs_since_last_cmd",
                now.saturating_sub(last).to_string(),
            ));
        }
        rows.sort_by_key(|r| r.0);
        rows
    }
}

/// User and system CPU time of this process, in seconds (for `rusage_user`/`rusage_system`).
#[allow(unsafe_code)] // getrusage(2); the crate root denies unsafe elsewhere
pub fn rusage() -> (f64, f64) {
    let mut ru = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: `ru` points to writable memory the size of `rusage`, and getrusage only
    // writes that struct; zeroed memory is a valid `rusage` should the call fail.
    let ru = unsafe {
        libc::getrusage(libc::RUSAGE_SELF, ru.as_mut_ptr());
        ru.assume_init()
    };
    let secs = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    (secs(ru.ru_utime), secs(ru.ru_stime))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_sum_workers_and_reset_subtracts_a_baseline() {
        let r = Registry::new(3);
        r.worker(0).cmd_get.add(5);
        r.worker(2).cmd_get.add(7);
        r.worker(1).get_hits.incr();
        let t = r.totals();
        assert_eq!(t.cmd_get, 12);
        assert_eq!(t.get_hits, 1);
        r.reset();
        assert_eq!(r.totals(), Totals::default());
        r.worker(1).cmd_get.incr();
        assert_eq!(r.totals().cmd_get, 1);
    }

    #[test]
    fn conn_rows_list_listeners_then_connections_in_id_order() {
        let r = Registry::new(1);
        r.add_listener(3, "tcp:127.0.0.1:11211".into());
        let last = Arc::new(AtomicU32::new(10));
        r.conn_opened(
            7,
            ConnInfo {
                addr: "tcp:127.0.0.1:5000".into(),
                listen_addr: "tcp:127.0.0.1:11211".into(),
                last_cmd: last,
            },
        );
        let rows = r.conn_rows(12);
        assert_eq!(rows.len(), 7);
        assert_eq!(rows[0], (3, "addr", "tcp:127.0.0.1:11211".to_string()));
        assert_eq!(rows[6], (7, "secs_since_last_cmd", "2".to_string()));
        assert_eq!(r.conns.connection_structures.load(Ordering::Relaxed), 2);
        r.conn_closed(7);
        assert_eq!(r.conn_rows(12).len(), 3);
    }
}
