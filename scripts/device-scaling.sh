#!/usr/bin/env bash
# The scaling matrix of issue #12 on a lent many-core machine that has no compiler, no
# package manager and no network (see the device notes of the tool library).
#
#   scripts/device-scaling.sh bundle   here: release larder + load generator, bundled with
#                                      memcached, every shared library they load and the
#                                      chart font into target/bench-bundle (make-bundle.sh)
#   scripts/device-scaling.sh run      there, from the repository root with target/bench-bundle
#                                      carried: scripts/bench.sh --scaling with the bundled
#                                      programs, results into $OUT (default target/device-out)
#
# The matrix (the issue's): -t 1 2 4 8, server on CPUs 0..t-1, the client on CPUs 8..15
# (8 client threads), 200 connections, 32 B values, get:set 10:1, 100k keys; cells text
# unpipelined, binary depth 16, text depth 16; both servers with the same flags, 5 s a cell.
# About 4 x 2 x 3 x 7 s = 3 minutes. SCALE_TS, SCALE_CLIENT_CPUS and BENCH_DURATION override.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
BUNDLE=$TARGET/bench-bundle
MAKE_BUNDLE=${MAKE_BUNDLE:-$ROOT/../shared/bench-bundle/make-bundle.sh}

bundle() {
    cd "$ROOT"
    cargo build --release --bin larder >&2
    local loadgen
    loadgen=$(cargo build --release --bench loadgen --message-format=json 2>/dev/null |
        sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | grep loadgen | tail -n 1)
    [ -x "$loadgen" ] || { echo "device-scaling.sh: no load generator" >&2; exit 1; }
    [ -x /usr/bin/memcached ] || { echo "device-scaling.sh: apt-get install memcached" >&2; exit 1; }
    [ -x "$MAKE_BUNDLE" ] || { echo "device-scaling.sh: $MAKE_BUNDLE missing" >&2; exit 1; }
    rm -rf "$BUNDLE"
    "$MAKE_BUNDLE" "$BUNDLE" "$TARGET/release/larder" /usr/bin/memcached "$loadgen"
    # taskset and nproc too (util-linux/coreutils may be absent there), and the font.
    "$MAKE_BUNDLE" "$BUNDLE" "$(command -v taskset)" "$(command -v nproc)" >/dev/null
    cp /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf "$BUNDLE/" 2>/dev/null || true
    # Wrappers that bench.sh can run as plain paths; `exec` keeps the server's PID, so the
    # load generator's /proc CPU figures are the server's own.
    mkdir -p "$BUNDLE/wrap"
    for n in larder memcached loadgen taskset nproc; do
        printf '#!/usr/bin/env bash\nexec "$(dirname "$0")/../run" %s "$@"\n' "$n" >"$BUNDLE/wrap/$n"
        chmod +x "$BUNDLE/wrap/$n"
    done
    du -sh "$BUNDLE"
}

run() {
    cd "$ROOT"
    [ -x "$BUNDLE/run" ] || { echo "device-scaling.sh: no bundle at $BUNDLE (carry it)" >&2; exit 1; }
    local out=${OUT:-$TARGET/device-out}
    mkdir -p "$out"
    # The bundled taskset/nproc first on PATH when the machine has none.
    command -v taskset >/dev/null || PATH=$BUNDLE/wrap:$PATH
    command -v nproc >/dev/null || PATH=$BUNDLE/wrap:$PATH
    export PATH
    {
        echo "nproc: $(nproc)"
        uname -a
        sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -n 1
    } >"$out/machine.txt"
    SCALE_TS=${SCALE_TS:-"1 2 4 8"} SCALE_CLIENT_CPUS=${SCALE_CLIENT_CPUS:-8-15} \
    BENCH_FONT=$BUNDLE/DejaVuSans.ttf \
        "$ROOT/scripts/bench.sh" --scaling --out "$out" \
        --larder "$BUNDLE/wrap/larder" --memcached "$BUNDLE/wrap/memcached" \
        --loadgen "$BUNDLE/wrap/loadgen" --scale-ts "${SCALE_TS:-1 2 4 8}" \
        2>"$out/bench.log"
}

case "${1:-}" in
    bundle) bundle ;;
    run) run ;;
    *) echo "usage: $0 bundle|run" >&2; exit 2 ;;
esac
