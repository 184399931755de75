//! Text protocol commands (memcached's proto_text.c): executes a parsed text request against
//! the store and appends memcached's reply. Meta commands (`command/meta.rs`) and operator
//! commands (`command/admin.rs`) are text lines too, dispatched from here.

use super::{
    admin, arith_class, count_lookup, flush_prefix, meta, set_verbosity, Action, Ctx, Output,
    PROTOCOL_VERSION,
};
use crate::protocol::line::Words;
use crate::protocol::text::{self, Request, StorageCommand};
use crate::stats::classes::ClassCmd;
use crate::stats::prefix::PrefixOp;
use crate::stats::WorkerStats;
use crate::store::{ArithOutcome, Delta, ItemRef, SetMode, SetOutcome, StoreError};

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

/// Appends `reply` unless the command carried `noreply`.
fn answer(out: &mut Vec<u8>, noreply: bool, reply: &[u8]) -> Action {
    if !noreply {
        out.extend_from_slice(reply);
    }
    Action::Continue
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

pub(crate) fn store_error(stats: &WorkerStats, e: StoreError) -> &'static [u8] {
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
