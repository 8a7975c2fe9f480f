#!/usr/bin/env bash
# Before/after side by side in one run: BEFORE (main's binary at a47c8cf) and AFTER (branch
# cpu-weighted3) alternated job by job with the same seed; ratios to the read pass that
# `byzagg bench` prints. Usage: ab.sh BEFORE AFTER OUTDIR [D] [JOB...]
# (a JOB is "simd rule w|u n"; the default list is the weighted order statistics.)
set -euo pipefail
before=$1 after=$2 out=$3 d=${4:-1e7}
shift 4 || shift $#
jobs=("$@")
[ ${#jobs[@]} -gt 0 ] || jobs=("avx512 cwtm w 32" "avx512 cwtm w 64" "avx512 cwmed w 32"
  "avx512 cwmed w 64" "avx512 meamed w 32" "avx512 cwmed u 64" "avx2 cwmed w 32" "avx2 cwtm w 32")
mkdir -p "$out"
for job in "${jobs[@]}"; do
  read -r simd rule w n <<< "$job"
  flag=(); [ "$w" = w ] && flag=(--weighted)
  for which in before after; do
    bin=${!which}
    tag=$which-$simd-${rule//[()]/_}-$w$n
    uptime > "$out/$tag.uptime"
    BYZAGG_SIMD=$simd "$bin" bench --backend cpu --d "$d" --runs 3 --n "$n" "${flag[@]}" \
      --rule "$rule" --json "$out/$tag.json" > "$out/$tag.txt" 2>&1
  done
done
