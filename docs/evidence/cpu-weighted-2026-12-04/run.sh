#!/usr/bin/env bash
# Before/after of the weighted order statistics, side by side in one run: main's binary
# (BEFORE) and this branch's (AFTER) alternated job by job (same seed), at AVX-512 and AVX2.
# Usage: [SIMDS="avx512 avx2"] run.sh BEFORE AFTER OUTDIR [D] [ROUNDS]
set -euo pipefail
before=$1 after=$2 out=$3 d=${4:-1e7} rounds=${5:-2}
mkdir -p "$out"
jobs=("cwmed w 32" "cwtm w 32" "meamed w 32" "cwmed w 64" "cwtm w 64" "cwmed u 64" "cwtm u 64"
      "meamed w 64")
for round in $(seq 1 "$rounds"); do
  for simd in ${SIMDS:-avx512 avx2}; do
    for job in "${jobs[@]}"; do
      read -r rule w n <<< "$job"
      flag=(); [ "$w" = w ] && flag=(--weighted)
      for which in before after; do
        bin=${!which}
        tag=$which-$simd-$rule-$w$n-r$round
        uptime > "$out/$tag.uptime"
        BYZAGG_SIMD=$simd "$bin" bench --backend cpu --d "$d" --runs 3 --n "$n" "${flag[@]}" \
          --rule "$rule" --json "$out/$tag.json" > "$out/$tag.txt" 2>&1
      done
    done
  done
done
