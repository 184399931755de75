#!/usr/bin/env bash
# Runs every test larder has, after installing what the tests need:
# memcached (the reference server the suites can be pointed at), libmemcached-tools
# (memccapable; memccp and memcaslap for the UDP tests), nutcracker (twemproxy, in front
# of larder in larder-ring's proxy test), php-cli with php-memcached (getAllKeys()), and
# the Python clients used by the interop tests.
# Usage: scripts/test.sh            (from anywhere inside the repository)
set -euo pipefail
cd "$(dirname "$0")/.."
# Nothing here reads standard input.
exec </dev/null

log() { printf '\n==> [%ss] %s\n' "$SECONDS" "$*"; }

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# The Python clients live in a virtual environment of their own under target/: Debian 12
# and later refuse pip installs into the system Python (externally-managed-environment).
PYENV="${CARGO_TARGET_DIR:-$PWD/target}/pyenv"
have_clients() {
  "$PYENV/bin/python3" -c 'import pymemcache, bmemcached, meta_memcache, prometheus_client' >/dev/null 2>&1
}

need_apt=()
command -v memcached >/dev/null 2>&1 || need_apt+=(memcached)
command -v memccapable >/dev/null 2>&1 || need_apt+=(libmemcached-tools)
# tests/tls.rs: `openssl s_client` as a TLS client.
command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)
# twemproxy, for larder-ring's proxy test (tests/nutcracker.rs); Debian puts it in /usr/sbin.
command -v nutcracker >/dev/null 2>&1 || [ -x /usr/sbin/nutcracker ] || need_apt+=(nutcracker)
# tests/systemd.rs: `systemd-analyze verify` of scripts/larder.service (no running systemd needed).
command -v systemd-analyze >/dev/null 2>&1 || need_apt+=(systemd)
# PHP with php-memcached, for tests/interop.rs's getAllKeys() test.
command -v php >/dev/null 2>&1 || need_apt+=(php-cli)
php -r 'exit(class_exists("Memcached") ? 0 : 1);' >/dev/null 2>&1 || need_apt+=(php-memcached)
if ! have_clients; then
  rm -rf "$PYENV"
  mkdir -p "$(dirname "$PYENV")"
  if ! command -v python3 >/dev/null 2>&1; then
    need_apt+=(python3 python3-venv)
  elif ! python3 -m venv "$PYENV" >/dev/null 2>&1; then
    # Debian's python3 creates venvs only with python3-venv (ensurepip) installed.
    rm -rf "$PYENV"
    need_apt+=(python3-venv)
  fi
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  log "installing ${need_apt[*]}"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
if ! have_clients; then
  [ -x "$PYENV/bin/python3" ] || python3 -m venv "$PYENV"
  log "installing pymemcache, python-binary-memcached, meta-memcache and prometheus-client into $PYENV"
  "$PYENV/bin/python3" -m pip install --quiet --disable-pip-version-check \
    pymemcache python-binary-memcached meta-memcache prometheus-client
fi
# Every Python step and test uses the venv: tests/interop.rs runs $LARDER_TEST_PYTHON (and
# `python3` on PATH is the venv's for anything else).
export LARDER_TEST_PYTHON="$PYENV/bin/python3"
export PATH="$PYENV/bin:$PATH"

log "cargo fmt --check"
cargo fmt --all -- --check

log "cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings

log "cargo test (all crates, all suites)"
cargo build --workspace --bins
LARDER_RING_SERVER="${CARGO_TARGET_DIR:-$PWD/target}/debug/larder" cargo test --workspace

# The benches' self-checks run from the test build (`cargo test --bench '*'` builds the
# bench targets with the test profile, on the dependencies the test suites already built):
# `cargo bench` would build every dependency again with the optimised bench profile just to
# run each benchmark once. Criterion and the load generator both take `--test` as "run
# once". (`--bench '*'`, not `--benches`, which would rerun the libraries' unit tests.)
log "benches run once (cargo test --bench '*' -- --test)"
cargo test --workspace --bench '*' -- --test

# The fuzz targets, briefly (10 s each, about 50 s in all plus their build); longer runs:
# scripts/fuzz.sh SECONDS. Needs nightly and cargo-fuzz: installed here if they can be, and
# skipped with a "fuzz: skipped: why" line if not (CI does not fail for want of a network).
log "fuzz targets, 10 s each (scripts/fuzz.sh 10)"
FUZZ_OPTIONAL=1 FUZZ_SANITIZER=none scripts/fuzz.sh 10

if [ -x scripts/bench.sh ]; then
  log "benchmark kit, quick mode (reports only; never judged)"
  scripts/bench.sh --quick
  log "hit-ratio kit, quick mode (reports only; never judged)"
  scripts/bench.sh --hitratio --mrc --quick
  log "TLS kit, quick mode (reports only; never judged)"
  scripts/bench.sh --tls --quick
fi
log "all tests passed"
