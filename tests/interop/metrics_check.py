"""Scrapes larder's /metrics under load and parses it with prometheus_client's text
parser (the reference implementation of the format).

Usage: python3 metrics_check.py HOST PORT METRICS_PORT
"""
import sys
import threading
import urllib.request

from prometheus_client.parser import text_string_to_metric_families
from pymemcache.client.base import Client

host, port, mport = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
stop = threading.Event()


def load():
    c = Client((host, port), connect_timeout=5, timeout=5)
    i = 0
    while not stop.is_set():
        c.set(f"k{i % 500}", b"v" * (i % 300))
        c.get(f"k{(i * 7) % 600}")
        c.incr("n", 1) if i % 10 else c.set("n", b"0")
        c.delete(f"k{(i * 3) % 700}")
        i += 1


threads = [threading.Thread(target=load) for _ in range(3)]
for t in threads:
    t.start()
try:
    for _ in range(5):
        body = urllib.request.urlopen(f"http://{host}:{mport}/metrics", timeout=5).read().decode()
        families = {f.name: f for f in text_string_to_metric_families(body)}
finally:
    stop.set()
    for t in threads:
        t.join()

# The memcached exporter's families (names as prometheus_client reports them: counters
# without _total).
want = [
    "memcached_up", "memcached_uptime_seconds", "memcached_time_seconds", "memcached_version",
    "memcached_commands", "memcached_process_user_cpu_seconds",
    "memcached_process_system_cpu_seconds", "memcached_current_bytes", "memcached_limit_bytes",
    "memcached_current_items", "memcached_items", "memcached_read_bytes",
    "memcached_written_bytes", "memcached_items_evicted", "memcached_items_reclaimed",
    "memcached_current_connections", "memcached_max_connections", "memcached_connections",
    "memcached_connections_rejected", "memcached_connections_yielded",
    "memcached_connections_listener_disabled", "memcached_malloced_bytes",
    "memcached_slab_chunk_size_bytes", "memcached_slab_chunks_per_page",
    "memcached_slab_current_pages", "memcached_slab_current_chunks", "memcached_slab_chunks_used",
    "memcached_slab_chunks_free", "memcached_slab_chunks_free_end",
    "memcached_slab_current_items", "memcached_slab_items_age_seconds",
    "memcached_slab_mem_requested_bytes", "memcached_slab_items_evicted",
    "memcached_slab_items_outofmemory", "memcached_slab_items_reclaimed",
    "memcached_slab_commands", "larder_hit_ratio", "larder_items_removed",
]
missing = [n for n in want if n not in families]
assert not missing, missing
for name in want:
    assert families[name].samples, f"{name} has no samples"
up = families["memcached_up"].samples[0].value
assert up == 1, up
cmds = {(s.labels["command"], s.labels["status"]): s.value for s in families["memcached_commands"].samples}
assert cmds[("get", "hit")] > 0 and cmds[("set", "hit")] > 0 and cmds[("delete", "hit")] > 0, cmds
slab_cmds = families["memcached_slab_commands"].samples
assert any(s.labels["command"] == "get" and s.value > 0 for s in slab_cmds), slab_cmds
ratio = families["larder_hit_ratio"].samples[0].value
assert 0 < ratio < 1, ratio
print("ok", len(families), "families")
