//! The `stats` command and its groups: general, `settings`, `items`, `slabs`,
//! `sizes`, `conns`, `reset`; names and order as memcached 1.6 prints them, leaving
//! out fields that describe machinery larder does not have (see the README).

use super::{Ctx, PROTOCOL_VERSION};
use crate::protocol::text::Keys;
use std::fmt::Display;
use std::io::Write;

fn stat(out: &mut Vec<u8>, name: impl Display, value: impl Display) {
    let _ = write!(out, "STAT {name} {value}\r\n");
}

/// Writes the reply to `stats [group]`.
pub fn write(ctx: &Ctx<'_>, mut args: Keys<'_>, out: &mut Vec<u8>) {
    match (args.next(), args.next()) {
        (None, _) => general(ctx, out),
        (Some(b"settings"), None) => {
            for (name, value) in &ctx.settings.stats_settings {
                stat(out, name, value);
            }
        }
        (Some(b"items"), None) => items(ctx, out),
        (Some(b"slabs"), None) => slabs(ctx, out),
        (Some(b"sizes"), None) => {
            for (size, count) in ctx.store.size_histogram() {
                stat(out, size, count);
            }
        }
        (Some(b"conns"), None) => {
            for (id, name, value) in ctx.registry.conn_rows(ctx.store.clock().now()) {
                stat(out, format_args!("{id}:{name}"), value);
            }
        }
        (Some(b"reset"), None) => {
            ctx.registry.reset();
            ctx.store.reset_stats();
            out.extend_from_slice(b"RESET\r\n");
            return;
        }
        _ => {
            out.extend_from_slice(b"ERROR\r\n");
            return;
        }
    }
    out.extend_from_slice(b"END\r\n");
}

fn general(ctx: &Ctx<'_>, out: &mut Vec<u8>) {
    use std::sync::atomic::Ordering::Relaxed;
    let clock = ctx.store.clock();
    let now = clock.now();
    let t = ctx.registry.totals();
    let s = ctx.store.stats();
    let c = &ctx.registry.conns;
    let (user, system) = crate::stats::rusage();
    stat(out, "pid", std::process::id());
    stat(out, "uptime", now.saturating_sub(2));
    stat(out, "time", clock.unix_time(now));
    stat(out, "version", PROTOCOL_VERSION);
    stat(out, "pointer_size", usize::BITS);
    stat(out, "rusage_user", format_args!("{user:.6}"));
    stat(out, "rusage_system", format_args!("{system:.6}"));
    stat(out, "max_connections", ctx.settings.max_connections);
    stat(out, "curr_connections", c.curr_connections.load(Relaxed));
    stat(out, "total_connections", c.total_connections.load(Relaxed));
    stat(
        out,
        "rejected_connections",
        c.rejected_connections.load(Relaxed),
    );
    stat(
        out,
        "connection_structures",
        c.connection_structures.load(Relaxed),
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
        stat(out, name, v);
    }
    if ctx.settings.idle_timeout > 0 {
        stat(out, "idle_kicks", t.idle_kicks);
    }
    stat(out, "bytes_read", t.bytes_read);
    stat(out, "bytes_written", t.bytes_written);
    stat(out, "limit_maxbytes", s.limit_maxbytes);
    stat(out, "accepting_conns", 1);
    stat(out, "listen_disabled_num", 0);
    stat(out, "threads", ctx.settings.threads);
    stat(out, "conn_yields", t.conn_yields);
    stat(out, "slabs_moved", s.slabs_moved);
    stat(out, "bytes", s.bytes);
    stat(out, "curr_items", s.curr_items);
    stat(out, "total_items", s.total_items);
    stat(out, "expired_unfetched", s.expired_unfetched);
    stat(out, "evicted_unfetched", s.evicted_unfetched);
    stat(out, "evictions", s.evictions);
    stat(out, "reclaimed", s.reclaimed);
    stat(out, "crawler_reclaimed", s.crawler_reclaimed);
    stat(out, "total_malloced", s.total_malloced);
    stat(out, "larder_version", env!("CARGO_PKG_VERSION"));
}

fn items(ctx: &Ctx<'_>, out: &mut Vec<u8>) {
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
            stat(out, format_args!("items:{id}:{name}"), v);
        }
        stat(
            out,
            format_args!("items:{id}:crawler_reclaimed"),
            c.crawler_reclaimed,
        );
    }
}

fn slabs(ctx: &Ctx<'_>, out: &mut Vec<u8>) {
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
            stat(out, format_args!("{id}:{name}"), v);
        }
    }
    stat(out, "active_slabs", active);
    stat(out, "total_malloced", s.total_malloced);
}
