#!/bin/sh
# NNM(CWMed)'s aggregation seconds in 60 rounds of icml-sync-mnist (per-worker shards) under
# attacks whose Byzantine rows are copies of one vector (empire, ALIE) and one whose rows
# differ (sign flip), for binaries given as arguments, alternated run by run.
# Usage: sh runs.sh REPS BIN... > runs.csv
reps=$1; shift
echo "rep,binary,attack,final_accuracy,final_test_loss,aggregation_seconds"
for r in $(seq "$reps"); do
  for attack in empire:0.1 alie sign-flip; do
    for bin in "$@"; do
      out=$(mktemp)
      "$bin" train --preset icml-sync-mnist --sampling shards --backend cpu --rule "nnm(cwmed)" \
        --attack "$attack" --iterations 60 --eval-every 60 --quiet --out "$out" >/dev/null
      echo "$r,$(basename "$(dirname "$bin")")/$(basename "$bin"),$attack,$(tail -1 "$out" | cut -d, -f4,5,10)"
      rm -f "$out"
    done
  done
done
