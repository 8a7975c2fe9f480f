#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for FUZZ_SECONDS (default 20) each, starting from the
# seeds in fuzz/seeds/<target>/ and a fresh corpus in a temporary directory (the tree stays
# clean). Where no nightly toolchain or no cargo-fuzz is installed, it says so and exits 0: the
# fuzz targets are a check that runs where it can, not a requirement of every machine.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

seconds="${FUZZ_SECONDS:-20}"
if ! cargo +nightly --version >/dev/null 2>&1; then
    echo "fuzz-smoke: skipped: no nightly toolchain (rustup toolchain install nightly)"
    exit 0
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "fuzz-smoke: skipped: cargo-fuzz is not installed (cargo install cargo-fuzz)"
    exit 0
fi

corpus="$(mktemp -d)"
trap 'rm -rf "$corpus"' EXIT
for target in $(cargo +nightly fuzz list); do
    echo "fuzz-smoke: $target for ${seconds} s"
    mkdir -p "$corpus/$target"
    seeds=()
    if [ -d "seeds/$target" ]; then
        seeds=("seeds/$target")
    fi
    # -rss_limit_mb: an input that makes a reader allocate without bound is a failure too.
    cargo +nightly fuzz run "$target" "$corpus/$target" "${seeds[@]}" -- \
        -max_total_time="$seconds" -rss_limit_mb=2048 -print_final_stats=1
done
echo "fuzz-smoke: every target ran ${seconds} s without a failure"
