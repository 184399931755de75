//! The `stats` command and its groups: general, `settings`, `items`, `slabs`,
//! `sizes`, `conns`, `reset`, `detail on|off|dump`, `cachedump <class> <limit>`; names and order as memcached 1.6 prints them, leaving
//! out fields that describe machinery larder does not have (see the README).
//!
//! Each group is produced as (name, value) pairs through an [`Emit`] callback, so the text
//! dialect (`STAT name value` lines) and the binary one (one Stat response per pair) share
//! the same rows.

use super::{Ctx, PROTOCOL_VERSION};
use crate::protocol::admin::{self, Detail};
use crate::protocol::line::{self, Words};
use crate::protocol::text;
use crate::stats::classes::NAMES;
use std::fmt::Display;
use std::sync::atomic::Ordering;

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
            let prefixes = &ctx.registry.prefixes;
            for (name, value) in &ctx.settings.stats_settings {
                // Settings changed at run time (`stats detail`, `slabs automove`,
                // `cache_memlimit`).
                match *name {
                    "maxbytes" => emit(name, &ctx.store.memory_limit()),
                    "detail_enabled" => emit(name, &if prefixes.enabled() { "yes" } else { "no" }),
                    "slab_automove" => {
                        emit(name, &ctx.registry.slab_automove.load(Ordering::Relaxed))
                    }
                    // As the `verbosity` command last set it; then the last flush_all's
                    // boundary, which memcached prints right after it.
                    "verbosity" => {
                        emit(name, &crate::command::verbosity());
                        emit(&"oldest", &ctx.store.oldest_live());
                    }
                    _ => emit(name, value),
                }
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
pub fn write(ctx: &Ctx<'_>, mut args: Words<'_>, out: &mut Vec<u8>) {
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
        (Some(b"hotkeys"), arg) => {
            hotkeys(ctx, arg, args.next().is_some(), out);
            return;
        }
        (Some(b"detail"), arg) => {
            detail(ctx, admin::detail(arg), out);
            return;
        }
        (Some(b"cachedump"), arg) => {
            let mut all: Vec<&[u8]> = arg.into_iter().collect();
            all.extend(args.next());
            if ctx.settings.dump_disabled {
                out.extend_from_slice(admin::CACHEDUMP_NOT_ALLOWED);
                return;
            }
            match admin::cachedump_args(&all) {
                Ok((class, limit)) => super::dump::cachedump(ctx, class, limit, out),
                Err(reply) => out.extend_from_slice(reply),
            }
            return;
        }
        _ => {
            crate::protocol::ErrorReply::Error.encode(out);
            return;
        }
    };
    rows(ctx, group, &mut |name, value| {
        text::encode_stat(out, name, value)
    });
    out.extend_from_slice(text::END);
}

/// `stats hotkeys [N]` (larder): the N (default 10, at most 64) most requested keys of
/// the last one to two minutes, hottest first, with approximate counts:
/// `STAT hot:<rank>:<key> <count>`, after the sampling rate and the interval.
fn hotkeys(ctx: &Ctx<'_>, arg: Option<&[u8]>, extra: bool, out: &mut Vec<u8>) {
    use crate::stats::hotkeys::{CAPACITY, INTERVAL_SECS, SAMPLE_EVERY};
    let n = match arg {
        None => 10,
        Some(a) => match line::parse_u32(a) {
            Some(n @ 1..) if !extra => (n as usize).min(CAPACITY),
            _ => {
                out.extend_from_slice(text::HOTKEYS_USAGE);
                return;
            }
        },
    };
    if !ctx.registry.hot_keys_enabled() {
        out.extend_from_slice(b"CLIENT_ERROR hot key tracking is off (-o no_hotkeys)\r\n");
        return;
    }
    text::encode_stat(&mut *out, "hotkeys_sample_every", SAMPLE_EVERY);
    text::encode_stat(&mut *out, "hotkeys_interval", INTERVAL_SECS);
    let now = ctx.store.clock().now();
    for (rank, (key, count)) in ctx.registry.hot_keys(n, now).iter().enumerate() {
        text::encode_stat(
            &mut *out,
            format_args!("hot:{}:{}", rank + 1, String::from_utf8_lossy(key)),
            count,
        );
    }
    out.extend_from_slice(text::END);
}

/// `stats detail on|off|dump` (text): `OK`, or the dump, or the usage error.
fn detail(ctx: &Ctx<'_>, what: Option<Detail>, out: &mut Vec<u8>) {
    let prefixes = &ctx.registry.prefixes;
    match what {
        Some(Detail::On) => {
            prefixes.set_enabled(true);
            out.extend_from_slice(text::OK);
        }
        Some(Detail::Off) => {
            prefixes.set_enabled(false);
            out.extend_from_slice(text::OK);
        }
        Some(Detail::Dump) => prefixes.dump(out),
        None => out.extend_from_slice(admin::DETAIL_USAGE),
    }
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
    // larder's own: prefix deletes done, and those whose items are not all reclaimed yet.
    emit(&"cmd_flush_prefix", &t.cmd_flush_prefix);
    emit(
        &"prefix_deletes_pending",
        &ctx.store.pending_prefix_deletes(),
    );
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
    emit(&"conn_output_paused", &t.conn_output_paused);
    emit(&"conn_output_held", &c.output_held.load(Relaxed));
    if ctx.registry.udp_enabled() {
        // larder's own (memcached counts nothing for UDP): datagrams received, dropped
        // for a malformed frame header, sent, and sends that failed.
        emit(&"udp_datagrams_read", &t.udp_datagrams_read);
        emit(&"udp_datagrams_dropped", &t.udp_datagrams_dropped);
        emit(&"udp_datagrams_written", &t.udp_datagrams_written);
        emit(&"udp_send_errors", &t.udp_send_errors);
    }
    emit(&"slabs_moved", &s.slabs_moved);
    emit(&"bytes", &s.bytes);
    emit(&"curr_items", &s.curr_items);
    emit(&"total_items", &s.total_items);
    emit(&"expired_unfetched", &s.expired_unfetched);
    emit(&"evicted_unfetched", &s.evicted_unfetched);
    emit(&"evictions", &s.evictions);
    emit(&"reclaimed", &s.reclaimed);
    emit(&"crawler_reclaimed", &s.crawler_reclaimed);
    // memcached's segmented-LRU and crawler counters, which the Prometheus memcached
    // exporter reads: larder has one LRU per class and no memcached-style crawler runs,
    // so they stay 0.
    for name in [
        "lru_crawler_starts",
        "crawler_items_checked",
        "moves_to_cold",
        "moves_to_warm",
        "moves_within_lru",
        "direct_reclaims",
    ] {
        emit(&name, &0);
    }
    emit(&"total_malloced", &s.total_malloced);
    if let Some(tls) = &ctx.settings.tls {
        // memcached 1.6.18's TLS rows (printed with -Z), in its order.
        if let Some(n) = tls.new_sessions() {
            emit(&"ssl_new_sessions", &n);
        }
        emit(&"ssl_handshake_errors", &t.ssl_handshake_errors);
        emit(&"time_since_server_cert_refresh", &tls.secs_since_refresh());
    }
    if let Some(snap) = &ctx.settings.snapshot {
        for (name, value) in snap.stats_rows() {
            emit(&name, &value);
        }
    }
    emit(&"larder_version", &env!("CARGO_PKG_VERSION"));
}

fn items(ctx: &Ctx<'_>, emit: &mut Emit<'_>) {
    let cmds = ctx.registry.class_totals();
    for c in ctx.store.stats().classes.iter().filter(|c| c.items > 0) {
        let id = c.id;
        // larder has one LRU per class, reported as COLD (memcached's names and order,
        // 1.6.18): the HOT/WARM rows, tail repairs, LRU moves and direct reclaims are 0,
        // and hits_to_cold is the class's get and touch hits (memcached counts fetches
        // that found the item by the LRU it was in).
        let [get_hits, .., touch_hits] = cmds.class(id);
        let rows: [(&str, u64); 28] = [
            ("number", c.items),
            ("number_hot", 0),
            ("number_warm", 0),
            ("number_cold", c.items),
            ("age_hot", 0),
            ("age_warm", 0),
            ("age", u64::from(c.age)),
            ("mem_requested", c.mem_requested),
            ("evicted", c.evicted),
            ("evicted_nonzero", c.evicted_nonzero),
            ("evicted_time", u64::from(c.evicted_time)),
            ("outofmemory", c.outofmemory),
            ("tailrepairs", 0),
            ("reclaimed", c.reclaimed),
            ("expired_unfetched", c.expired_unfetched),
            ("evicted_unfetched", c.evicted_unfetched),
            ("evicted_active", 0),
            ("crawler_reclaimed", c.crawler_reclaimed),
            ("crawler_items_checked", 0),
            ("lrutail_reflocked", 0),
            ("moves_to_cold", 0),
            ("moves_to_warm", 0),
            ("moves_within_lru", 0),
            ("direct_reclaims", 0),
            ("hits_to_hot", 0),
            ("hits_to_warm", 0),
            ("hits_to_cold", get_hits + touch_hits),
            ("hits_to_temp", 0),
        ];
        for (name, v) in rows {
            emit(&format_args!("items:{id}:{name}"), &v);
        }
    }
}

/// The classes `stats slabs` lists: those holding pages, and those whose items are gone
/// but whose command counters are not zero (memcached keeps a class's page, and so its
/// row, after its items are deleted), in id order.
pub(crate) fn listed_classes(
    ctx: &Ctx<'_>,
    s: &crate::store::StoreStats,
    cmds: &crate::stats::classes::ClassTotals,
) -> Vec<crate::store::ClassStats> {
    let sizes = ctx.store.class_sizes();
    let page = ctx.store.config().page_size;
    (1..sizes.len())
        .filter_map(|id| {
            let id = id as u8;
            let counted = cmds.class(id).iter().any(|&n| n > 0);
            match s.classes.iter().find(|c| c.id == id) {
                Some(c) if c.total_pages > 0 || counted => Some(c.clone()),
                None if counted => Some(crate::store::ClassStats {
                    id,
                    chunk_size: sizes[usize::from(id)],
                    chunks_per_page: page / sizes[usize::from(id)].max(1),
                    ..Default::default()
                }),
                _ => None,
            }
        })
        .collect()
}

fn slabs(ctx: &Ctx<'_>, emit: &mut Emit<'_>) {
    let s = ctx.store.stats();
    let cmds = ctx.registry.class_totals();
    let mut active = 0;
    for c in listed_classes(ctx, &s, &cmds) {
        let c = &c;
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
        for (name, v) in NAMES.iter().zip(cmds.class(id)) {
            emit(&format_args!("{id}:{name}"), &v);
        }
    }
    emit(&"active_slabs", &active);
    emit(&"total_malloced", &s.total_malloced);
}
