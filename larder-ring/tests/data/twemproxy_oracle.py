#!/usr/bin/env python3
"""Produces tests/data/twemproxy_extra.tsv: key -> server placements made by a real
twemproxy (Debian's nutcracker 0.5.0) in front of memcached backends.

For each configuration it starts memcached backends and one nutcracker pool
(distribution: ketama), stores every key through the proxy, then asks each backend
directly which keys it holds. Servers are named (or unix sockets with fixed paths), so
the placements do not depend on the ports chosen here.

usage: twemproxy_oracle.py keys.tsv > twemproxy_extra.tsv   (needs memcached, nutcracker)
       twemproxy_oracle.py keys.tsv more > twemproxy_more.tsv
         (distribution: modula under several hashes, and the hsieh hash under ketama and
          modula; #config lines carry the distribution as a sixth column)
"""
import os, socket, subprocess, sys, tempfile, time

def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p

def wait_connect(addr, family=socket.AF_INET):
    for _ in range(500):
        try:
            s = socket.socket(family, socket.SOCK_STREAM); s.connect(addr); return s
        except OSError:
            time.sleep(0.01)
    raise SystemExit(f"cannot connect to {addr}")

def request(sock, data, terminators):
    sock.sendall(data)
    buf = b""
    while not any(buf.endswith(t) for t in terminators):
        chunk = sock.recv(65536)
        if not chunk:
            raise SystemExit("connection closed")
        buf += chunk
    return buf

def load_keys(path):
    keys = []
    with open(path) as f:
        next(f)
        for line in f:
            kid, _, _, hexkey = line.rstrip("\n").split("\t")
            keys.append((kid, bytes.fromhex(hexkey)))
    # Keys carrying a {tag}, for the hash_tag configuration.
    for i in range(40):
        keys.append((f"tag{i}", f"user:{{{i % 7}}}:item:{i}".encode()))
    return keys

def run(name, hash_name, hash_tag, servers, keys, tmp, distribution=None):
    """servers: list of (kind, weight, server_name or None); kind 'tcp' or a unix path."""
    procs, backends, entries = [], [], []
    try:
        for kind, weight, sname in servers:
            if kind == "tcp":
                port = free_port()
                procs.append(subprocess.Popen(["memcached", "-p", str(port), "-l", "127.0.0.1", "-U", "0", "-u", "root"]))
                backends.append(wait_connect(("127.0.0.1", port)))
                addr = f"127.0.0.1:{port}"
            else:
                if os.path.exists(kind):
                    os.unlink(kind)
                procs.append(subprocess.Popen(["memcached", "-s", kind, "-u", "root"]))
                backends.append(wait_connect(kind, socket.AF_UNIX))
                addr = kind
            entries.append(f"{addr}:{weight}" + (f" {sname}" if sname else ""))
        listen = free_port()
        conf = os.path.join(tmp, f"{name}.yml")
        with open(conf, "w") as f:
            f.write(f"pool:\n  listen: 127.0.0.1:{listen}\n  hash: {hash_name}\n  distribution: {distribution or 'ketama'}\n")
            if hash_tag:
                f.write(f'  hash_tag: "{hash_tag}"\n')
            f.write("  auto_eject_hosts: false\n  servers:\n")
            for e in entries:
                f.write(f"   - {e}\n")
        procs.append(subprocess.Popen(["nutcracker", "-c", conf, "-o", os.path.join(tmp, f"{name}.log")]))
        proxy = wait_connect(("127.0.0.1", listen))
        for _, key in keys:
            reply = request(proxy, b"set " + key + b" 0 0 1\r\nx\r\n", [b"\r\n"])
            assert reply == b"STORED\r\n", (name, key, reply)
        spec_list = ",".join(entries)
        extra = f"\t{distribution}" if distribution else ""
        print(f"#config\t{name}\t{hash_name}\t{hash_tag or '-'}\t{spec_list}{extra}")
        for kid, key in keys:
            holders = [i for i, b in enumerate(backends)
                       if request(b, b"get " + key + b"\r\n", [b"END\r\n"]) != b"END\r\n"]
            assert len(holders) == 1, (name, key, holders)
            label = entries[holders[0]].split(" ", 1)[1] if " " in entries[holders[0]] else entries[holders[0]].rsplit(":", 1)[0]
            print(f"{name}\t{kid}\t{key.hex()}\t{holders[0]}\t{label}")
    finally:
        for p in procs:
            p.kill(); p.wait()

def main():
    keys = load_keys(sys.argv[1])
    named = [("tcp", 1, "alpha"), ("tcp", 2, "beta"), ("tcp", 1, "gamma"), ("tcp", 3, "delta")]
    if len(sys.argv) > 2 and sys.argv[2] == "more":
        with tempfile.TemporaryDirectory() as tmp:
            for h in ["md5", "fnv1a_64", "crc32a", "murmur", "hsieh"]:
                run(f"tpm_modula_{h}", h, None, named, keys, tmp, "modula")
            run("tpm_ketama_hsieh", "hsieh", None, named, keys, tmp, "ketama")
            unweighted = [("tcp", 1, n) for n in ["n0", "n1", "n2", "n3", "n4"]]
            run("tpm_modula_md5_S5", "md5", None, unweighted, keys, tmp, "modula")
        return
    with tempfile.TemporaryDirectory() as tmp:
        for h in ["md5", "one_at_a_time", "fnv1_32", "fnv1a_32", "fnv1_64", "fnv1a_64",
                  "crc32", "crc32a", "crc16", "murmur", "jenkins"]:
            run(f"tpx_named_{h}", h, None, named, keys, tmp)
        run("tpx_named_md5_tag", "md5", "{}", named, keys, tmp)
        socks = [("/tmp/larder-ring-tp-a.sock", 1, None), ("/tmp/larder-ring-tp-b.sock", 2, None),
                 ("/tmp/larder-ring-tp-c.sock", 1, "cache-c")]
        run("tpx_unix_md5", "md5", None, socks, keys, tmp)

main()
