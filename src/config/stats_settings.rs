//! The `stats settings` view of a configuration: memcached 1.6.18's names, formats and
//! order, from the values a `Config` holds.

use super::Config;

impl Config {
    /// The `stats settings` lines larder can answer from its configuration, with memcached
    /// 1.6's names, formats and relative order.
    ///
    /// Lines describing runtime state (`oldest`) or machinery larder does not have (the LRU
    /// crawler and maintainer, slab rebalancing, hash table tuning, extstore, TLS, watchers)
    /// are left out rather than invented; the server may insert runtime lines itself
    /// (memcached prints `oldest` right after `verbosity`). larder's own `slab_page_size`
    /// comes last.
    pub fn stats_settings(&self) -> Vec<(&'static str, String)> {
        let yes_no = |b: bool| if b { "yes" } else { "no" }.to_string();
        vec![
            ("maxbytes", self.memory_limit.to_string()),
            ("maxconns", self.max_connections.to_string()),
            ("tcpport", self.port.to_string()),
            ("udpport", self.udp_port.to_string()),
            ("inter", self.listen.join(",")),
            ("verbosity", self.verbosity.to_string()),
            (
                "evictions",
                if self.no_evict { "off" } else { "on" }.to_string(),
            ),
            (
                "domain_socket",
                self.unix_socket
                    .as_ref()
                    .map_or_else(|| "NULL".to_string(), |p| p.display().to_string()),
            ),
            ("umask", format!("{:o}", self.unix_mask)),
            ("shutdown_command", yes_no(self.shutdown_enabled)),
            ("growth_factor", format!("{:.2}", self.factor)),
            ("chunk_size", self.chunk_size_min.to_string()),
            ("num_threads", self.threads.to_string()),
            ("num_threads_per_udp", self.threads.to_string()),
            (
                "stat_key_prefix",
                char::from(self.prefix_delimiter).to_string(),
            ),
            ("detail_enabled", yes_no(self.detail_enabled)),
            ("reqs_per_event", self.reqs_per_event.to_string()),
            ("cas_enabled", yes_no(self.use_cas)),
            ("tcp_backlog", self.backlog.to_string()),
            ("binding_protocol", self.protocol.stats_name().to_string()),
            ("auth_enabled_sasl", yes_no(self.sasl)),
            ("auth_enabled_ascii", yes_no(self.auth_file.is_some())),
            ("item_size_max", self.item_size_max.to_string()),
            ("maxconns_fast", yes_no(self.maxconns_fast)),
            // The index is a growing hash table per stripe: no initial hash power.
            ("hashpower_init", "0".to_string()),
            // `slabs reassign` and `slabs automove` are accepted (memory is never tied to
            // a class, so there is nothing to move; see the README).
            ("slab_reassign", yes_no(true)),
            ("slab_automove", "1".to_string()),
            ("slab_automove_ratio", "0.80".to_string()),
            ("slab_automove_window", "30".to_string()),
            // Records up to a whole segment are stored in one piece; larger ones chain.
            ("slab_chunk_max", self.slab_page_size.to_string()),
            // The maintenance thread's crawl: always on, every 100 ms, no sleep between
            // items, 4096 records per stripe per round.
            ("lru_crawler", yes_no(true)),
            ("lru_crawler_sleep", "0".to_string()),
            ("lru_crawler_tocrawl", "4096".to_string()),
            ("tail_repair_time", "0".to_string()),
            ("flush_enabled", yes_no(self.flush_enabled)),
            ("dump_enabled", yes_no(!self.cachedump_disabled)),
            ("hash_algorithm", "ahash".to_string()),
            ("lru_maintainer_thread", yes_no(true)),
            // Two queues per stripe (small and main) for every policy but lfu; the small
            // queue's share of memory is the closest thing to memcached's HOT LRU.
            (
                "lru_segmented",
                yes_no(self.eviction.params().small_percent > 0),
            ),
            (
                "hot_lru_pct",
                self.eviction.params().small_percent.to_string(),
            ),
            ("warm_lru_pct", "0".to_string()),
            ("hot_max_factor", "0.00".to_string()),
            ("warm_max_factor", "0.00".to_string()),
            ("temp_lru", yes_no(false)),
            ("temporary_ttl", "0".to_string()),
            ("idle_timeout", self.idle_timeout.to_string()),
            ("watcher_logbuf_size", "0".to_string()),
            ("worker_logbuf_size", "0".to_string()),
            ("read_buf_mem_limit", "0".to_string()),
            // `stats sizes` is always answered (computed from the items held), so sizes
            // are always tracked.
            ("track_sizes", yes_no(true)),
            ("inline_ascii_response", yes_no(false)),
        ]
        .into_iter()
        // memcached prints its TLS rows here (after the extstore ones larder lacks).
        .chain(
            self.tls
                .enabled
                .then(|| self.tls.stats_settings())
                .into_iter()
                .flatten(),
        )
        .chain([
            ("num_napi_ids", "(null)".to_string()),
            ("memory_file", "(null)".to_string()),
            ("slab_page_size", self.slab_page_size.to_string()),
            ("eviction", self.eviction.name().to_string()),
            (
                "snapshot_file",
                self.snapshot_file
                    .as_ref()
                    .map_or_else(|| "NULL".to_string(), |p| p.display().to_string()),
            ),
            ("snapshot_interval", self.snapshot_interval.to_string()),
            ("output_held_limit", self.output_held_limit.to_string()),
            ("udp_allow_public", yes_no(self.udp_allow_public)),
            ("hotkeys", yes_no(self.hot_keys)),
        ])
        .collect()
    }
}
