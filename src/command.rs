//! Executes parsed requests against the store and writes the replies: the one module
//! that knows both the protocol vocabulary and the store.
//!
//! Counting follows memcached: `cmd_get` per key looked up, `get_hits`/`get_misses`
//! (and `get_expired`/`get_flushed` for misses caused by expiry or a flush),
//! `cmd_set` per storage command, and the `*_hits`/`*_misses` pairs of each command.
//! Every counter is the calling worker's own (see `stats`).

use crate::protocol::meta::MAX_DECODED_KEY_LEN;
use crate::protocol::text as wire;
use crate::protocol::{Dialect, Limits, Parsed};
use crate::stats::classes::ClassCmd;
use crate::stats::{Registry, WorkerStats};
use crate::store::{Miss, PrefixDeleteError, Store};

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
    match wire::parse(input, &ctx.settings.limits) {
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
        Parsed::Complete(req, consumed) => match text::execute(&req, resume, ctx, out) {
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

/// `flush_prefix` (and `md <prefix> X`): the reply line.
pub(crate) fn flush_prefix(ctx: &Ctx<'_>, prefix: &[u8]) -> &'static [u8] {
    if !ctx.settings.flush_enabled {
        return wire::FLUSH_PREFIX_NOT_ALLOWED;
    }
    match ctx.store.flush_prefix(prefix) {
        Ok(()) => {
            ctx.stats.cmd_flush_prefix.incr();
            wire::OK
        }
        Err(PrefixDeleteError::NoCas) => wire::FLUSH_PREFIX_NEEDS_CAS,
        Err(PrefixDeleteError::TooMany) => wire::TOO_MANY_PREFIX_DELETES,
    }
}

/// The class an incr/decr result is counted in: the item holding `value` under `key`.
pub(crate) fn arith_class(ctx: &Ctx<'_>, key: &[u8], value: u64) -> u8 {
    let digits = value.checked_ilog10().map_or(1, |d| d as usize + 1);
    ctx.store.class_for(key.len(), digits)
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
#[cfg(test)]
pub(crate) mod tests;
pub mod text;

pub use output::{Output, MAX_IOVECS};
