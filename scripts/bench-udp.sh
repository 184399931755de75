#!/usr/bin/env bash
# UDP: libmemcached's memcaslap -U against memcached and larder (release build), in the same
# run, alternating, three runs each; prints each run's operations, throughput, the server's
# CPU ticks (1/100 s) during the run, and memcaslap's timeouts, drops and misses. The figures
# in README.md ("Performance") come from this script.
# Usage: scripts/bench-udp.sh       (needs memcached and libmemcached-tools)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --bin larder >&2
LARDER=${CARGO_TARGET_DIR:-target}/release/larder
user=()
[ "$(id -u)" -eq 0 ] && user=(-u root)
cpu() { awk '{print $14+$15}' /proc/$1/stat; }
run() { # name bin port
  "$2" -p "$3" -U "$3" -l 127.0.0.1 -t 2 -m 256 "${user[@]}" >/dev/null 2>&1 &
  local pid=$!
  sleep 0.5
  local c0=$(cpu $pid)
  local out=$(memcaslap -s 127.0.0.1:$3 -U -t 4s -T 2 -c 32 2>&1)
  local c1=$(cpu $pid)
  kill "$pid"; wait "$pid" 2>/dev/null || true
  local ops=$(echo "$out" | sed -n 's/.*Ops: \([0-9]*\) TPS: \([0-9]*\).*/\1 \2/p')
  local drops=$(echo "$out" | grep -E "udp_timeout|packet_drop|get_misses" | tr '\n' ' ')
  echo "$1 ops/tps: $ops cpu_ticks: $((c1-c0)) $drops"
}
base=$(( 24000 + RANDOM % 4000 ))
for r in 1 2 3; do
  run memcached /usr/bin/memcached $((base + r * 10))
  run larder "$LARDER" $((base + r * 10 + 1))
done
