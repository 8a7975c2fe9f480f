#!/usr/bin/env bash
# Before/after side by side, job by job, same seed; ratios to the read pass `byzagg bench` prints.
# Usage: ab.sh BEFORE AFTER OUTDIR [D]
set -euo pipefail
before=$1 after=$2 out=$3 d=${4:-1e7}
mkdir -p "$out"
jobs=("avx512 krum u 64" "avx512 pairwise_dist u 64" "avx512 krum u 32" "avx512 nnm(cwmed) u 32"
      "avx2 krum u 64" "avx2 krum u 32" "avx2 nnm(cwmed) u 32" "avx512 krum u 16" "avx512 pairwise_dist u 8")
for job in "${jobs[@]}"; do
  read -r simd rule w n <<< "$job"
  for which in before after; do
    bin=${!which}
    tag=$which-$simd-${rule//[()]/_}-$w$n
    uptime > "$out/$tag.uptime"
    BYZAGG_SIMD=$simd "$bin" bench --backend cpu --d "$d" --runs 3 --n "$n" \
      --rule "$rule" --json "$out/$tag.json" > "$out/$tag.txt" 2>&1
  done
done
