#!/usr/bin/env bash
# User CPU seconds of a whole `byzagg bench` (11 calls of the rule, 11 read passes, the data's
# generation), BEFORE and AFTER alternately, twice per SIMD level: less sensitive to other
# processes' load than wall time. Usage: usertime.sh BEFORE AFTER [RULE] [N] [D]
set -euo pipefail
before=$1 after=$2 rule=${3:-krum} n=${4:-64} d=${5:-2e6}
for simd in avx512 avx2; do
  for rep in 1 2; do
    for side in before after; do
      bin=${!side}
      BYZAGG_SIMD=$simd /usr/bin/time -f "%U %S %e" -o /tmp/usertime.txt "$bin" bench --backend cpu \
        --d "$d" --n "$n" --runs 10 --warmup 1 --rule "$rule" > /tmp/usertime-bench.txt 2>&1
      echo "$simd $rule$n $side rep $rep: user sys wall $(cat /tmp/usertime.txt);" \
        "seconds, x read, read s: $(tail -1 /tmp/usertime-bench.txt | awk '{print $6, $8, $9}')"
    done
  done
done
