//! `/metrics`: the server's counters in the Prometheus text format, under the metric
//! names of the Prometheus memcached exporter (prometheus/memcached_exporter), so that its
//! dashboards and alerts work unchanged, plus larder's own (`larder_*`).
//!
//! Everything comes from the same sources as `stats`, `stats slabs` and `stats items`.

use super::stats::{rows, Group};
use super::Ctx;
use crate::protocol::prometheus::{Exposition, Kind};
use crate::stats::classes::NAMES;
use std::collections::HashMap;

/// Renders every metric family.
pub fn render(ctx: &Ctx<'_>) -> Vec<u8> {
    let mut general: HashMap<String, String> = HashMap::new();
    rows(ctx, Group::General, &mut |n, v| {
        general.insert(n.to_string(), v.to_string());
    });
    let g = |name: &str| general.get(name).cloned().unwrap_or_else(|| "0".into());
    let mut e = Exposition::default();
    e.single(
        "memcached_up",
        Kind::Gauge,
        "Could the memcached server be reached.",
        1,
    );
    e.single(
        "memcached_uptime_seconds",
        Kind::Counter,
        "Number of seconds since the server started.",
        g("uptime"),
    );
    e.single(
        "memcached_time_seconds",
        Kind::Gauge,
        "current UNIX time according to the server.",
        g("time"),
    );
    e.family(
        "memcached_version",
        Kind::Gauge,
        "The version of this memcached server.",
    );
    e.sample("memcached_version", &[("version", &g("version"))], 1);

    e.family(
        "memcached_commands_total",
        Kind::Counter,
        "Total number of all requests broken down by command (get, set, etc.) and status.",
    );
    let commands: [(&str, &str, &str); 15] = [
        ("get", "hit", "get_hits"),
        ("get", "miss", "get_misses"),
        ("set", "hit", "cmd_set"),
        ("flush", "hit", "cmd_flush"),
        ("touch", "hit", "touch_hits"),
        ("touch", "miss", "touch_misses"),
        ("cas", "hit", "cas_hits"),
        ("cas", "miss", "cas_misses"),
        ("cas", "badval", "cas_badval"),
        ("incr", "hit", "incr_hits"),
        ("incr", "miss", "incr_misses"),
        ("decr", "hit", "decr_hits"),
        ("decr", "miss", "decr_misses"),
        ("delete", "hit", "delete_hits"),
        ("delete", "miss", "delete_misses"),
    ];
    for (command, status, stat) in commands {
        e.sample(
            "memcached_commands_total",
            &[("command", &command), ("status", &status)],
            g(stat),
        );
    }
    let simple: [(&str, Kind, &str, &str); 22] = [
        ("memcached_process_user_cpu_seconds_total", Kind::Counter, "Accumulated user time for this process.", "rusage_user"),
        ("memcached_process_system_cpu_seconds_total", Kind::Counter, "Accumulated system time for this process.", "rusage_system"),
        ("memcached_current_bytes", Kind::Gauge, "Current number of bytes used to store items.", "bytes"),
        ("memcached_limit_bytes", Kind::Gauge, "Number of bytes this server is allowed to use for storage.", "limit_maxbytes"),
        ("memcached_current_items", Kind::Gauge, "Current number of items stored by this instance.", "curr_items"),
        ("memcached_items_total", Kind::Counter, "Total number of items stored during the life of this instance.", "total_items"),
        ("memcached_read_bytes_total", Kind::Counter, "Total number of bytes read by this server from network.", "bytes_read"),
        ("memcached_written_bytes_total", Kind::Counter, "Total number of bytes sent by this server to network.", "bytes_written"),
        ("memcached_items_evicted_total", Kind::Counter, "Total number of valid items removed from cache to free memory for new items.", "evictions"),
        ("memcached_items_reclaimed_total", Kind::Counter, "Total number of times an entry was stored using memory from an expired entry.", "reclaimed"),
        ("memcached_items_expired_unfetched_total", Kind::Counter, "Total number of items expired before being fetched.", "expired_unfetched"),
        ("memcached_items_evicted_unfetched_total", Kind::Counter, "Total number of items evicted before being fetched.", "evicted_unfetched"),
        ("memcached_current_connections", Kind::Gauge, "Current number of open connections.", "curr_connections"),
        ("memcached_max_connections", Kind::Gauge, "Maximum number of clients allowed.", "max_connections"),
        ("memcached_connections_total", Kind::Counter, "Total number of connections opened since the server started running.", "total_connections"),
        ("memcached_connections_rejected_total", Kind::Counter, "Total number of connections rejected due to hitting the memcached's -c limit in maxconns_fast mode.", "rejected_connections"),
        ("memcached_connections_yielded_total", Kind::Counter, "Total number of connections yielded running due to hitting the memcached's -R limit.", "conn_yields"),
        ("memcached_connections_listener_disabled_total", Kind::Counter, "Number of times that memcached has hit its connections limit and disabled its listener.", "listen_disabled_num"),
        ("memcached_malloced_bytes", Kind::Gauge, "Number of bytes of memory allocated to slab pages.", "total_malloced"),
        ("memcached_slabs_moved_total", Kind::Counter, "Total number of slab pages moved.", "slabs_moved"),
        ("memcached_lru_crawler_reclaimed_total", Kind::Counter, "Total items freed by LRU Crawler.", "crawler_reclaimed"),
        ("memcached_get_expired_total", Kind::Counter, "Number of items that have been requested but had already expired.", "get_expired"),
    ];
    for (name, kind, help, stat) in simple {
        e.single(name, kind, help, g(stat));
    }
    e.single(
        "memcached_get_flushed_total",
        Kind::Counter,
        "Number of items that have been requested but have been flushed via flush_all.",
        g("get_flushed"),
    );
    e.single(
        "memcached_lru_crawler_enabled",
        Kind::Gauge,
        "Whether the LRU crawler is enabled.",
        1,
    );
    e.single(
        "memcached_accepting_connections",
        Kind::Gauge,
        "The server is currently accepting new connections.",
        g("accepting_conns"),
    );
    per_class(ctx, &mut e);
    larder_own(ctx, &g, &mut e);
    e.out
}

fn per_class(ctx: &Ctx<'_>, e: &mut Exposition) {
    let s = ctx.store.stats();
    let cmds = ctx.registry.class_totals();
    let listed = super::stats::listed_classes(ctx, &s, &cmds);
    let classes: Vec<_> = listed.iter().collect();
    type Field = fn(&crate::store::ClassStats) -> u64;
    let slab: [(&str, Kind, &str, Field); 7] = [
        (
            "memcached_slab_chunk_size_bytes",
            Kind::Gauge,
            "Number of bytes allocated to each chunk within this slab class.",
            |c| c.chunk_size as u64,
        ),
        (
            "memcached_slab_chunks_per_page",
            Kind::Gauge,
            "Number of chunks within a single page for this slab class.",
            |c| c.chunks_per_page as u64,
        ),
        (
            "memcached_slab_current_pages",
            Kind::Gauge,
            "Number of pages allocated to this slab class.",
            |c| c.total_pages,
        ),
        (
            "memcached_slab_current_chunks",
            Kind::Gauge,
            "Number of chunks allocated to this slab class.",
            |c| c.total_chunks,
        ),
        (
            "memcached_slab_chunks_used",
            Kind::Gauge,
            "Number of chunks allocated to an item.",
            |c| c.used_chunks,
        ),
        (
            "memcached_slab_chunks_free",
            Kind::Gauge,
            "Number of chunks not yet allocated items.",
            |c| c.free_chunks,
        ),
        (
            "memcached_slab_chunks_free_end",
            Kind::Gauge,
            "Number of free chunks at the end of the last allocated page.",
            |_| 0,
        ),
    ];
    let items: [(&str, Kind, &str, Field); 11] = [
        ("memcached_slab_current_items", Kind::Gauge, "Number of items currently stored in this slab class.", |c| c.items),
        ("memcached_slab_items_age_seconds", Kind::Gauge, "Number of seconds the oldest item has been in the slab class.", |c| u64::from(c.age)),
        ("memcached_slab_mem_requested_bytes", Kind::Gauge, "Number of bytes of memory actual items take up within a slab.", |c| c.mem_requested),
        ("memcached_slab_items_evicted_total", Kind::Counter, "Total number of times an item had to be evicted from the LRU before it expired.", |c| c.evicted),
        ("memcached_slab_items_evicted_nonzero_total", Kind::Counter, "Total number of times an item which had an explicit expire time set had to be evicted from the LRU before it expired.", |c| c.evicted_nonzero),
        ("memcached_slab_items_evicted_time_seconds", Kind::Counter, "Seconds since the last access for the most recent item evicted from this class.", |c| u64::from(c.evicted_time)),
        ("memcached_slab_items_outofmemory_total", Kind::Counter, "Total number of items for this slab class that have triggered an out of memory error.", |c| c.outofmemory),
        ("memcached_slab_items_reclaimed_total", Kind::Counter, "Total number of items reclaimed.", |c| c.reclaimed),
        ("memcached_slab_items_expired_unfetched_total", Kind::Counter, "Total number of items that expired and never got fetched.", |c| c.expired_unfetched),
        ("memcached_slab_items_evicted_unfetched_total", Kind::Counter, "Total number of items evicted and never fetched.", |c| c.evicted_unfetched),
        ("memcached_slab_items_crawler_reclaimed_total", Kind::Counter, "Total number of items freed by the LRU Crawler.", |c| c.crawler_reclaimed),
    ];
    for (name, kind, help, f) in slab.iter().chain(items.iter()) {
        e.family(name, *kind, help);
        for c in &classes {
            e.sample(name, &[("slab", &c.id)], f(c));
        }
    }
    for (name, help) in [
        (
            "memcached_slab_hot_items",
            "Number of items presently stored in the HOT LRU.",
        ),
        (
            "memcached_slab_warm_items",
            "Number of items presently stored in the WARM LRU.",
        ),
    ] {
        e.family(name, Kind::Gauge, help);
        for c in &classes {
            e.sample(name, &[("slab", &c.id)], 0);
        }
    }
    e.family(
        "memcached_slab_cold_items",
        Kind::Gauge,
        "Number of items presently stored in the COLD LRU.",
    );
    for c in &classes {
        e.sample("memcached_slab_cold_items", &[("slab", &c.id)], c.items);
    }
    e.family(
        "memcached_slab_commands_total",
        Kind::Counter,
        "Total number of all requests broken down by command (get, set, etc.) and status per slab.",
    );
    // (command, status) for each per-class counter, in NAMES order.
    let labels = [
        ("get", "hit"),
        ("set", "hit"),
        ("delete", "hit"),
        ("incr", "hit"),
        ("decr", "hit"),
        ("cas", "hit"),
        ("cas", "badval"),
        ("touch", "hit"),
    ];
    debug_assert_eq!(labels.len(), NAMES.len());
    for c in &classes {
        for ((command, status), v) in labels.iter().zip(cmds.class(c.id)) {
            e.sample(
                "memcached_slab_commands_total",
                &[("slab", &c.id), ("command", command), ("status", status)],
                v,
            );
        }
    }
}

fn larder_own(ctx: &Ctx<'_>, g: &dyn Fn(&str) -> String, e: &mut Exposition) {
    let num = |n: &str| g(n).parse::<f64>().unwrap_or(0.0);
    let lookups = num("get_hits") + num("get_misses");
    let ratio = if lookups > 0.0 {
        num("get_hits") / lookups
    } else {
        0.0
    };
    e.single(
        "larder_hit_ratio",
        Kind::Gauge,
        "get_hits / (get_hits + get_misses) since start or stats reset.",
        ratio,
    );
    e.family(
        "larder_items_removed_total",
        Kind::Counter,
        "Items that left the cache other than by delete or overwrite, by reason.",
    );
    for (reason, stat) in [
        ("evicted", "evictions"),
        ("reclaimed", "reclaimed"),
        ("crawled", "crawler_reclaimed"),
    ] {
        e.sample(
            "larder_items_removed_total",
            &[("reason", &reason)],
            g(stat),
        );
    }
    let s = ctx.store.stats();
    e.family(
        "larder_class_requested_bytes",
        Kind::Gauge,
        "Bytes of the items held, per reporting class.",
    );
    for c in s.classes.iter().filter(|c| c.items > 0) {
        e.sample(
            "larder_class_requested_bytes",
            &[("class", &c.id)],
            c.mem_requested,
        );
    }
    e.single(
        "larder_prefix_deletes_pending",
        Kind::Gauge,
        "flush_prefix tombstones whose items are not all reclaimed yet.",
        ctx.store.pending_prefix_deletes(),
    );
    e.family(
        "larder_hot_key_requests",
        Kind::Gauge,
        "Approximate requests of the 10 hottest keys over the last one to two minutes (sampled).",
    );
    let hot = ctx.registry.hot_keys(10, ctx.store.clock().now());
    for (rank, (key, count)) in hot.iter().enumerate() {
        let key = String::from_utf8_lossy(key);
        e.sample(
            "larder_hot_key_requests",
            &[("rank", &(rank + 1)), ("key", &key)],
            count,
        );
    }
    e.single(
        "larder_flush_prefix_total",
        Kind::Counter,
        "flush_prefix commands executed.",
        g("cmd_flush_prefix"),
    );
}
