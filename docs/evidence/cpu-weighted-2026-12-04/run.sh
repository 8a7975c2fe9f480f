#!/usr/bin/env bash
# Before/after of the weighted order statistics, side by side in one run: main's binary
# (BEFORE) and this branch's (AFTER) alternated job set by job set, at AVX-512 and AVX2.
# Usage: run.sh BEFORE AFTER OUTDIR [ROUNDS]
set -euo pipefail
before=$1 after=$2 out=$3 rounds=${4:-2}
mkdir -p "$out"
for round in $(seq 1 "$rounds"); do
  for simd in avx512 avx2; do
    for which in before after; do
      bin=${!which}
      tag=$which-$simd-r$round
      uptime > "$out/$tag.uptime"
      BYZAGG_SIMD=$simd "$bin" bench --backend cpu --d 1e7 --runs 3 --n 32,64 --weighted \
        --rule cwmed,cwtm,meamed --json "$out/$tag-weighted.json" > "$out/$tag-weighted.txt" 2>&1
      BYZAGG_SIMD=$simd "$bin" bench --backend cpu --d 1e7 --runs 3 --n 64 \
        --rule cwmed,cwtm --json "$out/$tag-uniform.json" > "$out/$tag-uniform.txt" 2>&1
      uptime >> "$out/$tag.uptime"
    done
  done
done
