//! Executes parsed requests against the store and writes the replies: the one module
//! that knows both the protocol vocabulary and the store.
//!
//! Counting follows memcached: `cmd_get` per key looked up, `get_hits`/`get_misses`
//! (and `get_expired`/`get_flushed` for misses caused by expiry or a flush),
//! `cmd_set` per storage command, and the `*_hits`/`*_misses` pairs of each command.
//! Every counter is the calling worker's own (see `stats`).

use crate::protocol::line::Words;
use crate::protocol::meta::MAX_DECODED_KEY_LEN;
use crate::protocol::text::{self, Request, StorageCommand};
use crate::protocol::{Dialect, Limits, Parsed};
use crate::stats::classes::ClassCmd;
use crate::stats::prefix::PrefixOp;
use crate::stats::{Registry, WorkerStats};
use crate::store::{
    ArithOutcome, Delta, ItemRef, Miss, PrefixDeleteError, SetMode, SetOutcome, Store, StoreError,
};

/// The version larder reports on the wire. It is the memcached release whose protocol
/// larder follows, so clients that enable features by version behave as they would
/// with that memcached; `stats` adds `larder_version` for humans.
pub const PROTOCOL_VERSION: &str = "1.6.18";

/// Settings the command layer reads, fixed at startup.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `-R`: requests handled per connection per event.
    pub reqs_per_event: usize,
    /// What the parsers enforce (`-I`: the largest item accepted).
    pub limits: Limits,
    /// `flush_all` allowed (not `-F`).
    pub flush_enabled: bool,
    /// `shutdown` allowed (`-A`).
    pub shutdown_enabled: bool,
    /// `-c`.
    pub max_connections: usize,
    /// `-t`.
    pub threads: usize,
    /// `-o idle_timeout` in seconds, 0 for none.
    pub idle_timeout: u32,
    /// Output bytes past which a multiget pauses until the client reads.
    pub output_limit: usize,
    /// `-o output_held_limit`: unsent output of all connections together past which a
    /// connection with output pending stops parsing (`server/conn.rs`).
    pub output_held_limit: usize,
    /// `-B ascii` / `-B binary` force a dialect; `None` sniffs the first byte.
    pub forced_dialect: Option<Dialect>,
    /// `-S` or `-Y`: connections must authenticate first.
    pub auth_required: bool,
    /// The users allowed in (`-Y` file, or with `-S` alone `MEMCACHED_SASL_PWDB`); `Some`
    /// exactly when `auth_required`. Text connections authenticate with memcached's ASCII
    /// scheme, binary ones with SASL PLAIN, both against these.
    pub credentials: Option<std::sync::Arc<auth::Credentials>>,
    /// `stats settings` rows, in memcached's order.
    pub stats_settings: Vec<(&'static str, String)>,
    /// `-X`: `stats cachedump` and `lru_crawler metadump` refused.
    pub dump_disabled: bool,
    /// `-o cluster_config`: the node list `config get cluster` answers (reloaded on
    /// SIGHUP).
    pub cluster: Option<std::sync::Arc<cluster::Cluster>>,
    /// The `-e` snapshot file's controls and counters (`snapshot`, `stats`); `None` without
    /// `-e`.
    pub snapshot: Option<std::sync::Arc<crate::snapshot::Snapshots>>,
    /// `-Z`: the TLS context (`refresh_certs`, the TLS `stats`); `None` without TLS.
    pub tls: Option<std::sync::Arc<crate::tls::TlsContext>>,
}

/// Everything a request may touch.
pub struct Ctx<'a> {
    /// The cache.
    pub store: &'a Store,
    /// The executing worker's counters.
    pub stats: &'a WorkerStats,
    /// All counters, for `stats`.
    pub registry: &'a Registry,
    /// Fixed settings.
    pub settings: &'a Settings,
}

/// What the connection does after a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Consume the request and go on.
    Continue,
    /// The reply filled the output buffer: keep the request, and when the client has
    /// read, execute it again skipping its first `n` keys (multigets only).
    Suspend(usize),
    /// Close the connection (`quit`).
    Close,
    /// Stop the server (`shutdown` with `-A`).
    Shutdown,
}

/// Per-connection state the command layer reads and writes (authentication).
#[derive(Debug, Default, Clone)]
pub struct Session {
    /// The connection has authenticated (SASL or ASCII auth); always true when the
    /// server requires no authentication.
    pub authenticated: bool,
}

/// The result of [`step`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stepped {
    /// The input holds no complete request yet: read more.
    NeedInput,
    /// One request (or one invalid one) was handled.
    Done {
        /// Bytes of the input it used (0 when the action is [`Action::Suspend`]).
        consumed: usize,
        /// Further bytes to discard as they arrive (a refused data block).
        swallow: usize,
        /// What the connection does next.
        action: Action,
    },
}

/// Parses the request at the front of `input` in the connection's dialect, executes
/// it and appends the reply to `out`: the whole protocol-to-store path for one request.
pub fn step(
    dialect: Dialect,
    input: &[u8],
    resume: usize,
    ctx: &Ctx<'_>,
    session: &mut Session,
    out: &mut Output,
) -> Stepped {
    match dialect {
        Dialect::Text => step_text(input, resume, ctx, session, out),
        Dialect::Binary => binary::step(input, ctx, session, out),
    }
}

fn step_text(
    input: &[u8],
    resume: usize,
    ctx: &Ctx<'_>,
    session: &mut Session,
    out: &mut Output,
) -> Stepped {
    if !session.authenticated {
        if let Some(creds) = ctx.settings.credentials.as_deref() {
            return step_ascii_auth(input, creds, ctx, session, out);
        }
    }
    match text::parse(input, &ctx.settings.limits) {
        Parsed::Incomplete => Stepped::NeedInput,
        Parsed::Invalid(err) => {
            if let Some(refused) = &err.too_large {
                let mut buf = [0; MAX_DECODED_KEY_LEN];
                let key = refused.key(input, &mut buf).unwrap_or_default();
                refuse_too_large(ctx, key, refused.unlink && !key.is_empty());
            }
            err.write_reply(out);
            Stepped::Done {
                consumed: err.consumed.min(input.len()),
                swallow: err.swallow,
                action: if err.close {
                    Action::Close
                } else {
                    Action::Continue
                },
            }
        }
        Parsed::Complete(req, consumed) => match execute(&req, resume, ctx, out) {
            Action::Suspend(n) => Stepped::Done {
                consumed: 0,
                swallow: 0,
                action: Action::Suspend(n),
            },
            action => Stepped::Done {
                consumed,
                swallow: 0,
                action,
            },
        },
    }
}

/// Before a text connection authenticates (`-Y`, or `-S` without `-B binary`), only
/// memcached's ASCII authentication `set` is read; every other command is refused.
fn step_ascii_auth(
    input: &[u8],
    creds: &auth::Credentials,
    ctx: &Ctx<'_>,
    session: &mut Session,
    out: &mut Vec<u8>,
) -> Stepped {
    match auth::ascii_step(input, creds) {
        auth::AsciiAuth::NeedInput => Stepped::NeedInput,
        auth::AsciiAuth::Close => Stepped::Done {
            consumed: input.len(),
            swallow: 0,
            action: Action::Close,
        },
        auth::AsciiAuth::Done {
            consumed,
            swallow,
            reply,
            attempt,
            authenticated,
        } => {
            if attempt {
                ctx.stats.auth_cmds.incr();
                if !authenticated {
                    ctx.stats.auth_errors.incr();
                }
            }
            session.authenticated |= authenticated;
            out.extend_from_slice(reply);
            Stepped::Done {
                consumed,
                swallow,
                action: Action::Continue,
            }
        }
    }
}

/// A storage command refused as too large before its data was read, in any dialect:
/// memcached counts it and, for `set` (text and binary) and `ms`, drops the stored value so
/// that a client does not go on reading stale data (process_update_command,
/// process_mset_command, process_bin_update).
pub(crate) fn refuse_too_large(ctx: &Ctx<'_>, key: &[u8], unlink: bool) {
    ctx.stats.store_too_large.incr();
    if unlink {
        ctx.store.delete(key);
    }
}

/// Executes one text request, appending its reply to `out`. `resume` is the number of
/// keys of a multiget already answered (0 for a fresh request).
pub fn execute(req: &Request<'_>, resume: usize, ctx: &Ctx<'_>, out: &mut Output) -> Action {
    let stats = ctx.stats;
    let clock = ctx.store.clock();
    match req {
        Request::Get {
            keys,
            with_cas,
            bad_key,
        } => retrieve(ctx, *keys, *with_cas, None, bad_key.as_ref(), resume, out),
        Request::Gat {
            exptime,
            keys,
            with_cas,
            bad_key,
        } => {
            let exp = clock.expiry(*exptime);
            retrieve(
                ctx,
                *keys,
                *with_cas,
                Some(exp),
                bad_key.as_ref(),
                resume,
                out,
            )
        }
        Request::Store {
            kind,
            key,
            flags,
            exptime,
            data,
            cas_unique,
            noreply,
        } => {
            stats.cmd_set.incr();
            let mode = match kind {
                StorageCommand::Set => SetMode::Set,
                StorageCommand::Add => SetMode::Add,
                StorageCommand::Replace => SetMode::Replace,
                StorageCommand::Append => SetMode::Append,
                StorageCommand::Prepend => SetMode::Prepend,
                StorageCommand::Cas => SetMode::Cas(*cas_unique),
            };
            let is_cas = matches!(kind, StorageCommand::Cas);
            let exp = clock.expiry(*exptime);
            let class = ctx.store.class_for(key.len(), data.len());
            stats.classes.incr(class, ClassCmd::Set);
            ctx.registry.prefixes.record(key, PrefixOp::Set);
            let reply: &[u8] = match ctx.store.store(mode, key, data, *flags, exp) {
                Ok(SetOutcome::Stored { .. }) => {
                    if is_cas {
                        stats.cas_hits.incr();
                        stats.classes.incr(class, ClassCmd::CasHit);
                    }
                    text::STORED
                }
                Ok(SetOutcome::NotStored) => text::NOT_STORED,
                Ok(SetOutcome::Exists) => {
                    stats.cas_badval.incr();
                    stats.classes.incr(class, ClassCmd::CasBadval);
                    text::EXISTS
                }
                Ok(SetOutcome::NotFound) => {
                    stats.cas_misses.incr();
                    text::NOT_FOUND
                }
                Err(e) => store_error(stats, e),
            };
            answer(out, *noreply, reply)
        }
        Request::Delete { key, noreply } => {
            ctx.registry.prefixes.record(key, PrefixOp::Delete);
            let removed = ctx.store.remove(key);
            if let Some(class) = removed {
                stats.classes.incr(class, ClassCmd::DeleteHit);
            }
            let reply = count_hit(
                removed.is_some(),
                (&stats.delete_hits, text::DELETED),
                (&stats.delete_misses, text::NOT_FOUND),
            );
            answer(out, *noreply, reply)
        }
        Request::Arith {
            key,
            incr,
            delta,
            noreply,
        } => {
            let d = if *incr {
                Delta::Incr(*delta)
            } else {
                Delta::Decr(*delta)
            };
            let (hits, misses) = if *incr {
                (&stats.incr_hits, &stats.incr_misses)
            } else {
                (&stats.decr_hits, &stats.decr_misses)
            };
            let reply: &[u8] = match ctx.store.arith(key, d) {
                Ok(ArithOutcome::Value { value, .. }) => {
                    hits.incr();
                    let cmd = if *incr {
                        ClassCmd::IncrHit
                    } else {
                        ClassCmd::DecrHit
                    };
                    stats.classes.incr(arith_class(ctx, key, value), cmd);
                    if !noreply {
                        text::encode_number(out, value);
                    }
                    return Action::Continue;
                }
                Ok(ArithOutcome::NotFound) => {
                    misses.incr();
                    text::NOT_FOUND
                }
                Ok(ArithOutcome::NonNumeric) => text::NON_NUMERIC,
                Err(StoreError::TooLarge) | Err(StoreError::OutOfMemory) => text::ARITH_NO_MEMORY,
            };
            answer(out, *noreply, reply)
        }
        Request::Touch {
            key,
            exptime,
            noreply,
        } => {
            stats.cmd_touch.incr();
            let touched = ctx.store.touch_item(key, clock.expiry(*exptime));
            if let Some(class) = touched {
                stats.classes.incr(class, ClassCmd::TouchHit);
            }
            let reply = count_hit(
                touched.is_some(),
                (&stats.touch_hits, text::TOUCHED),
                (&stats.touch_misses, text::NOT_FOUND),
            );
            answer(out, *noreply, reply)
        }
        Request::FlushAll { delay, noreply } => {
            let reply: &[u8] = if ctx.settings.flush_enabled {
                stats.cmd_flush.incr();
                let delay = if *delay > 0 {
                    clock.expiry(*delay).saturating_sub(clock.now())
                } else {
                    0
                };
                ctx.store.flush_all(delay);
                text::OK
            } else {
                text::FLUSH_NOT_ALLOWED
            };
            answer(out, *noreply, reply)
        }
        Request::FlushPrefix { prefix, noreply } => {
            let reply = flush_prefix(ctx, prefix);
            answer(out, *noreply, reply)
        }
        Request::Version => {
            text::encode_version(out, PROTOCOL_VERSION);
            Action::Continue
        }
        Request::RefreshCerts => {
            // memcached's replies, sent even with `noreply`: `OK`, or the error line.
            match ctx.settings.tls.as_ref().map(|t| t.refresh()) {
                Some(Ok(())) => out.extend_from_slice(text::OK),
                Some(Err(e)) => {
                    log::warn!("refresh_certs: {e}; keeping the previous certificate");
                    out.extend_from_slice(e.as_bytes());
                    out.extend_from_slice(b"\r\n");
                }
                None => out.extend_from_slice(b"Error TLS not enabled\r\n"),
            }
            Action::Continue
        }
        Request::Verbosity { level, noreply } => {
            set_verbosity(*level);
            if !noreply {
                out.extend_from_slice(text::OK);
            }
            Action::Continue
        }
        Request::Quit => Action::Close,
        Request::Shutdown { .. } => {
            if ctx.settings.shutdown_enabled {
                Action::Shutdown
            } else {
                out.extend_from_slice(text::SHUTDOWN_NOT_ENABLED);
                Action::Continue
            }
        }
        Request::Snapshot => {
            use crate::snapshot::Request as Asked;
            out.extend_from_slice(
                match ctx.settings.snapshot.as_deref().map(|s| s.request()) {
                    None => text::SNAPSHOT_NOT_ENABLED,
                    Some(Asked::Started) => text::OK,
                    Some(Asked::Busy) => text::SNAPSHOT_BUSY,
                },
            );
            Action::Continue
        }
        Request::CacheMemlimit { megabytes, noreply } => {
            let reply: &[u8] = if *megabytes < 8 {
                text::MEMLIMIT_TOO_SMALL
            } else {
                let bytes = megabytes.saturating_mul(1024 * 1024);
                ctx.store
                    .set_memory_limit(usize::try_from(bytes).unwrap_or(usize::MAX));
                text::OK
            };
            answer(out, *noreply, reply)
        }
        Request::Meta(m) => meta::execute(m, ctx, out),
        Request::Admin(a) => admin::execute(a, resume, ctx, out),
        Request::Stats { args } => {
            crate::command::stats::write(ctx, *args, out);
            Action::Continue
        }
    }
}

/// `get`, `gets`, `gat`, `gats`: one VALUE block per hit, in key order, then END.
fn retrieve(
    ctx: &Ctx<'_>,
    keys: Words<'_>,
    with_cas: bool,
    touch: Option<u32>,
    bad_key: Option<&crate::protocol::ErrorReply>,
    resume: usize,
    out: &mut Output,
) -> Action {
    let stats = ctx.stats;
    let limit = ctx.settings.output_limit;
    let start = out.mark();
    let mut keys = keys.enumerate().skip(resume).peekable();
    while let Some((i, key)) = keys.next() {
        stats.cmd_get.incr();
        stats.hot.lookup(key, || ctx.store.clock().now());
        let write = |item: &ItemRef<'_>| {
            text::encode_value(
                out,
                item.key(),
                item.flags(),
                item.value_len(),
                with_cas.then(|| item.cas()),
            );
            out.value(item);
            out.extend_from_slice(text::VALUE_END);
            item.class_id()
        };
        let found = match touch {
            None => ctx.store.get(key, write),
            Some(exp) => ctx.store.get_and_touch(key, exp, write),
        };
        ctx.registry
            .prefixes
            .record(key, PrefixOp::Get { hit: found.is_ok() });
        if touch.is_some() {
            stats.cmd_touch.incr();
        }
        count_lookup(stats, touch.is_some(), found);
        if out.size() >= limit && keys.peek().is_some() {
            return Action::Suspend(i + 1);
        }
    }
    match bad_key {
        Some(err) => {
            // memcached drops the values found before a bad key and sends only the error.
            out.truncate(start);
            err.encode(out);
        }
        None => out.extend_from_slice(text::END),
    }
    Action::Continue
}

/// `flush_prefix` (and `md <prefix> X`): the reply line.
pub(crate) fn flush_prefix(ctx: &Ctx<'_>, prefix: &[u8]) -> &'static [u8] {
    if !ctx.settings.flush_enabled {
        return text::FLUSH_PREFIX_NOT_ALLOWED;
    }
    match ctx.store.flush_prefix(prefix) {
        Ok(()) => {
            ctx.stats.cmd_flush_prefix.incr();
            text::OK
        }
        Err(PrefixDeleteError::NoCas) => text::FLUSH_PREFIX_NEEDS_CAS,
        Err(PrefixDeleteError::TooMany) => text::TOO_MANY_PREFIX_DELETES,
    }
}

/// The class an incr/decr result is counted in: the item holding `value` under `key`.
pub(crate) fn arith_class(ctx: &Ctx<'_>, key: &[u8], value: u64) -> u8 {
    let digits = value.checked_ilog10().map_or(1, |d| d as usize + 1);
    ctx.store.class_for(key.len(), digits)
}

/// Appends `reply` unless the command carried `noreply`.
fn answer(out: &mut Vec<u8>, noreply: bool, reply: &[u8]) -> Action {
    if !noreply {
        out.extend_from_slice(reply);
    }
    Action::Continue
}

/// Counts a retrieval as memcached does, in every dialect: a hit in `get_hits` (or
/// `touch_hits` when the request also touched the item) and in its class's counters; a miss
/// in `get_misses` (`touch_misses`) and, if an item was there but expired or flushed, in
/// `get_expired` / `get_flushed`. (`cmd_get` / `cmd_touch` are the caller's: dialects count
/// them at different points.)
pub(crate) fn count_lookup(stats: &WorkerStats, touched: bool, found: Result<u8, Miss>) {
    match found {
        Ok(class) if touched => {
            stats.touch_hits.incr();
            stats.classes.incr(class, ClassCmd::TouchHit);
        }
        Ok(class) => {
            stats.get_hits.incr();
            stats.classes.incr(class, ClassCmd::GetHit);
        }
        Err(miss) => {
            if touched {
                stats.touch_misses.incr();
            } else {
                stats.get_misses.incr();
            }
            count_miss_reason(stats, miss);
        }
    }
}

/// Counts why a lookup missed when an item was there (memcached's `do_item_get`).
pub(crate) fn count_miss_reason(stats: &WorkerStats, miss: Miss) {
    match miss {
        Miss::Expired => stats.get_expired.incr(),
        Miss::Flushed => stats.get_flushed.incr(),
        Miss::Absent => {}
    }
}

/// Counts a hit or a miss and picks the matching reply.
fn count_hit(
    hit: bool,
    on_hit: (&crate::stats::Counter, &'static [u8]),
    on_miss: (&crate::stats::Counter, &'static [u8]),
) -> &'static [u8] {
    let (counter, reply) = if hit { on_hit } else { on_miss };
    counter.incr();
    reply
}

fn store_error(stats: &WorkerStats, e: StoreError) -> &'static [u8] {
    match e {
        StoreError::TooLarge => {
            stats.store_too_large.incr();
            text::OBJECT_TOO_LARGE
        }
        StoreError::OutOfMemory => {
            stats.store_no_memory.incr();
            text::OUT_OF_MEMORY_STORING
        }
    }
}

/// `verbosity N`: memcached's levels mapped onto log levels (0 warn, 1 info, 2 debug,
/// 3+ trace).
pub fn set_verbosity(level: u32) {
    log::set_max_level(match level {
        0 => log::LevelFilter::Warn,
        1 => log::LevelFilter::Info,
        2 => log::LevelFilter::Debug,
        _ => log::LevelFilter::Trace,
    });
}

/// The verbosity level in force (the inverse of [`set_verbosity`]; `-v` counts set it at
/// startup the same way).
pub fn verbosity() -> u32 {
    match log::max_level() {
        log::LevelFilter::Off | log::LevelFilter::Error | log::LevelFilter::Warn => 0,
        log::LevelFilter::Info => 1,
        log::LevelFilter::Debug => 2,
        log::LevelFilter::Trace => 3,
    }
}

pub mod admin;
pub mod auth;
pub mod binary;
pub mod cluster;
pub mod dump;
pub mod meta;
pub mod metrics;
mod output;
pub mod stats;

pub use output::{Output, MAX_IOVECS};
