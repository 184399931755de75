#!/usr/bin/env bash
# Runs every test larder has, after installing what the tests need:
# memcached (the reference server the suites can be pointed at), libmemcached-tools
# (memccapable), and the Python clients used by the interop tests.
# Usage: scripts/test.sh            (from anywhere inside the repository)
set -euo pipefail
cd "$(dirname "$0")/.."
# Nothing here reads standard input.
exec </dev/null

log() { printf '\n==> %s\n' "$*"; }

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

need_apt=()
command -v memcached >/dev/null 2>&1 || need_apt+=(memcached)
command -v memccapable >/dev/null 2>&1 || need_apt+=(libmemcached-tools)
if [ ${#need_apt[@]} -gt 0 ]; then
  log "installing ${need_apt[*]}"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
if ! python3 -c 'import pymemcache, bmemcached, meta_memcache' >/dev/null 2>&1; then
  log "installing pymemcache, python-binary-memcached and meta-memcache"
  python3 -m pip install --quiet pymemcache python-binary-memcached meta-memcache
fi

log "cargo fmt --check"
cargo fmt --all -- --check

log "cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings

log "cargo test (all crates, all suites)"
cargo build --workspace --bins
LARDER_RING_SERVER="${CARGO_TARGET_DIR:-$PWD/target}/debug/larder" cargo test --workspace

log "benches run once (cargo bench -- --test)"
cargo bench --workspace -- --test

if [ -x scripts/bench.sh ]; then
  log "benchmark kit, quick mode (reports only; never judged)"
  scripts/bench.sh --quick
fi
log "all tests passed"
