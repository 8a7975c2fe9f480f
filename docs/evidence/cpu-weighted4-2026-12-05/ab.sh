#!/usr/bin/env bash
# Before/after side by side in one run: BEFORE (main at 4f815e9) and AFTER (this branch)
# alternated job by job with the same seed; ratios to the read pass that `byzagg bench` prints.
# Usage: ab.sh BEFORE AFTER OUTDIR [D]   (the jobs of docs/evidence/cpu-quiet-2026-12-05/ab.sh
# that this branch touches)
set -euo pipefail
before=$1 after=$2 out=$3 d=${4:-1e7}
mkdir -p "$out"
jobs=("avx512 cwmed w 32" "avx512 cwtm w 32" "avx512 meamed w 32" "avx512 cwmed w 64"
      "avx512 cwtm w 64" "avx512 cwmed u 64" "avx512 cwtm u 64" "avx512 meamed u 32"
      "avx2 cwmed w 32" "avx2 cwtm w 32")
for job in "${jobs[@]}"; do
  read -r simd rule w n <<< "$job"
  flag=(); [ "$w" = w ] && flag=(--weighted)
  for which in before after; do
    bin=${!which}
    tag=$which-$simd-${rule//[(),=]/_}-$w$n
    uptime > "$out/$tag.uptime"
    BYZAGG_SIMD=$simd "$bin" bench --backend cpu --d "$d" --runs 3 --n "$n" "${flag[@]}" \
      --rule "$rule" --json "$out/$tag.json" > "$out/$tag.txt" 2>&1
  done
done
