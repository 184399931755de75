#!/usr/bin/env python3
"""Writes the checked-in seed corpus (fuzz/seeds/<target>/) from the transcript tests.

Text and meta seeds are the requests the socket transcripts send (tests/text.rs,
tests/meta.rs: the byte-string literals passed to send/roundtrip); ASCII-auth seeds come
from tests/auth.rs; binary seeds are one well-formed frame per opcode family, built here
as tests/binary.rs builds them; config seeds are memcached.conf.example and a few lines.
Run from the repository root: python3 fuzz/make_seeds.py
"""
import hashlib, os, re, struct, shutil

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "fuzz", "seeds")
LIT = re.compile(rb'(?:send|roundtrip)\(\s*b"((?:[^"\\]|\\.)*)"', re.S)

def unescape(b):
    return b.decode("unicode_escape").encode("latin-1")

def literals(path):
    with open(os.path.join(ROOT, path), "rb") as f:
        return [unescape(m.group(1)) for m in LIT.finditer(f.read())]

def write(target, seeds, limit=60):
    d = os.path.join(OUT, target)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    seen = set()
    for s in seeds:
        if not s or s in seen or len(s) > 4096:
            continue
        seen.add(s)
        if len(seen) > limit:
            break
        name = hashlib.sha1(s).hexdigest()[:16]
        with open(os.path.join(d, name), "wb") as f:
            f.write(s)

def binframe(op, key=b"", extras=b"", value=b"", cas=0, opaque=0xDEADBEEF):
    body = extras + key + value
    return struct.pack(">BBHBBHIIQ", 0x80, op, len(key), len(extras), 0, 0, len(body), opaque, cas) + body

text = [l for l in literals("tests/text.rs") if not l.startswith(b"m")]
meta = [l for l in literals("tests/meta.rs") if l[:1] == b"m"]
# The meta target prepends a command chosen by the first byte: store seeds in that form
# (index byte, then the request after its command and space).
order = [b"mg ", b"ms ", b"md ", b"ma ", b"mn", b"me "]
meta_seeds = []
for l in meta:
    for i, c in enumerate(order):
        if l.startswith(c):
            meta_seeds.append(bytes([i]) + l[len(c):])
            break
write("text", text + [b"get a b c\r\nset k 0 0 1 noreply\r\nx\r\n"])
write("meta", meta_seeds)
write("auth", literals("tests/auth.rs") + [b"set a 0 0 12\r\nalice secret\r\n", b"set a 0 0 9\r\nbob pa:ss\r\n"])
se = struct.pack(">II", 5, 0)
ar = struct.pack(">QQI", 1, 10, 0)
write("binary", [
    binframe(0x00, b"foo"), binframe(0x09, b"foo"), binframe(0x0c, b"foo"), binframe(0x0d, b"foo"),
    binframe(0x01, b"foo", se, b"bar"), binframe(0x02, b"foo", se, b"bar"), binframe(0x03, b"foo", se, b"bar", cas=7),
    binframe(0x11, b"foo", se, b"bar"), binframe(0x04, b"foo"), binframe(0x14, b"foo"),
    binframe(0x05, b"n", ar), binframe(0x06, b"n", ar), binframe(0x15, b"n", ar, cas=3),
    binframe(0x07), binframe(0x08, extras=struct.pack(">I", 10)), binframe(0x0a), binframe(0x0b),
    binframe(0x0e, b"foo", value=b"tail"), binframe(0x0f, b"foo", value=b"head"),
    binframe(0x10), binframe(0x10, b"settings"), binframe(0x1c, b"foo", struct.pack(">I", 10)),
    binframe(0x1d, b"foo", struct.pack(">I", 10)), binframe(0x20), binframe(0x21, b"PLAIN", value=b"\0alice\0secret"),
    binframe(0x09, b"a") + binframe(0x09, b"b") + binframe(0x0a),
    binframe(0x01, b"big", se, b"x" * 2000),
])
with open(os.path.join(ROOT, "memcached.conf.example"), "rb") as f:
    example = f.read()
write("config", [example, b"-m 64\n-p 11211\n-l 127.0.0.1,::1\n", b"-o idle_timeout=30,hashpower=20\n-c 1024 # comment\n",
                 b"logfile /var/log/memcached.log\n-v\n", b"-l '127.0.0.1' -a \"0700\" -s \"/tmp/a \\\"b\\\"\"\n",
                 b"-t 4\n-R 20\n-I 2m\n-B ascii\n", b"-S\n-Y /etc/larder/auth\n"])
