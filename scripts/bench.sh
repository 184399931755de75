#!/usr/bin/env bash
# larder vs memcached under the same load, in one run: a workload matrix (text and binary,
# get:set 10:1 and 1:1, 32 B / 1 KB / 16 KB values, pipeline depth 1 and 16, 50 connections,
# plus single-connection ping-pong) and a memory-efficiency fill. Writes a markdown report and
# PNG charts to target/bench-report/ (or --out). See docs/BENCHMARKS.md for what every column
# means. Benchmarks report; this script fails only if the kit itself cannot run.
# With --background it measures latency under background work (target/bench-background/);
# with --scaling, throughput and p99.9 against -t (target/bench-scaling/).
# With --hitratio and/or --mrc it instead compares hit ratios (cache-aside: get, set on a miss)
# over a matrix of -m, workloads and value sizes, and/or draws the miss-ratio curve; the report
# goes to target/bench-hitratio/.
# With --tls it runs the TLS matrix instead (both servers with -Z and the same certificate):
# throughput and server CPU per request over TLS, and full and resumed handshakes per second;
# the report goes to target/bench-tls/.
set -euo pipefail

usage() {
    cat <<'EOF'
usage: scripts/bench.sh [--larder BIN] [--memcached BIN] [--quick] [--threads N] [--out DIR]
                        [--meta] [--skip-memory]

  --larder BIN      larder binary (default: cargo build --release, target/release/larder)
  --loadgen BIN     load generator (default: cargo build --release --bench loadgen); with
                    --larder and this, no cargo is needed (scripts/device-scaling.sh)
  --memcached BIN   memcached binary (default /usr/bin/memcached; apt-get installs it if absent)
  --quick           a reduced matrix, 1 s per cell, -m 64 only: about a minute
  --threads N       server worker threads, -t (default: half the cores, at least 1)
  --out DIR         report directory (default: target/bench-report)
  --meta            also run the matrix over the meta protocol (mg/ms)
  --skip-memory     skip the memory-efficiency fill
  --no-perf         do not count every server syscall with perf stat (used when perf works)
  --tls             the TLS matrix instead (-Z, ECDSA P-256 certificate, ssl_session_cache):
                    text 10:1, 32 B and 16 KiB, depth 1 and 16, then full and resumed
                    handshakes per second (4 client threads); report in target/bench-tls
                    (with --quick: 32 B only, 1 s per cell, about 15 s)

latency under background work (--background; docs/BENCHMARKS.md):
  --background      the same steady load (text, get:set 10:1, 32 B, unpipelined, 50
                    connections, a full -m 64 cache) idle, then while each background job
                    runs: crawler, page moves, flush_all, stats storm, snapshot (larder only);
                    p50/p99/p99.9 and the change in p99.9 from idle, background.md
  --bg-jobs "J..."  of idle crawl moves flush stats snapshot (default all; idle first)

scaling mode (--scaling):
  --scaling         -t 1, 2, 4, ... up to the cores (or --scale-ts), server on cores
                    0..t-1 and the client on the others (taskset), both servers; cells
                    text d1, binary d16, text d16 (200 connections, 32 B, 10:1, 100k keys);
                    scaling.md and scaling.png (throughput and p99.9 against -t)
  --scale-ts "T..." the -t values (default powers of two below the core count, and it)

hit-ratio mode (cache-aside: get, set on a miss; fresh servers per cell; docs/BENCHMARKS.md):
  --hitratio        run the hit-ratio matrix instead of the throughput matrix
  --mrc             run the miss-ratio curve (miss ratio vs -m, both servers, mrc.png)
                    (with --quick: a tiny run of a few seconds)
  --hr-mems "M..."  -m values of the matrix (default "16 64 256")
  --hr-workloads "W..."  of zipf99 zipf80 onehit scan shift trace (default all but trace)
  --hr-sizes "S..." of fixed (100 B) and mixed (log-normal) (default "fixed mixed")
  --hr-threads "T..."  server -t values (default "1 4")
  --keys N          key space (default 2000000)
  --requests N      requests per run (default 2000000)
  --trace FILE      replay FILE (`key size [ttl]` per line) as the workload `trace`
  --mrc-mems "M..." -m values of the curve (default "8 16 32 64 128 256 512 1024")
  --mrc-workload W  workload of the curve (default zipf99); --mrc-sizes S (default mixed)
                    the curve runs at the first of --hr-threads
  default --out for these modes: target/bench-hitratio
EOF
}

# Overrides for testing the kit itself (docs/BENCHMARKS.md), read before the defaults below.
ENV_DURATION=${BENCH_DURATION:-}
ENV_FILL_MEMS=${FILL_MEMS:-}
ENV_FILL_SIZES=${FILL_SIZES:-}
ENV_SIZES=${BENCH_SIZES:-}
ENV_RATIOS=${BENCH_RATIOS:-}
ENV_PROTOCOLS=${BENCH_PROTOCOLS:-}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
LARDER=""
LOADGEN=""
MEMCACHED=/usr/bin/memcached
QUICK=0
THREADS=""
OUT=""
META=0
MEMORY=1
PERF=1
HITRATIO=0
MRC=0
TLS=0
HR_MEMS=""
HR_WORKLOADS=""
HR_SIZES=""
HR_THREADS=""
HR_KEYS=""
HR_REQUESTS=""
TRACE=""
MRC_MEMS=""
MRC_WORKLOAD=zipf99
MRC_SIZES=mixed
BACKGROUND=0
BG_JOBS="idle crawl moves flush stats snapshot"
SCALING=0
SCALE_TS=""
while [ $# -gt 0 ]; do
    case "$1" in
        --larder) LARDER=$2; shift 2 ;;
        --loadgen) LOADGEN=$2; shift 2 ;;
        --memcached) MEMCACHED=$2; shift 2 ;;
        --quick) QUICK=1; shift ;;
        --threads) THREADS=$2; shift 2 ;;
        --out) OUT=$2; shift 2 ;;
        --meta) META=1; shift ;;
        --skip-memory) MEMORY=0; shift ;;
        --no-perf) PERF=0; shift ;;
        --hitratio) HITRATIO=1; shift ;;
        --tls) TLS=1; shift ;;
        --mrc) MRC=1; shift ;;
        --hr-mems) HR_MEMS=$2; shift 2 ;;
        --hr-workloads) HR_WORKLOADS=$2; shift 2 ;;
        --hr-sizes) HR_SIZES=$2; shift 2 ;;
        --hr-threads) HR_THREADS=$2; shift 2 ;;
        --keys) HR_KEYS=$2; shift 2 ;;
        --requests) HR_REQUESTS=$2; shift 2 ;;
        --trace) TRACE=$2; shift 2 ;;
        --mrc-mems) MRC_MEMS=$2; shift 2 ;;
        --mrc-workload) MRC_WORKLOAD=$2; shift 2 ;;
        --mrc-sizes) MRC_SIZES=$2; shift 2 ;;
        --background) BACKGROUND=1; shift ;;
        --bg-jobs) BG_JOBS=$2; shift 2 ;;
        --scaling) SCALING=1; shift ;;
        --scale-ts) SCALE_TS=$2; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "bench.sh: unknown argument $1" >&2; usage >&2; exit 2 ;;
    esac
done
HR_MODE=$(( HITRATIO || MRC ))
if [ "$HR_MODE" -eq 1 ]; then
    OUT=${OUT:-$TARGET/bench-hitratio}
elif [ "$BACKGROUND" -eq 1 ]; then
    OUT=${OUT:-$TARGET/bench-background}
elif [ "$SCALING" -eq 1 ]; then
    OUT=${OUT:-$TARGET/bench-scaling}
elif [ "$TLS" -eq 1 ]; then
    OUT=${OUT:-$TARGET/bench-tls}
else
    OUT=${OUT:-$TARGET/bench-report}
fi
[ -z "$TRACE" ] || TRACE=$(cd "$(dirname "$TRACE")" && pwd)/$(basename "$TRACE")
cd "$ROOT"

log() { printf '\n== %s\n' "$*" >&2; }

apt_install() {
    command -v apt-get >/dev/null || return 1
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "$@" >&2
}

# --- prerequisites -----------------------------------------------------------------------
if [ ! -x "$MEMCACHED" ]; then
    if [ "$MEMCACHED" = /usr/bin/memcached ]; then
        log "installing Debian's memcached"
        apt_install memcached || { echo "bench.sh: cannot install memcached" >&2; exit 1; }
    else
        echo "bench.sh: $MEMCACHED is not executable" >&2; exit 1
    fi
fi
FONT=${BENCH_FONT:-/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf}
if [ ! -f "$FONT" ]; then
    log "installing fonts-dejavu-core (chart text)"
    apt_install fonts-dejavu-core || echo "bench.sh: no font; the report will have no charts" >&2
fi
if [ -z "$LARDER" ]; then
    log "building larder (cargo build --release)"
    cargo build --release --bin larder >&2
    LARDER=$TARGET/release/larder
fi
[ -x "$LARDER" ] || { echo "bench.sh: $LARDER is not executable" >&2; exit 1; }

# With the release profile, like larder above: the load generator then shares its
# dependencies' optimised build instead of building them again with the bench profile.
if [ -z "$LOADGEN" ]; then
    log "building the load generator (cargo build --release --bench loadgen)"
    LOADGEN=$(cargo build --release --bench loadgen --message-format=json 2>/dev/null |
        sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | grep loadgen | tail -n 1)
fi
[ -x "$LOADGEN" ] || { echo "bench.sh: could not build the load generator" >&2; exit 1; }

# --- machine layout: servers on the first half of the cores, the client on the rest -------
NCPU=$(nproc)
HALF=$(( NCPU / 2 ))
[ "$HALF" -ge 1 ] || HALF=1
THREADS=${THREADS:-$HALF}
CLIENT_THREADS=$(( NCPU - HALF )); [ "$CLIENT_THREADS" -ge 1 ] || CLIENT_THREADS=1
PIN_SERVER=()
PIN_CLIENT=()
if [ "$NCPU" -ge 2 ] && command -v taskset >/dev/null; then
    SERVER_CPUS="0-$(( HALF - 1 ))"
    CLIENT_CPUS="$HALF-$(( NCPU - 1 ))"
    PIN_SERVER=(taskset -c "$SERVER_CPUS")
    PIN_CLIENT=(taskset -c "$CLIENT_CPUS")
    PINNING="servers pinned to CPUs $SERVER_CPUS, load generator to CPUs $CLIENT_CPUS (taskset)"
else
    PINNING="no pinning ($NCPU CPU(s) or no taskset): servers and client share the CPUs"
fi
MEM_MB=1024
MAX_CONNS=1024
CONNS=50
KEYS=10000
if [ "$QUICK" -eq 1 ]; then
    DURATION=1; RATIOS="10:1"; SIZES="32 1024"; FILL_MEMS="64"
else
    DURATION=5; RATIOS="10:1 1:1"; SIZES="32 1024 16384"; FILL_MEMS="64 1024"
fi
PROTOCOLS="text binary"
[ "$META" -eq 1 ] && PROTOCOLS="$PROTOCOLS meta"
DEPTHS="1 16"
FILL_SIZES="32 100 1000"
DURATION=${ENV_DURATION:-$DURATION}
SIZES=${ENV_SIZES:-$SIZES}
RATIOS=${ENV_RATIOS:-$RATIOS}
PROTOCOLS=${ENV_PROTOCOLS:-$PROTOCOLS}
FILL_MEMS=${ENV_FILL_MEMS:-$FILL_MEMS}
FILL_SIZES=${ENV_FILL_SIZES:-$FILL_SIZES}

# perf counts every syscall (sendmsg, recvfrom, epoll_wait, ...), not only what /proc/PID/io sees.
PERF_ARGS=()
if [ "$PERF" -eq 1 ] && command -v perf >/dev/null &&
    perf stat -x, -e raw_syscalls:sys_enter -o /dev/null -- true >/dev/null 2>&1; then
    PERF_ARGS=(--perf)
    PERF_NOTE="all syscalls counted with \`perf stat -e raw_syscalls:sys_enter -p PID\`"
else
    PERF_NOTE="perf not used (absent, not permitted or --no-perf): only read/write syscalls from /proc/PID/io"
fi

mkdir -p "$OUT"
RESULTS=$OUT/results.tsv
: >"$RESULTS"

NAMES=(memcached larder)
TLS_ARGS=()
PORTS=()
PLAIN=()
SPIDS=()
BINS=("$MEMCACHED" "$LARDER")
LARDER_EXTRA=()

# --- server lifecycle ----------------------------------------------------------------------
PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() {
    local p
    for _ in $(seq 200); do
        # Below Linux's ephemeral range (32768-60999), so no outgoing connection holds it.
        p=$(( 20000 + RANDOM % 12000 ))
        port_in_use "$p" || { echo "$p"; return 0; }
    done
    echo "bench.sh: no free port found" >&2
    return 1
}

# start_server NAME BIN MEM_MB: starts BIN with memcached's flags; sets SERVER_PID, SERVER_PORT.
# A port that looked free can still be taken (by another process's outgoing connection, say):
# if the server dies before accepting, try again on another port.
start_server() {
    local name=$1 bin=$2 mem=$3 attempt
    for attempt in 1 2 3 4 5; do
        SERVER_PORT=$(free_port)
        local listen=127.0.0.1
        if [ "$TLS" -eq 1 ]; then
            # A plain listener next to the TLS one, for the prefill.
            PLAIN_PORT=$(free_port)
            listen="127.0.0.1,notls:127.0.0.1:$PLAIN_PORT"
        fi
        local args=(-p "$SERVER_PORT" -l "$listen" -t "$THREADS" -m "$mem" -c "$MAX_CONNS" -U 0
            "${TLS_ARGS[@]}")
        # memcached refuses to run as root without -u; a server that rejects -u gets a try
        # without it (attempts alternate).
        [ "$(id -u)" -eq 0 ] && [ $(( attempt % 2 )) -eq 1 ] && args+=(-u root)
        [ "$name" != larder ] || args+=("${LARDER_EXTRA[@]}")
        "${PIN_SERVER[@]}" "$bin" "${args[@]}" >>"$OUT/$name.log" 2>&1 &
        SERVER_PID=$!
        PIDS+=("$SERVER_PID")
        if "$LOADGEN" wait --server "127.0.0.1:$SERVER_PORT" --server-pid "$SERVER_PID" \
            --timeout 20 2>/dev/null; then
            return 0
        fi
        stop_server "$SERVER_PID"
        echo "bench.sh: $name ($bin ${args[*]}) did not start (attempt $attempt)" >&2
    done
    echo "bench.sh: giving up on $name; its log:" >&2
    cat "$OUT/$name.log" >&2
    exit 1
}

stop_server() {
    kill "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
    local keep=() pid
    for pid in "${PIDS[@]}"; do [ "$pid" = "$1" ] || keep+=("$pid"); done
    PIDS=("${keep[@]}")
}


loadgen_run() { # label port pid extra-args...
    local label=$1 port=$2 pid=$3
    shift 3
    "${PIN_CLIENT[@]}" "$LOADGEN" run --server "127.0.0.1:$port" --server-pid "$pid" \
        --label "$label" --results "$RESULTS" --threads "$CLIENT_THREADS" --keys "$KEYS" \
        --duration "$DURATION" "${PERF_ARGS[@]}" "$@"
}

# --- hit-ratio mode (--hitratio / --mrc) ---------------------------------------------------------
# Cache-aside: every request is a get, every miss is followed by a set of a value whose size is
# a fixed function of the key. Each cell starts a fresh memcached and a fresh larder with the same
# -m and -t, runs the same request stream (same seed) against each, and stops them.
hr_workload_args() { # workload name -> loadgen hitratio options
    case "$1" in
        zipf99) echo "--zipf 0.99" ;;
        zipf80) echo "--zipf 0.8" ;;
        onehit) echo "--zipf 0.99 --one-hit 0.3" ;;
        # 20 scans per run, each over 1% of the key space (cold half), in the request count.
        scan) echo "--zipf 0.99 --scan-every $(( HR_REQUESTS / 20 )) --scan-len $(( HR_KEYS / 100 > 0 ? HR_KEYS / 100 : 1 ))" ;;
        shift) echo "--zipf 0.99 --shift-at 0.5" ;;
        trace) [ -n "$TRACE" ] || { echo "bench.sh: workload trace needs --trace FILE" >&2; return 1; }
               echo "--trace $TRACE" ;;
        *) echo "bench.sh: unknown workload $1 (zipf99 zipf80 onehit scan shift trace)" >&2; return 1 ;;
    esac
}
hr_size_args() {
    case "$1" in
        trace) echo "" ;; # a trace brings its own sizes
        fixed) echo "--sizes 100" ;;
        mixed) echo "--sizes lognormal" ;;
        *) echo "bench.sh: unknown size mix $1 (fixed mixed)" >&2; return 1 ;;
    esac
}

# hr_cell CELL MEM T CURVE WORKLOAD SIZES: one fresh server of each kind, same stream.
hr_cell() {
    local cell=$1 mem=$2 t=$3 curve=$4 wl=$5 sz=$6 i wargs sargs curve_args=()
    wargs=$(hr_workload_args "$wl") || exit 2
    [ "$wl" != trace ] || sz=trace
    sargs=$(hr_size_args "$sz") || exit 2
    [ -z "$curve" ] || curve_args=(--curve "$curve")
    THREADS=$t
    for i in 0 1; do
        start_server "${NAMES[$i]}" "${BINS[$i]}" "$mem"
        # shellcheck disable=SC2086 # word splitting of the option strings is intended
        if ! "${PIN_CLIENT[@]}" "$LOADGEN" hitratio --server "127.0.0.1:$SERVER_PORT" \
            --server-pid "$SERVER_PID" --label "${NAMES[$i]}" --cell "$cell" --mem-mb "$mem" \
            --server-threads "$t" --keys "$HR_KEYS" --requests "$HR_REQUESTS" --seed "$HR_SEED" \
            --results "$RESULTS" "${curve_args[@]}" $wargs $sargs; then
            echo "bench.sh: hit-ratio cell failed on ${NAMES[$i]}: $cell" >&2
            echo "- cell failed on ${NAMES[$i]}: \`$cell\`" >>"$OUT/preamble.md"
        fi
        stop_server "$SERVER_PID"
    done
    "$LOADGEN" hitratio-report --results "$RESULTS" --baseline memcached --last || true
}

if [ "$HR_MODE" -eq 1 ]; then
    if [ "$QUICK" -eq 1 ]; then
        # memcached keeps at least a 1 MB page per slab class in use whatever -m says, so
        # the tiny run still needs a few MB of data to evict anything.
        HR_KEYS=${HR_KEYS:-50000}; HR_REQUESTS=${HR_REQUESTS:-100000}
        HR_MEMS=${HR_MEMS:-"8"}; HR_WORKLOADS=${HR_WORKLOADS:-"zipf99 scan"}
        HR_SIZES=${HR_SIZES:-"mixed"}; HR_THREADS=${HR_THREADS:-"1"}
        MRC_MEMS=${MRC_MEMS:-"8 16 32"}
    fi
    HR_KEYS=${HR_KEYS:-2000000}; HR_REQUESTS=${HR_REQUESTS:-2000000}
    HR_MEMS=${HR_MEMS:-"16 64 256"}; HR_WORKLOADS=${HR_WORKLOADS:-"zipf99 zipf80 onehit scan shift"}
    HR_SIZES=${HR_SIZES:-"fixed mixed"}; HR_THREADS=${HR_THREADS:-"1 4"}
    MRC_MEMS=${MRC_MEMS:-"8 16 32 64 128 256 512 1024"}
    HR_SEED=${HR_SEED:-1}
    read -r MRC_THREADS _ <<<"$HR_THREADS"
    mkdir -p "$OUT"
    RESULTS=$OUT/results.tsv
    : >"$RESULTS"
    : >"$OUT/memcached.log"
    : >"$OUT/larder.log"
    {
        echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'), host: $(uname -srm), $NCPU CPU(s): $(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -n 1)"
        echo "- memcached: \`$MEMCACHED\` ($("$MEMCACHED" -V 2>/dev/null | head -n 1 || echo '?'))"
        echo "- larder: \`$LARDER\` ($("$LARDER" -V 2>/dev/null | head -n 1 || echo '?'))"
        echo "- server flags: \`-t T -m M -c $MAX_CONNS -U 0\`, T and M as in each cell; a fresh server per cell and server"
        echo "- $PINNING"
        echo "- cache-aside client: get every request, set on a miss; $HR_KEYS keys, $HR_REQUESTS requests per run, seed $HR_SEED, 4 connections (keys split by hash), up to 64 gets per pipelined round"
        echo "- workloads: zipf99 = zipf 0.99; zipf80 = zipf 0.8; onehit = zipf 0.99 + 30% of requests to fresh keys; scan = zipf 0.99 + 20 scans over 1% of the keys (cold half); shift = zipf 0.99, popular set moves half way; sizes: fixed = 100 B, mixed = log-normal (median 300 B, sigma 1, 32 B..16 KiB)"
        [ "$QUICK" -eq 1 ] && echo "- --quick: a tiny run (checks the kit, the numbers mean little)"
    } >"$OUT/preamble.md"
    log "hit-ratio setup"
    cat "$OUT/preamble.md" >&2
    if [ "$HITRATIO" -eq 1 ]; then
        log "hit-ratio matrix: -m {$HR_MEMS} x {$HR_WORKLOADS} x {$HR_SIZES} x -t {$HR_THREADS}"
        for t in $HR_THREADS; do
            for mem in $HR_MEMS; do
                for wl in $HR_WORKLOADS; do
                    sizes=$HR_SIZES
                    [ "$wl" != trace ] || sizes=trace # once: the trace has its own sizes
                    for sz in $sizes; do
                        name="$wl $sz"; [ "$sz" != trace ] || name=$wl
                        hr_cell "$name -m $mem -t $t" "$mem" "$t" "" "$wl" "$sz"
                    done
                done
            done
        done
    fi
    if [ "$MRC" -eq 1 ]; then
        curve="$MRC_WORKLOAD $MRC_SIZES -t $MRC_THREADS"
        [ "$MRC_WORKLOAD" != trace ] || { MRC_SIZES=trace; curve="trace -t $MRC_THREADS"; }
        log "miss-ratio curve: $curve, -m {$MRC_MEMS}"
        for mem in $MRC_MEMS; do
            hr_cell "curve $curve -m $mem" "$mem" "$MRC_THREADS" "$curve" "$MRC_WORKLOAD" \
                "$MRC_SIZES"
        done
    fi
    log "hit-ratio report"
    "$LOADGEN" hitratio-report --results "$RESULTS" --out "$OUT" --preamble "$OUT/preamble.md" \
        --baseline memcached --font "$FONT"
    exit 0
fi

# --- latency under background work (--background) ----------------------------------------------
# One server at a time: fill -m 64 until it evicts, then per job: the job on its own
# connection (loadgen background) while loadgen run measures the steady load.
if [ "$BACKGROUND" -eq 1 ]; then
    BG_MEM=${BG_MEM:-64}
    DURATION=${ENV_DURATION:-$( [ "$QUICK" -eq 1 ] && echo 2 || echo 5 )}
    LARDER_EXTRA=(-e "$OUT/larder.snapshot")
    : >"$OUT/memcached.log"
    : >"$OUT/larder.log"
    {
        echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'), host: $(uname -srm), $NCPU CPU(s): $(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -n 1)"
        echo "- memcached: \`$MEMCACHED\` ($("$MEMCACHED" -V 2>/dev/null | head -n 1 || echo '?'))"
        echo "- larder: \`$LARDER\` ($("$LARDER" -V 2>/dev/null | head -n 1 || echo '?')), with \`-e FILE\` for the snapshot job"
        echo "- server flags: \`-t $THREADS -m $BG_MEM -c $MAX_CONNS -U 0\`; the cache is filled with 100 B items until it evicts before the first job"
        echo "- $PINNING"
        echo "- steady load: text, get:set 10:1, 32 B values, unpipelined, $CONNS connections, $KEYS keys (prefilled before each job), $CLIENT_THREADS client thread(s), ${DURATION} s per job; each background job on one more connection, started 0.5 s before"
        echo "- jobs: crawl = 20k items/s with exptime 1 s + \`lru_crawler crawl all\` every 100 ms; moves = fresh keys of 100 B..64 KiB (log-uniform) over the full cache with \`slabs automove 1\`; flush = 20 MB of 1 KiB items then \`flush_all\`, repeated; stats = \`stats\`, \`stats items\`, \`stats slabs\` back to back; snapshot = the \`snapshot\` command every 50 ms (larder only; memcached has none)"
    } >"$OUT/preamble.md"
    log "background-work setup"
    cat "$OUT/preamble.md" >&2
    for i in 0 1; do
        start_server "${NAMES[$i]}" "${BINS[$i]}" "$BG_MEM"
        "${PIN_CLIENT[@]}" "$LOADGEN" fill --server "127.0.0.1:$SERVER_PORT" \
            --server-pid "$SERVER_PID" --value-size 100 --mem-mb "$BG_MEM" \
            --label "${NAMES[$i]}" >&2 || echo "bench.sh: fill failed on ${NAMES[$i]}" >&2
        for job in $BG_JOBS; do
            [ "$job" = snapshot ] && [ "${NAMES[$i]}" != larder ] && continue
            log "${NAMES[$i]}: background job $job"
            "${PIN_CLIENT[@]}" "$LOADGEN" background --server "127.0.0.1:$SERVER_PORT" \
                --job "$job" --duration "$(( DURATION + 3 ))" >&2 &
            bg_pid=$!
            sleep 0.5
            loadgen_run "${NAMES[$i]}" "$SERVER_PORT" "$SERVER_PID" --protocol text \
                --ratio 10:1 --value-size 32 --pipeline 1 --connections "$CONNS" \
                --cell "bg $job" || echo "- run failed on ${NAMES[$i]}: $job" >>"$OUT/preamble.md"
            wait "$bg_pid" || echo "- background job $job failed on ${NAMES[$i]}" >>"$OUT/preamble.md"
        done
        stop_server "$SERVER_PID"
    done
    rm -f "$OUT/larder.snapshot"
    log "background-work report"
    "$LOADGEN" background-report --results "$RESULTS" --out "$OUT" --preamble "$OUT/preamble.md"
    cat "$OUT/background.md"
    exit 0
fi

# --- scaling (--scaling) -------------------------------------------------------------------------
# Per -t: the server pinned to cores 0..t-1, the client to the other cores (all of them when
# t is the core count: then they share, and the report says so), both servers, three cells.
if [ "$SCALING" -eq 1 ]; then
    if [ -z "$SCALE_TS" ]; then
        t=1
        while [ "$t" -lt "$NCPU" ]; do SCALE_TS="$SCALE_TS $t"; t=$(( t * 2 )); done
        SCALE_TS="$SCALE_TS $NCPU"
    fi
    DURATION=${ENV_DURATION:-$( [ "$QUICK" -eq 1 ] && echo 2 || echo 5 )}
    SCALE_CONNS=${SCALE_CONNS:-200}
    KEYS=${SCALE_KEYS:-100000}
    : >"$OUT/memcached.log"
    : >"$OUT/larder.log"
    {
        echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'), host: $(uname -srm), $NCPU CPU(s): $(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -n 1)"
        echo "- memcached: \`$MEMCACHED\` ($("$MEMCACHED" -V 2>/dev/null | head -n 1 || echo '?'))"
        echo "- larder: \`$LARDER\` ($("$LARDER" -V 2>/dev/null | head -n 1 || echo '?'))"
        echo "- server flags: \`-t T -m $MEM_MB -c $MAX_CONNS -U 0\`, T in {$SCALE_TS}; server on CPUs 0..T-1, client on CPUs ${SCALE_CLIENT_CPUS:-"T..$(( NCPU - 1 )) (all CPUs shared when T = $NCPU)"} (taskset)"
        echo "- load: get:set 10:1, 32 B values, $SCALE_CONNS connections, $KEYS keys (prefilled), ${DURATION} s per cell, closed loop"
    } >"$OUT/preamble.md"
    log "scaling setup"
    cat "$OUT/preamble.md" >&2
    MAX_CONNS=$(( SCALE_CONNS + 64 > MAX_CONNS ? SCALE_CONNS + 64 : MAX_CONNS ))
    for t in $SCALE_TS; do
        THREADS=$t
        if command -v taskset >/dev/null; then
            PIN_SERVER=(taskset -c "0-$(( t - 1 ))")
            if [ -n "${SCALE_CLIENT_CPUS:-}" ]; then
                # A fixed client set (the issue's matrix: 8 client cores on a 16-core machine).
                PIN_CLIENT=(taskset -c "$SCALE_CLIENT_CPUS")
                CLIENT_THREADS=$(taskset -c "$SCALE_CLIENT_CPUS" nproc)
            elif [ "$t" -lt "$NCPU" ]; then
                PIN_CLIENT=(taskset -c "$t-$(( NCPU - 1 ))"); CLIENT_THREADS=$(( NCPU - t ))
            else
                PIN_CLIENT=(taskset -c "0-$(( NCPU - 1 ))"); CLIENT_THREADS=$NCPU
            fi
        fi
        for i in 0 1; do
            start_server "${NAMES[$i]}" "${BINS[$i]}" "$MEM_MB"
            for spec in text:1 binary:16 text:16; do
                proto=${spec%%:*}; depth=${spec##*:}
                loadgen_run "${NAMES[$i]}" "$SERVER_PORT" "$SERVER_PID" --protocol "$proto" \
                    --ratio 10:1 --value-size 32 --pipeline "$depth" \
                    --connections "$SCALE_CONNS" --cell "scale t=$t $proto d$depth" ||
                    echo "- cell failed on ${NAMES[$i]}: t=$t $spec" >>"$OUT/preamble.md"
            done
            stop_server "$SERVER_PID"
        done
    done
    log "scaling report"
    "$LOADGEN" scaling-report --results "$RESULTS" --out "$OUT" --preamble "$OUT/preamble.md" \
        --font "$FONT"
    cat "$OUT/scaling.md"
    exit 0
fi

# --- TLS mode (--tls) --------------------------------------------------------------------------
# Both servers with -Z and the same certificate and session cache; the load generator speaks
# TLS to the TLS listener and prefills through the plain one (-l notls:).
if [ "$TLS" -eq 1 ]; then
    CERTS=$OUT/certs
    mkdir -p "$OUT"
    "$LOADGEN" certs --out "$CERTS"
    TLS_ARGS=(-Z -o "ssl_chain_cert=$CERTS/cert.pem,ssl_key=$CERTS/key.pem,ssl_session_cache")
    RESULTS=$OUT/results.tsv
    : >"$RESULTS"
    : >"$OUT/memcached.log"
    : >"$OUT/larder.log"
    [ "$QUICK" -eq 0 ] || TLS_SIZES=${TLS_SIZES:-32} # --quick: 32 B only, 1 s per cell
    TLS_SIZES=${TLS_SIZES:-"32 16384"}
    {
        echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'), host: $(uname -srm), $NCPU CPU(s): $(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -n 1)"
        echo "- memcached: \`$MEMCACHED\` ($("$MEMCACHED" -V 2>/dev/null | head -n 1 || echo '?')), Debian's build with OpenSSL"
        echo "- larder: \`$LARDER\` ($("$LARDER" -V 2>/dev/null | head -n 1 || echo '?')), rustls with ring"
        echo "- server flags: \`-t $THREADS -m $MEM_MB -c $MAX_CONNS -U 0 -Z -o ssl_chain_cert=..,ssl_key=..,ssl_session_cache\`, ECDSA P-256 certificate"
        echo "- $PINNING"
        echo "- $PERF_NOTE"
        echo "- load generator: rustls client (TLS 1.3, ring); $CLIENT_THREADS client thread(s), $CONNS connections handshaken before measuring, $KEYS keys prefilled over a plain \`notls:\` listener, uniform keys, closed loop, ${DURATION} s per cell"
        echo "- handshake cells: 4 client threads, each: connect, handshake, \`version\`, close_notify, close; \"full\": no client session cache; \"resumed\": the client resumes (hit% = share resumed); req/s = handshakes/s, cpu/req = server CPU per handshake"
    } >"$OUT/preamble.md"
    log "TLS setup"
    cat "$OUT/preamble.md" >&2
    for i in 0 1; do
        start_server "${NAMES[$i]}" "${BINS[$i]}" "$MEM_MB"
        PORTS[i]=$SERVER_PORT
        PLAIN[i]=$PLAIN_PORT
        SPIDS[i]=$SERVER_PID
    done
    for size in $TLS_SIZES; do
        for depth in $DEPTHS; do
            for i in 0 1; do
                loadgen_run "${NAMES[$i]}" "${PORTS[$i]}" "${SPIDS[$i]}" --protocol text \
                    --ratio 10:1 --value-size "$size" --pipeline "$depth" --connections "$CONNS" \
                    --tls-ca "$CERTS/ca.pem" --prefill-server "127.0.0.1:${PLAIN[$i]}" \
                    --cell "tls text 10:1 ${size}B d$depth c$CONNS" ||
                    echo "- cell failed on ${NAMES[$i]}: tls ${size}B d$depth" >>"$OUT/preamble.md"
            done
            "$LOADGEN" ratio --results "$RESULTS" --baseline memcached || true
        done
    done
    for mode in full resumed; do
        resume=()
        [ "$mode" = full ] || resume=(--resume)
        for i in 0 1; do
            "${PIN_CLIENT[@]}" "$LOADGEN" handshakes --server "127.0.0.1:${PORTS[$i]}" \
                --server-pid "${SPIDS[$i]}" --tls-ca "$CERTS/ca.pem" "${resume[@]}" \
                --threads 4 --duration "$DURATION" --label "${NAMES[$i]}" \
                --results "$RESULTS" ||
                echo "- handshake cell failed on ${NAMES[$i]}: $mode" >>"$OUT/preamble.md"
        done
        "$LOADGEN" ratio --results "$RESULTS" --baseline memcached || true
    done
    for i in 0 1; do
        stop_server "${SPIDS[$i]}"
    done
    log "report"
    "$LOADGEN" report --results "$RESULTS" --out "$OUT" --preamble "$OUT/preamble.md" \
        --baseline memcached --font "$FONT"
    exit 0
fi

# --- preamble of the report ----------------------------------------------------------------
{
    echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'), host: $(uname -srm), $NCPU CPU(s): $(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -n 1)"
    echo "- memcached: \`$MEMCACHED\` ($("$MEMCACHED" -V 2>/dev/null | head -n 1 || echo '?'))"
    echo "- larder: \`$LARDER\` ($("$LARDER" -V 2>/dev/null | head -n 1 || echo '?'))"
    echo "- server flags: \`-t $THREADS -m $MEM_MB -c $MAX_CONNS -U 0\` (memory mode: \`-m\` as listed)"
    echo "- $PINNING"
    echo "- $PERF_NOTE"
    echo "- load generator: $CLIENT_THREADS client thread(s), $CONNS connections, $KEYS keys (prefilled), uniform keys, closed loop, ${DURATION} s per cell$( [ "$QUICK" -eq 1 ] && echo ' (--quick)')"
    echo "- each cell runs on memcached, then immediately on larder (both servers up at once, only one under load)"
} >"$OUT/preamble.md"
log "setup"
cat "$OUT/preamble.md" >&2

# --- throughput and latency matrix -----------------------------------------------------------
PORTS=()
SPIDS=()
for i in 0 1; do
    start_server "${NAMES[$i]}" "${BINS[$i]}" "$MEM_MB"
    PORTS[i]=$SERVER_PORT
    SPIDS[i]=$SERVER_PID
done

# A server that crashed is restarted (and the report says so) so that one crash does not
# cost the rest of the comparison.
alive() {
    local state
    state=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)
    [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}
ensure_running() {
    local i=$1
    alive "${SPIDS[$i]}" && return 0
    echo "bench.sh: ${NAMES[$i]} (pid ${SPIDS[$i]}) is gone; restarting it" >&2
    echo "- **${NAMES[$i]} crashed or exited during the matrix and was restarted** (see ${NAMES[$i]}.log)" \
        >>"$OUT/preamble.md"
    stop_server "${SPIDS[$i]}"
    start_server "${NAMES[$i]}" "${BINS[$i]}" "$MEM_MB"
    PORTS[i]=$SERVER_PORT
    SPIDS[i]=$SERVER_PID
}
cell() { # runs one cell on each server in turn
    local i
    for i in 0 1; do
        ensure_running "$i"
        if ! loadgen_run "${NAMES[$i]}" "${PORTS[$i]}" "${SPIDS[$i]}" "$@"; then
            echo "bench.sh: cell failed on ${NAMES[$i]}: $*" >&2
            echo "- cell failed on ${NAMES[$i]}: \`$*\`" >>"$OUT/preamble.md"
        fi
    done
    "$LOADGEN" ratio --results "$RESULTS" --baseline memcached || true
}

log "workload matrix"
for proto in $PROTOCOLS; do
    for ratio in $RATIOS; do
        for size in $SIZES; do
            for depth in $DEPTHS; do
                cell --protocol "$proto" --ratio "$ratio" --value-size "$size" \
                    --pipeline "$depth" --connections "$CONNS"
            done
        done
    done
done
PING_PROTOCOLS="text"
[ "$QUICK" -eq 1 ] || PING_PROTOCOLS="text binary"
for proto in $PING_PROTOCOLS; do
    cell --protocol "$proto" --ratio 10:1 --value-size 32 --pipeline 1 --connections 1 \
        --cell "ping-pong $proto 32B c1"
done
# Open loop at a fixed rate: latency from each request's scheduled send time.
OPEN_RATE=${OPEN_RATE:-20000}
cell --protocol text --ratio 10:1 --value-size 32 --pipeline 1 --connections "$CONNS" \
    --rate "$OPEN_RATE" --cell "open-loop text 32B c$CONNS @${OPEN_RATE}/s"
for i in 0 1; do
    stop_server "${SPIDS[$i]}"
done

# --- memory efficiency -------------------------------------------------------------------------
if [ "$MEMORY" -eq 1 ]; then
    log "memory efficiency: distinct keys until the first eviction"
    for mem in $FILL_MEMS; do
        for size in $FILL_SIZES; do
            for i in 0 1; do
                start_server "${NAMES[$i]}" "${BINS[$i]}" "$mem"
                if ! "${PIN_CLIENT[@]}" "$LOADGEN" fill --server "127.0.0.1:$SERVER_PORT" \
                    --server-pid "$SERVER_PID" --value-size "$size" --mem-mb "$mem" \
                    --label "${NAMES[$i]}" --results "$RESULTS"; then
                    echo "bench.sh: memory fill failed on ${NAMES[$i]} (-m $mem, ${size} B)" >&2
                    echo "- memory fill failed on ${NAMES[$i]} (-m $mem, ${size} B)" >>"$OUT/preamble.md"
                fi
                stop_server "$SERVER_PID"
            done
        done
    done
fi

# --- report ------------------------------------------------------------------------------------
log "report"
"$LOADGEN" report --results "$RESULTS" --out "$OUT" --preamble "$OUT/preamble.md" \
    --baseline memcached --font "$FONT"
