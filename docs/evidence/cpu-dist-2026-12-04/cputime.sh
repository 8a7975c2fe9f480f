#!/bin/sh
# CPU seconds (user + sys, /usr/bin/time) of `byzagg aggregate --backend cpu` on one .npy batch,
# before and after, alternately, REPS times per rule: less sensitive to other processes' load
# than wall time. Usage: sh cputime.sh BEFORE AFTER IN.npy REPS RULE... (F: the Byzantine count, default 6)
set -eu
before=$1 after=$2 input=$3 reps=$4
shift 4
for rule in "$@"; do
  for rep in $(seq "$reps"); do
    for side in before after; do
      bin=$before; [ "$side" = after ] && bin=$after
      /usr/bin/time -o /tmp/cputime.txt -f '%U %S %e' "$bin" aggregate --backend cpu --f "${F:-6}" \
        --rule "$rule" -o /tmp/cputime-out.npy "$input" >/dev/null 2>&1
      echo "$rule $side $rep $(tail -1 /tmp/cputime.txt)"
    done
  done
done
