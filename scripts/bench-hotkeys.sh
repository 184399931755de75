#!/usr/bin/env bash
# The cost of hot-key sampling (`stats hotkeys`): two larder servers, one as started by default
# (sampling on) and one with `-o no_hotkeys`, under the same get-only load from the load
# generator, cell by cell in alternation (on, off, on, off, ...) so that drift on a shared
# machine hits both alike. Unpipelined and pipelined gets, text protocol. Prints each run's
# throughput and server CPU per request, then the medians and their ratio (docs/OPERATIONS.md
# has the figures).
# Usage: scripts/bench-hotkeys.sh [ROUNDS] [SECONDS]     (defaults: 5 rounds of 3 s per cell)
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-5}
SECS=${2:-3}
THREADS=${THREADS:-1}

cargo build --release --bin larder >&2
LOADGEN=$(cargo build --release --bench loadgen --message-format=json 2>/dev/null |
    sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | grep loadgen | tail -n 1)
LARDER=${CARGO_TARGET_DIR:-target}/release/larder
OUT=$(mktemp -d)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$OUT"
}
trap cleanup EXIT

user=()
[ "$(id -u)" -eq 0 ] && user=(-u root)
start() { # port extra-args...
    local port=$1
    shift
    "$LARDER" -p "$port" -l 127.0.0.1 -t "$THREADS" -m 256 "${user[@]}" "$@" >/dev/null 2>&1 &
    PIDS+=($!)
    "$LOADGEN" wait --server "127.0.0.1:$port" --server-pid "${PIDS[-1]}" --timeout 20
}
PORT_ON=$(( 20000 + RANDOM % 5000 ))
PORT_OFF=$(( PORT_ON + 1 ))
start "$PORT_ON"
PID_ON=${PIDS[-1]}
start "$PORT_OFF" -o no_hotkeys
PID_OFF=${PIDS[-1]}

for depth in 1 16; do
    for round in $(seq "$ROUNDS"); do
        for mode in on off; do
            if [ "$mode" = on ]; then port=$PORT_ON pid=$PID_ON; else port=$PORT_OFF pid=$PID_OFF; fi
            "$LOADGEN" run --server "127.0.0.1:$port" --server-pid "$pid" --label "$mode" \
                --cell "get-p$depth" --results "$OUT/results.tsv" --ratio 1:0 --pipeline "$depth" \
                --connections 50 --threads 1 --keys 10000 --duration "$SECS" \
                --seed "$round" >"$OUT/run.txt" 2>&1 || { cat "$OUT/run.txt" >&2; exit 1; }
        done
    done
done
python3 - "$OUT/results.tsv" <<'EOF'
import statistics, sys
# The results file: one run a line, tab-separated key=value fields.
runs = [dict(f.split("=", 1) for f in l.rstrip("\n").split("\t")) for l in open(sys.argv[1]) if l.strip()]
for cell in sorted({r["cell"] for r in runs}):
    print(f"## {cell}")
    med = {}
    for mode in ("on", "off"):
        rs = [r for r in runs if r["cell"] == cell and r["label"] == mode]
        rps = [float(r["rps"]) for r in rs]
        cpu = [float(r["cpu_us_per_req"]) for r in rs if "cpu_us_per_req" in r]
        print(f"{mode:>4}: rps {[round(x) for x in rps]}  server cpu us/req {cpu}")
        med[mode] = (statistics.median(rps), statistics.median(cpu) if cpu else 0.0)
    (r_on, c_on), (r_off, c_off) = med["on"], med["off"]
    print(f"median rps on/off = {r_on:.0f}/{r_off:.0f} = {r_on / r_off:.3f}")
    if c_off:
        print(f"median server CPU per request on/off = {c_on:.3f}/{c_off:.3f} us = {c_on / c_off:.3f}")
EOF
