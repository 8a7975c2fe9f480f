#!/usr/bin/env bash
# Before/after side by side on a loaded machine: BEFORE (main's binary) and AFTER (this
# branch) alternated job by job with the same seed; per run the `x read` that `byzagg bench`
# prints (the ratio to the read pass of the same batch), the CPU seconds of the whole command
# (user + sys from /usr/bin/time, data generation included) and the load average at its start.
# Usage: ab.sh BEFORE AFTER OUTDIR D JOB...   (a JOB is "simd rule w|u n")
set -euo pipefail
before=$1 after=$2 out=$3 d=$4
shift 4
mkdir -p "$out"
# one SIDE SIMD RULE W N: runs the side's binary once and prints one line.
one() {
  local side=$1 simd=$2 rule=$3 w=$4 n=$5 weighted=()
  [ "$w" = w ] && weighted=(--weighted)
  local tag=$side-$simd-${rule//[(),=]/_}-$w$n load
  load=$(cut -d' ' -f1 /proc/loadavg)
  BYZAGG_SIMD=$simd /usr/bin/time -o "$out/$tag.time" -f '%U %S' "${!side}" bench --backend cpu \
    --d "$d" --runs 3 --n "$n" "${weighted[@]}" --rule "$rule" > "$out/$tag.txt" 2>&1
  echo "$simd $rule $w$n $side x_read $(awk -v r="$rule" '$1 == r { print $(NF - 2) }' "$out/$tag.txt")" \
    "cpu_s $(awk '{ print $1 + $2 }' "$out/$tag.time") load $load"
}
for job in "$@"; do
  one before $job
  one after $job
done
