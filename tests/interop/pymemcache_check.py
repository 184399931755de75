"""Drives a server with pymemcache (a real third-party client), every text command.

Usage: python3 pymemcache_check.py HOST PORT
Exits non-zero (with a traceback) on the first answer that differs from memcached's.
"""
import sys
import time

from pymemcache.client.base import Client

host, port = sys.argv[1], int(sys.argv[2])
c = Client((host, port), connect_timeout=5, timeout=5, default_noreply=False)

assert c.version().startswith(b"1.6"), c.version()
assert c.set("a", b"1", expire=0) is True
assert c.get("a") == b"1"
assert c.get("missing") is None
assert c.get_many(["a", "missing", "b"]) == {"a": b"1"}
assert c.set_many({"x": b"10", "y": b"20"}) == []
assert c.get_many(["x", "y"]) == {"x": b"10", "y": b"20"}


assert c.add("a", b"2") is False
assert c.add("new", b"n") is True
assert c.replace("a", b"3") is True
assert c.replace("nope", b"3") is False
assert c.append("a", b"4") is True
assert c.prepend("a", b"2") is True
assert c.get("a") == b"234"

value, cas = c.gets("a")
assert value == b"234" and cas is not None
assert c.cas("a", b"5", cas) is True
assert c.cas("a", b"6", cas) is False
assert c.cas("nokey", b"6", cas) is None
assert c.gets_many(["a", "x"])["x"][0] == b"10"

assert c.incr("x", 5) == 15
assert c.decr("x", 20) == 0
assert c.set("x", b"10")
assert c.incr("nokey", 1) is None
assert c.decr("nokey", 1) is None

assert c.touch("a", 100) is True
assert c.touch("nokey", 100) is False
# pymemcache has no gat/gats methods: its raw_command sends them as typed.
assert c.raw_command(b"gat 100 a", b"END\r\n") == b"VALUE a 0 1\r\n5\r\n"
assert c.raw_command(b"gats 100 a", b"END\r\n").startswith(b"VALUE a 0 1 ")
assert c.raw_command(b"verbosity 1", b"\r\n") == b"OK"
assert c.delete_many(["x", "y"]) is True
assert c.set_many({"x": b"0"}) == []

assert c.delete("a") is True
assert c.delete("a", noreply=False) is False
assert c.get("a") is None

stats = c.stats()
assert stats[b"cmd_get"] > 0, stats
assert b"curr_items" in stats
settings = c.stats("settings")
assert settings[b"maxbytes"] > 0
assert c.cache_memlimit(100) is True

# expiry
assert c.set("ttl", b"t", expire=1)
time.sleep(2.1)
assert c.get("ttl") is None

# noreply (pymemcache's default mode for storage commands)
c.set("nr", b"quiet", noreply=True)
assert c.get("nr") == b"quiet"

# binary-safe values
blob = bytes(range(256)) * 40
assert c.set("blob", blob)
assert c.get("blob") == blob

assert c.flush_all() is True
assert c.get("x") is None
c.quit()
print("pymemcache: all checks passed")
