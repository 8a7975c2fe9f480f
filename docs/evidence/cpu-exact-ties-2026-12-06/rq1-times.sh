#!/bin/sh
# ICML RQ1's time half side by side: CTMA(CWMed) against NNM(CWMed), aggregation seconds of
# 60 rounds of icml-sync-mnist (the ICML grids' sampling) under the grids' four attacks, the
# two rules alternated within each repetition.
# Usage: sh rq1-times.sh REPS BIN > rq1-times.csv
reps=$1; bin=$2
echo "rep,rule,attack,final_accuracy,aggregation_seconds"
for r in $(seq "$reps"); do
  for attack in label-flip sign-flip empire:0.5 alie-sync; do
    for rule in "ctma(cwmed)" "nnm(cwmed)"; do
      out=$(mktemp)
      "$bin" train --preset icml-sync-mnist --backend cpu --rule "$rule" --attack "$attack" \
        --iterations 60 --eval-every 60 --quiet --out "$out" >/dev/null
      echo "$r,\"$rule\",$attack,$(tail -1 "$out" | cut -d, -f4,10)"
      rm -f "$out"
    done
  done
done
