#!/usr/bin/env bash
# CPU seconds per timed run of `byzagg bench` (user + sys from /usr/bin/time, the difference
# between --runs 6 and --runs 1, so data generation and start-up cancel), BEFORE and AFTER
# alternately, REPS times per job: on a machine loaded far past its 2 cores (load 20-200 while
# this branch was measured) wall times say nothing, CPU time little less than that.
# Each timed run is the rule plus the read pass it is compared with.
# Usage: cputime.sh BEFORE AFTER D REPS JOB...   (a JOB is "simd rule w|u n")
set -euo pipefail
before=$1 after=$2 d=$3 reps=$4
shift 4
cpu() { # bin simd n runs flag... -> user+sys seconds
  local bin=$1 simd=$2 n=$3 runs=$4 rule=$5; shift 5
  BYZAGG_SIMD=$simd /usr/bin/time -o /tmp/cputime-$$.txt -f '%U %S' "$bin" bench --backend cpu \
    --d "$d" --n "$n" --runs "$runs" --warmup 0 --rule "$rule" "$@" >/dev/null 2>&1
  awk '{print $1 + $2}' /tmp/cputime-$$.txt
}
for job in "$@"; do
  read -r simd rule w n <<< "$job"
  flag=(); [ "$w" = w ] && flag=(--weighted)
  for rep in $(seq "$reps"); do
    line="$simd $rule $w$n rep $rep load $(cut -d' ' -f1 /proc/loadavg)"
    for side in before after; do
      bin=${!side}
      t1=$(cpu "$bin" "$simd" "$n" 1 "$rule" "${flag[@]}")
      t6=$(cpu "$bin" "$simd" "$n" 6 "$rule" "${flag[@]}")
      line="$line $side $(awk -v a="$t1" -v b="$t6" 'BEGIN { printf "%.4f", (b - a) / 5 }')"
    done
    echo "$line"
  done
done
