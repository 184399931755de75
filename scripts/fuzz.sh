#!/usr/bin/env bash
# Runs every cargo-fuzz target (fuzz/: text, meta, binary, auth, config) for SECONDS each
# (default 300), starting from the checked-in seeds (fuzz/seeds/<target>) plus whatever
# earlier runs left in fuzz/corpus/<target> (kept locally, not checked in). A crash stops
# the run; libFuzzer writes the input to fuzz/artifacts/<target>/ and prints how to replay it
# (cargo +nightly fuzz run <target> fuzz/artifacts/<target>/crash-...).
#
# Usage: scripts/fuzz.sh [SECONDS] [TARGET...]
# Needs a nightly toolchain and cargo-fuzz (cargo install --locked cargo-fuzz). With
# FUZZ_OPTIONAL=1 (what scripts/test.sh sets), a missing toolchain or cargo-fuzz that
# cannot be installed prints "fuzz: skipped: <why>" and exits 0 instead of failing.
set -euo pipefail
cd "$(dirname "$0")/.."
exec </dev/null

secs="${1:-300}"
# FUZZ_SANITIZER=none builds without AddressSanitizer: the targets are safe Rust, so a
# panic is what they look for, and the uninstrumented build takes a fraction of the time
# (what scripts/test.sh uses); longer runs keep ASan by default.
san="${FUZZ_SANITIZER:-address}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(text meta binary auth config)

skip() {
  if [ "${FUZZ_OPTIONAL:-0}" = 1 ]; then
    echo "fuzz: skipped: $*"
    exit 0
  fi
  echo "fuzz: $*" >&2
  exit 1
}

if ! cargo +nightly --version >/dev/null 2>&1; then
  echo "fuzz: installing the nightly toolchain (rustup, minimal profile)"
  rustup toolchain install nightly --profile minimal >/dev/null 2>&1 \
    || skip "no nightly toolchain, and rustup could not install one (offline?)"
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz: installing cargo-fuzz (cargo install --locked cargo-fuzz)"
  cargo install --locked --quiet cargo-fuzz >/dev/null 2>&1 \
    || skip "cargo-fuzz is not installed and could not be installed (offline?)"
fi

cd fuzz
# Build every target once (release, debug assertions on, as cargo fuzz does by default).
if ! cargo +nightly fuzz build --sanitizer "$san" >/tmp/larder-fuzz-build.$$ 2>&1; then
  if [ "${FUZZ_OPTIONAL:-0}" = 1 ] && grep -qiE 'failed to (download|get|fetch|load source)|could not resolve|network|spurious' /tmp/larder-fuzz-build.$$; then
    rm -f /tmp/larder-fuzz-build.$$
    skip "the fuzz crate's dependencies (libfuzzer-sys) could not be fetched (offline?)"
  fi
  cat /tmp/larder-fuzz-build.$$ >&2
  rm -f /tmp/larder-fuzz-build.$$
  echo "fuzz: the targets do not build" >&2
  exit 1
fi
rm -f /tmp/larder-fuzz-build.$$
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t"
  echo "fuzz: $t for ${secs}s"
  # -rss_limit_mb: a target that allocates past it is a bug too.
  log="target/fuzz-$t.log"
  mkdir -p target
  if ! cargo +nightly fuzz run --sanitizer "$san" "$t" "corpus/$t" "seeds/$t" -- \
    -max_total_time="$secs" -rss_limit_mb=1024 -print_final_stats=1 >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    echo "fuzz: $t FAILED (input saved under fuzz/artifacts/$t/, log in fuzz/$log)" >&2
    exit 1
  fi
  grep -E '^(#[0-9]+ +DONE|stat::number_of_executed_units|stat::peak_rss_mb)' "$log" | tr '\n' ' ' || true
  echo
done
echo "fuzz: all ${#targets[@]} targets ran ${secs}s each without a failure"
