#!/usr/bin/env bash
# `byzagg bench`'s default rule list, before and after, side by side in one run: BEFORE and
# AFTER alternated per (n, weights) with the same seed, each writing its JSON records.
# Usage: grid.sh BEFORE AFTER OUTDIR [D] [RUNS]; FIRST=after runs AFTER first in each pair
# (whichever runs second measured a few % slower on this machine: alternate the rounds).
set -euo pipefail
before=$1 after=$2 out=$3 d=${4:-1e6} runs=${5:-3}
mkdir -p "$out"
for n in 8 16 32 64; do
  for w in uniform weighted; do
    flag=(); [ "$w" = weighted ] && flag=(--weighted)
    order=(before after); [ "${FIRST:-before}" = after ] && order=(after before)
    for which in "${order[@]}"; do
      bin=${!which}
      uptime > "$out/$which-$w-$n.uptime"
      "$bin" bench --backend cpu --d "$d" --runs "$runs" --n "$n" "${flag[@]}" \
        --json "$out/$which-$w-$n.json" > "$out/$which-$w-$n.txt" 2>&1
    done
  done
done
