#!/usr/bin/env bash
# The CPU target table's jobs with one binary at one SIMD level, RUNS rounds, d = 10^7:
# `byzagg bench` lines (x read pass in the same run). Usage: table_runs.sh BIN SIMD OUT [ROUNDS]
set -euo pipefail
bin=$1 simd=$2 out=$3 rounds=${4:-2}
mkdir -p "$out"
for r in $(seq "$rounds"); do
  for job in "cwmed w 32" "cwtm w 32" "cwmed w 64" "cwtm w 64" "cwmed u 64" "cwtm u 64" \
             "ctma(cwmed) u 32" "cwmed u 32" "krum u 64" "gm u 32" "nnm(cwmed) u 32" \
             "meamed w 32" "clip(mean,tau=1) u 32" "arc(mean) u 32"; do
    read -r rule w n <<< "$job"
    flag=(); [ "$w" = w ] && flag=(--weighted)
    BYZAGG_SIMD=$simd "$bin" bench --backend cpu --d 1e7 --runs 3 --n "$n" "${flag[@]}" \
      --rule "$rule" | awk -v r="$r" -v l="$(cut -d' ' -f1 /proc/loadavg)" \
      'NR > 2 { print "round " r ", load " l ": " $0 }'
  done
done > "$out/$simd.txt"
