#!/usr/bin/env bash
# Snapshot (-e) benchmarks; results go to docs/bench/snapshot.md (or --out FILE).
#
#   scripts/snapshot_bench.sh [--speed] [--restart] [--coldstart] [--quick] [--out FILE]
#
# --speed      write and load 1 GiB of 100-byte and of 4 KiB values in process
#              (examples/snapshot_speed.rs), next to `dd bs=1M count=1024 conv=fdatasync`
#              into the same directory in the same run (the device's sequential write speed)
#              and `dd iflag=direct` reading that file back (its sequential read speed)
# --restart    daemon restarts: larder -e (file on disk) against memcached 1.6.18 -e on
#              /dev/shm (its restartable mode), same items filled over TCP by loadgen: time
#              to stop, time until the restarted server accepts connections, items back
# --coldstart  hit ratio right after a restart, with and without -e: loadgen hitratio
#              (cache-aside: get, set on a miss) warms a cache, measures a steady window,
#              the server is restarted (SIGTERM) and the same window is replayed at once
# (no mode: all three). --quick: 64 MiB instead of 1 GiB, short hit-ratio windows (CI).
# SNAP_DIR (default /var/tmp/larder-snapbench) holds the files; it should be on the disk
# a production snapshot would use (not tmpfs).
set -euo pipefail
cd "$(dirname "$0")/.."
exec </dev/null

SPEED=0 RESTART=0 COLD=0 QUICK=0
OUT=docs/bench/snapshot.md
while [ $# -gt 0 ]; do
    case "$1" in
        --speed) SPEED=1 ;;
        --restart) RESTART=1 ;;
        --coldstart) COLD=1 ;;
        --quick) QUICK=1 ;;
        --out) OUT=$2; shift ;;
        *) echo "unknown option $1" >&2; exit 64 ;;
    esac
    shift
done
if [ $((SPEED + RESTART + COLD)) -eq 0 ]; then SPEED=1 RESTART=1 COLD=1; fi
BYTES=1g BYTES_N=$((1 << 30))
if [ "$QUICK" = 1 ]; then BYTES=64m BYTES_N=$((64 << 20)); fi
DIR=${SNAP_DIR:-/var/tmp/larder-snapbench}
mkdir -p "$DIR"
TARGET=${CARGO_TARGET_DIR:-$PWD/target}
MEMCACHED=${MEMCACHED:-/usr/bin/memcached}
# Both servers refuse to run as root without -u.
RUNAS=()
if [ "$(id -u)" -eq 0 ]; then RUNAS=(-u root); fi

log() { printf '\n==> %s\n' "$*" >&2; }

[ -n "${SKIP_BUILD:-}" ] || cargo build --release --quiet --bin larder --example snapshot_speed
LARDER=$TARGET/release/larder
# LOADGEN=path reuses a built loadgen (cargo bench --bench loadgen --no-run prints it).
LOADGEN=${LOADGEN:-}
if [ $((RESTART + COLD)) -gt 0 ] && [ -z "$LOADGEN" ]; then
    LOADGEN=$(cargo bench --bench loadgen --no-run --message-format=json 2>/dev/null |
        sed -n 's/.*"executable":"\([^"]*loadgen[^"]*\)".*/\1/p' | tail -1)
    [ -x "$LOADGEN" ] || { echo "loadgen binary not found" >&2; exit 1; }
fi

TMP_OUT=$(mktemp)
trap 'rm -f "$TMP_OUT"; [ -n "${PID:-}" ] && kill -9 "$PID" 2>/dev/null || true' EXIT
emit() { printf '%s\n' "$*" | tee -a "$TMP_OUT"; }

now() { date +%s.%N; }
secs_since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }'; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
stat_of() { # port name
    python3 - "$1" "$2" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=120)
s.sendall(b"stats\r\n")
buf = b""
while not buf.endswith(b"END\r\n"):
    buf += s.recv(65536)
for line in buf.decode().splitlines():
    f = line.split()
    if len(f) == 3 and f[0] == "STAT" and f[1] == sys.argv[2]:
        print(f[2])
PY
}
wait_up() { "$LOADGEN" wait --server "127.0.0.1:$1" --timeout 120 --server-pid "$2" >/dev/null; }
wait_gone() { while kill -0 "$1" 2>/dev/null; do sleep 0.01; done; }

emit "# Snapshot benchmarks"
emit ""
emit "Run $(date -u +%Y-%m-%dT%H:%MZ) on $(nproc) cores ($(uname -r)), files in $DIR"
emit "($(df -h --output=source,fstype "$DIR" | tail -1 | tr -s ' ')); $($MEMCACHED -V 2>/dev/null || echo 'memcached not installed')."
emit "Produced by \`scripts/snapshot_bench.sh$([ "$QUICK" = 1 ] && echo ' --quick')\`."

if [ "$SPEED" = 1 ]; then
    log "dd: sequential write speed of $DIR"
    DD=$(dd if=/dev/zero of="$DIR/dd.bin" bs=1M count=$((BYTES_N >> 20)) conv=fdatasync 2>&1 | tail -1)
    # The device's sequential read speed (O_DIRECT: from the disk, not the page cache), the
    # bound of a cold restore.
    DD_READ=$(dd if="$DIR/dd.bin" of=/dev/null bs=1M iflag=direct 2>&1 | tail -1)
    rm -f "$DIR/dd.bin"
    emit ""
    emit "## Snapshot and restore speed (in process, $BYTES of values)"
    emit ""
    emit "dd if=/dev/zero bs=1M conv=fdatasync: $DD"
    emit ""
    emit "dd of=/dev/null bs=1M iflag=direct: $DD_READ"
    emit ""
    emit '```'
    for v in 100 4096; do
        log "snapshot_speed --value $v"
        "$TARGET/release/examples/snapshot_speed" --dir "$DIR" --value "$v" --bytes "$BYTES" |
            tee -a "$TMP_OUT"
    done
    emit '```'
fi

if [ "$RESTART" = 1 ]; then
    emit ""
    emit "## Restart of a full daemon ($BYTES of values, filled over TCP by loadgen fill)"
    emit ""
    emit "| server | value | items before | stop (s) | start until accepting (s) | items after |"
    emit "|---|---:|---:|---:|---:|---:|"
    for v in 100 4096; do
        n=$((BYTES_N / v))
        for server in larder memcached; do
            [ "$server" = memcached ] && [ ! -x "$MEMCACHED" ] && continue
            port=$(free_port)
            if [ "$server" = larder ]; then
                file="$DIR/larder-restart.snap"
                args=("$LARDER" "${RUNAS[@]}" -p "$port" -l 127.0.0.1 -m 3072 -t 2 -e "$file")
            else
                file=/dev/shm/memcached-restart.mem
                args=("$MEMCACHED" "${RUNAS[@]}" -p "$port" -l 127.0.0.1 -m 3072 -t 2 -e "$file" -U 0)
            fi
            rm -f "$file" "$file.tmp" "$file.meta"
            log "$server value=$v: fill $n items"
            "${args[@]}" & PID=$!
            wait_up "$port" "$PID"
            "$LOADGEN" fill --server "127.0.0.1:$port" --server-pid "$PID" --value-size "$v" \
                --mem-mb 3072 --max-items "$n" >/dev/null
            before=$(stat_of "$port" curr_items || echo '?')
            t=$(now)
            if [ "$server" = larder ]; then kill -TERM "$PID"; else kill -USR1 "$PID"; fi
            wait "$PID" || true
            stop=$(secs_since "$t")
            sync
            t=$(now)
            "${args[@]}" & PID=$!
            wait_up "$port" "$PID"
            start=$(secs_since "$t")
            after=$(stat_of "$port" curr_items || echo '?')
            kill -9 "$PID"; wait "$PID" 2>/dev/null || true; PID=""
            rm -f "$file" "$file.tmp" "$file.meta"
            emit "| $server | $v | $before | $stop | $start | $after |"
        done
    done
    emit ""
    emit "larder's stop includes writing the snapshot to disk with fsync; memcached's -e keeps its"
    emit "memory in /dev/shm (lost at a reboot) and writes only its metadata at SIGUSR1."
fi

if [ "$COLD" = 1 ]; then
    if [ "$QUICK" = 1 ]; then
        KEYS=200000 WARM=400000 WINDOW=100000 MEM=16
    else
        KEYS=2000000 WARM=4000000 WINDOW=${SNAP_WINDOW:-0} MEM=64
    fi
    HR=(--keys "$KEYS" --zipf 0.99 --sizes lognormal -c 4)
    emit ""
    emit "## Cold-start burst: hit ratio right after a restart"
    emit ""
    emit "loadgen hitratio ${HR[*]} against larder -m $MEM -t 2, a fresh server per row: a warm-up"
    emit "of $WARM requests, then the first requests of the same stream again (the window, about"
    emit "10 s here) on the warm server, then the row's restart, then the window once more."
    emit "(The stream's seed also picks which keys are popular, so every run uses seed 1.)"
    emit ""
    emit "| restart before the measured window | hit ratio of the window before | hit ratio of the window after | requests | seconds |"
    emit "|---|---:|---:|---:|---:|"
    hitratio_line() { # port pid seed requests -> "ratio requests secs"
        "$LOADGEN" hitratio --server "127.0.0.1:$1" --server-pid "$2" "${HR[@]}" \
            --seed "$3" --requests "$4" |
            python3 -c '
import re, sys
text = sys.stdin.read()
ratio = re.search(r"hit\s+([0-9.]+)%", text)
secs = re.search(r"([0-9.]+) s \(", text)
reqs = re.search(r"gets (\d+)", text)
print(ratio.group(1) + "%" if ratio else "?", reqs.group(1) if reqs else "?", secs.group(1) if secs else "?")
' || echo "? ? ?"
    }
    for mode in none with-e without-e; do
        port=$(free_port)
        file="$DIR/coldstart.snap"
        rm -f "$file"
        args=("$LARDER" "${RUNAS[@]}" -p "$port" -l 127.0.0.1 -m "$MEM" -t 2 -e "$file")
        "${args[@]}" & PID=$!
        wait_up "$port" "$PID"
        log "coldstart $mode: warm-up"
        read -r _ wreqs wsecs <<<"$(hitratio_line "$port" "$PID" 1 "$WARM")"
        if [ "$WINDOW" = 0 ]; then
            # About 10 s of requests at the warm-up's rate.
            WINDOW=$(awk -v r="$wreqs" -v s="$wsecs" 'BEGIN { n = (s > 0 && r > 0) ? int(r / s * 10) : 1000000; print (n < 100000 ? 100000 : n) }')
        fi
        read -r before _ _ <<<"$(hitratio_line "$port" "$PID" 1 "$WINDOW")"
        if [ "$mode" != none ]; then
            kill -TERM "$PID"; wait "$PID" || true
            [ "$mode" = without-e ] && rm -f "$file"
            "${args[@]}" & PID=$!
            wait_up "$port" "$PID"
        fi
        read -r ratio n s <<<"$(hitratio_line "$port" "$PID" 1 "$WINDOW")"
        kill -9 "$PID"; wait "$PID" 2>/dev/null || true; PID=""
        case $mode in
            none) label="none (the warm server goes on)" ;;
            with-e) label="SIGTERM, restart with -e" ;;
            *) label="SIGTERM, restart without -e (cold)" ;;
        esac
        emit "| $label | $before | $ratio | $n | $s |"
        rm -f "$file"
    done
fi

mkdir -p "$(dirname "$OUT")"
cp "$TMP_OUT" "$OUT"
log "results in $OUT"
