"""Interop check: PyPI's meta-memcache (a client that speaks only the meta protocol)
against a server at HOST PORT. Run by tests/interop.rs; exits non-zero on the first
mismatch. Two independent clients (separate connection pools) play the racing readers of
the stale-while-revalidate and recache cycles.

Usage: python3 meta_memcache_check.py HOST PORT
"""

import sys

from meta_memcache import (
    CacheClient,
    LeasePolicy,
    RecachePolicy,
    ServerAddress,
    SetMode,
    StalePolicy,
    connection_pool_factory_builder,
)


def client(host, port):
    return CacheClient.cache_client_from_servers(
        servers=[ServerAddress(host=host, port=port)],
        connection_pool_factory_fn=connection_pool_factory_builder(),
    )


def check(label, got, want):
    if got != want:
        raise SystemExit(f"{label}: got {got!r}, want {want!r}")


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    a, b = client(host, port), client(host, port)

    # get / set / delete / touch.
    check("miss", a.get("k"), None)
    check("set", a.set("k", "v1", ttl=300), True)
    check("get", b.get("k"), "v1")
    check("set bytes", a.set("bin", b"\x00\x01\xff", ttl=0), True)
    check("get bytes", b.get("bin"), b"\x00\x01\xff")
    check("set int", a.set("n", 42, ttl=0), True)
    check("get int", b.get("n"), 42)
    check("touch", a.touch("k", ttl=100), True)
    check("touch miss", a.touch("nope", ttl=100), False)
    check("delete", a.delete("k"), True)
    check("delete miss", a.delete("k"), False)
    check("invalidate miss", a.invalidate("k"), True)
    check("get deleted", b.get("k"), None)

    # add / replace / append / prepend modes.
    check("add", a.set("m", "x", ttl=0, set_mode=SetMode.ADD), True)
    check("add again", a.set("m", "y", ttl=0, set_mode=SetMode.ADD), False)
    check("refill present", a.refill("m", "z", ttl=0), False)
    check("replace", a.set("m", "r", ttl=0, set_mode=SetMode.REPLACE), True)
    check("replace miss", a.set("none", "r", ttl=0, set_mode=SetMode.REPLACE), False)

    # CAS.
    value, cas = a.get_cas("m")
    check("get_cas value", value, "r")
    check("cas write", b.set("m", "c1", ttl=0, cas_token=cas), True)
    check("stale cas write", a.set("m", "c2", ttl=0, cas_token=cas), False)
    new_cas = b.set_cas("m", "c3", ttl=0)
    check("set_cas returns the cas", b.get_cas("m"), ("c3", new_cas))
    check("delete with bad cas", a.delete("m", cas_token=new_cas + 1), False)
    check("delete with cas", a.delete("m", cas_token=new_cas), True)

    # Counters (ma).
    check("delta miss", a.delta("ctr", 1), False)
    check("delta_initialize_and_get", a.delta_initialize_and_get("ctr", 5, 10, initial_ttl=0), 10)
    check("delta_and_get", b.delta_and_get("ctr", 5), 15)
    check("delta", a.delta("ctr", -3), True)
    check("counter read", b.delta_and_get("ctr", 0), 12)
    check("delta_initialize", a.delta_initialize("ctr2", 1, 7, initial_ttl=0), True)
    check("delta_initialize again", a.delta_initialize("ctr2", 1, 7, initial_ttl=0), True)
    check("counter 2", a.delta_and_get("ctr2", 0), 8)

    # Stale-while-revalidate: a delete marks the item stale; the first reader wins the
    # recache (and gets a miss, so it recomputes); the others keep reading the stale value
    # until the winner writes the fresh one.
    stale = StalePolicy(mark_stale_on_deletion_ttl=30)
    check("swr set", a.set("swr", "old", ttl=300), True)
    check("swr invalidate", a.delete("swr", stale_policy=stale), True)
    check("swr winner misses", a.get("swr"), None)
    check("swr loser reads stale", b.get("swr"), "old")
    check("swr loser again", b.get("swr"), "old")
    check("swr winner refills", a.set("swr", "new", ttl=300), True)
    check("swr fresh", b.get("swr"), "new")
    check("swr fresh again", a.get("swr"), "new")

    # Stale CAS write: a write with an outdated CAS stores the value as stale.
    check("cs set", a.set("cs", "v1", ttl=300), True)
    _, cas1 = a.get_cas("cs")
    check("cs second write", b.set("cs", "v2", ttl=300), True)
    stale_cas = StalePolicy(mark_stale_on_cas_mismatch=True)
    check(
        "cs outdated write kept as stale",
        a.set("cs", "v3", ttl=300, cas_token=cas1, stale_policy=stale_cas),
        True,
    )
    check("cs first reader wins", b.get("cs"), None)
    check("cs others read stale", a.get("cs"), "v3")

    # Recache: when the TTL left is below the policy's, one reader wins and misses.
    recache = RecachePolicy(ttl=60)
    check("recache set", a.set("rc", "val", ttl=30), True)
    check("recache winner", a.get("rc", recache_policy=recache), None)
    check("recache loser", b.get("rc", recache_policy=recache), "val")
    check("recache refill", a.set("rc", "val2", ttl=300), True)
    check("recache fresh", b.get("rc", recache_policy=recache), "val2")

    # Lease on miss: the first reader vivifies and wins; a second one gives up after
    # its retries; after the winner fills, everyone reads the value.
    lease = LeasePolicy(ttl=30, miss_retries=2, miss_retry_wait=0.01, miss_max_retry_wait=0.02)
    check("lease winner", a.get_or_lease("ls", lease_policy=lease), None)
    waits = []
    check(
        "lease loser",
        b.get_or_lease("ls", lease_policy=lease, lease_wait_fn=waits.append),
        None,
    )
    check("lease loser waited", len(waits) > 0, True)
    check("lease fill", a.set("ls", "filled", ttl=300), True)
    check("lease read", b.get_or_lease("ls", lease_policy=lease), "filled")

    # Multi-get (pipelined mg with opaque tokens).
    a.set("m1", "one", ttl=0)
    a.set("m2", "two", ttl=0)
    got = b.multi_get(["m1", "m2", "m3"])
    check("multi_get", {k.key: v for k, v in got.items()}, {"m1": "one", "m2": "two", "m3": None})

    print("meta-memcache interop: all checks passed")


if __name__ == "__main__":
    main()
