"""Operator tools against a server: pymemcache's stats("cachedump", ...) and
stats("detail", ...), and the memcached-tool script's dump/keys/display/stats/settings.

Usage: python3 ops_check.py HOST PORT
Exits non-zero (with a traceback) on the first wrong answer.
"""
import subprocess
import sys

from pymemcache.client.base import Client

host, port = sys.argv[1], int(sys.argv[2])
c = Client((host, port), connect_timeout=5, timeout=5, default_noreply=False)

assert c.set("user:1", b"alice", expire=0) is True
assert c.set("user:2", b"bob", expire=1000) is True
assert c.set("plain", b"x") is True

dump = c.stats("cachedump", "1", "0")
assert set(dump) == {b"user:1", b"user:2", b"plain"}, dump
assert dump[b"user:1"] == b"[5 b; 0 s]", dump
assert c.stats("cachedump", "1", "1") and len(c.stats("cachedump", "1", "1")) == 1

c.stats("detail", "on")
assert c.get("user:1") == b"alice"
assert c.get("user:9") is None

tool = "/usr/share/memcached/scripts/memcached-tool"
addr = f"{host}:{port}"


def run(*args):
    out = subprocess.run(["perl", tool, addr, *args], capture_output=True, timeout=30, check=True)
    return out.stdout.decode()


dumped = run("dump")
assert "add user:1 0 0 5\r\nalice\r\n" in dumped, dumped
assert "add plain 0 0 1\r\nx\r\n" in dumped, dumped
keys = run("keys")
assert keys.count("key=") == 3, keys
display = run("display")
assert display.splitlines()[0].split()[:3] == ["#", "Item_Size", "Max_age"], display
assert len(display.splitlines()) >= 2, display
stats = run("stats")
assert "curr_items" in stats and "get_hits" in stats, stats
settings = run("settings")
assert "detail_enabled" in settings and "lru_crawler" in settings, settings
print("ok")
