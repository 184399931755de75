"""pymemcache over TLS (an ssl.SSLContext), as a memcached user configures it.

Usage: python3 pymemcache_tls.py HOST PORT CA_FILE [CLIENT_CERT CLIENT_KEY]
Checks that the server's certificate verifies against CA_FILE for HOST, then
drives a few commands (a large value among them); exits non-zero on any difference.
"""
import ssl
import sys

from pymemcache.client.base import Client

host, port, ca = sys.argv[1], int(sys.argv[2]), sys.argv[3]
ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca)
ctx.check_hostname = True
if len(sys.argv) > 5:
    ctx.load_cert_chain(sys.argv[4], sys.argv[5])
c = Client((host, port), connect_timeout=5, timeout=5, tls_context=ctx)
# The TLS session itself: the verified peer and a modern version.
assert c.version().startswith(b"1.6"), c.version()
version = c.sock.version()
assert version in ("TLSv1.2", "TLSv1.3"), version
assert c.set("a", b"1") is True
assert c.get("a") == b"1"
big = bytes(range(256)) * 2000
assert c.set("big", big) is True
assert c.get("big") == big
assert c.get_many(["a", "big", "missing"]) == {"a": b"1", "big": big}
assert c.incr("n", 1) is None
assert c.set("n", b"5") is True
assert c.incr("n", 3) == 8
assert c.delete("a") is True
assert c.get("a") is None
stats = c.stats()
assert stats[b"ssl_handshake_errors"] == 0, stats
c.close()
print("ok")
