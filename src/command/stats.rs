//! The `stats` command and its groups: general, `settings`, `items`, `slabs`,
//! `sizes`, `conns`, `reset`; names and order as memcached 1.6 prints them, leaving
//! out fields that describe machinery larder does not have (see the README).
//!
//! Each group is produced as (name, value) pairs through an [`Emit`] callback, so the text
//! dialect (`STAT name value` lines) and the binary one (one Stat response per pair) share
//! the same rows.

use super::{Ctx, PROTOCOL_VERSION};
use crate::protocol::text::{self, Keys};
use std::fmt::Display;

/// Receives one stat row: its name and its value.
pub type Emit<'e> = dyn FnMut(&dyn Display, &dyn Display) + 'e;

/// The `stats` groups that list rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    /// `stats`.
    General,
    /// `stats settings`.
    Settings,
    /// `stats items`.
    Items,
    /// `stats slabs`.
    Slabs,
    /// `stats sizes`.
    Sizes,
    /// `stats conns`.
    Conns,
}

/// Emits every row of `group`.
pub fn rows(ctx: &Ctx<'_>, group: Group, emit: &mut Emit<'_>) {
    match group {
        Group::General => general(ctx, emit),
        Group::Settings => {
            for (name, value) in &ctx.settings.stats_settings {
                emit(name, value);
            }
        }
        Group::Items => items(ctx, emit),
        Group::Slabs => slabs(ctx, emit),
        Group::Sizes => {
            for (size, count) in ctx.store.size_histogram() {
                emit(&size, &count);
            }
        }
        Group::Conns => {
            for (id, name, value) in ctx.registry.conn_rows(ctx.store.clock().now()) {
                emit(&format_args!("{id}:{name}"), &value);
            }
        }
    }
}

/// Writes the reply to `stats [group]`.
pub fn write(ctx: &Ctx<'_>, mut args: Keys<'_>, out: &mut Vec<u8>) {
    let group = match (args.next(), args.next()) {
        (None, _) => Group::General,
        (Some(b"settings"), None) => Group::Settings,
        (Some(b"items"), None) => Group::Items,
        (Some(b"slabs"), None) => Group::Slabs,
        (Some(b"sizes"), None) => Group::Sizes,
        (Some(b"conns"), None) => Group::Conns,
        (Some(b"reset"), None) => {
            ctx.registry.reset();
            ctx.store.reset_stats();
            out.extend_from_slice(text::RESET);
            return;
        }
        _ => {
            out.extend_from_slice(b"ERROR\r\n");
            return;
        }
    };
    rows(ctx, group, &mut |name, value| {
        text::encode_stat(out, name, value)
    });
    out.extend_from_slice(text::END);
}

fn general(ctx: &Ctx<'_>, emit: &mut Emit<'_>) {
    use std::sync::atomic::Ordering::Relaxed;
    let clock = ctx.store.clock();
    let now = clock.now();
    let t = ctx.registry.totals();
    let s = ctx.store.stats();
    let c = &ctx.registry.conns;
    let (user, system) = crate::stats::rusage();
    emit(&"pid", &std::process::id());
    emit(&"uptime", &now.saturating_sub(2));
    emit(&"time", &clock.unix_time(now));
    emit(&"version", &PROTOCOL_VERSION);
    emit(&"pointer_size", &usize::BITS);
    emit(&"rusage_user", &format_args!("{user:.6}"));
    emit(&"rusage_system", &format_args!("{system:.6}"));
    emit(&"max_connections", &ctx.settings.max_connections);
    emit(&"curr_connections", &c.curr_connections.load(Relaxed));
    emit(&"total_connections", &c.total_connections.load(Relaxed));
    emit(
        &"rejected_connections",
        &c.rejected_connections.load(Relaxed),
    );
    emit(
        &"connection_structures",
        &c.connection_structures.load(Relaxed),
    );
    let counters: [(&str, u64); 24] = [
        ("cmd_get", t.cmd_get),
        ("cmd_set", t.cmd_set),
        ("cmd_flush", t.cmd_flush),
        ("cmd_touch", t.cmd_touch),
        ("cmd_meta", t.cmd_meta),
        ("get_hits", t.get_hits),
        ("get_misses", t.get_misses),
        ("get_expired", t.get_expired),
        ("get_flushed", t.get_flushed),
        ("delete_misses", t.delete_misses),
        ("delete_hits", t.delete_hits),
        ("incr_misses", t.incr_misses),
        ("incr_hits", t.incr_hits),
        ("decr_misses", t.decr_misses),
        ("decr_hits", t.decr_hits),
        ("cas_misses", t.cas_misses),
        ("cas_hits", t.cas_hits),
        ("cas_badval", t.cas_badval),
        ("touch_hits", t.touch_hits),
        ("touch_misses", t.touch_misses),
        ("store_too_large", t.store_too_large),
        ("store_no_memory", t.store_no_memory),
        ("auth_cmds", t.auth_cmds),
        ("auth_errors", t.auth_errors),
    ];
    for (name, v) in counters {
        emit(&name, &v);
    }
    if ctx.settings.idle_timeout > 0 {
        emit(&"idle_kicks", &t.idle_kicks);
    }
    emit(&"bytes_read", &t.bytes_read);
    emit(&"bytes_written", &t.bytes_written);
    emit(&"limit_maxbytes", &s.limit_maxbytes);
    emit(&"accepting_conns", &1);
    emit(&"listen_disabled_num", &0);
    emit(&"threads", &ctx.settings.threads);
    emit(&"conn_yields", &t.conn_yields);
    emit(&"slabs_moved", &s.slabs_moved);
    emit(&"bytes", &s.bytes);
    emit(&"curr_items", &s.curr_items);
    emit(&"total_items", &s.total_items);
    emit(&"expired_unfetched", &s.expired_unfetched);
    emit(&"evicted_unfetched", &s.evicted_unfetched);
    emit(&"evictions", &s.evictions);
    emit(&"reclaimed", &s.reclaimed);
    emit(&"crawler_reclaimed", &s.crawler_reclaimed);
    emit(&"total_malloced", &s.total_malloced);
    if let Some(snap) = &ctx.settings.snapshot {
        for (name, value) in snap.stats_rows() {
            emit(&name, &value);
        }
    }
    emit(&"larder_version", &env!("CARGO_PKG_VERSION"));
}

fn items(ctx: &Ctx<'_>, emit: &mut Emit<'_>) {
    for c in ctx.store.stats().classes.iter().filter(|c| c.items > 0) {
        let id = c.id;
        let rows: [(&str, u64); 13] = [
            ("number", c.items),
            ("number_hot", 0),
            ("number_warm", 0),
            ("number_cold", c.items),
            ("age", u64::from(c.age)),
            ("mem_requested", c.mem_requested),
            ("evicted", c.evicted),
            ("evicted_nonzero", c.evicted_nonzero),
            ("evicted_time", u64::from(c.evicted_time)),
            ("outofmemory", c.outofmemory),
            ("reclaimed", c.reclaimed),
            ("expired_unfetched", c.expired_unfetched),
            ("evicted_unfetched", c.evicted_unfetched),
        ];
        for (name, v) in rows {
            emit(&format_args!("items:{id}:{name}"), &v);
        }
        emit(
            &format_args!("items:{id}:crawler_reclaimed"),
            &c.crawler_reclaimed,
        );
    }
}

fn slabs(ctx: &Ctx<'_>, emit: &mut Emit<'_>) {
    let s = ctx.store.stats();
    let mut active = 0;
    for c in s.classes.iter().filter(|c| c.total_pages > 0) {
        active += 1;
        let id = c.id;
        let rows: [(&str, u64); 7] = [
            ("chunk_size", c.chunk_size as u64),
            ("chunks_per_page", c.chunks_per_page as u64),
            ("total_pages", c.total_pages),
            ("total_chunks", c.total_chunks),
            ("used_chunks", c.used_chunks),
            ("free_chunks", c.free_chunks),
            ("free_chunks_end", 0),
        ];
        for (name, v) in rows {
            emit(&format_args!("{id}:{name}"), &v);
        }
    }
    emit(&"active_slabs", &active);
    emit(&"total_malloced", &s.total_malloced);
}
