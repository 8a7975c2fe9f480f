#!/bin/sh
# Exact distance ties on the CPU: their cost on random rows (the bench's N(0,1) batch), before
# (main's binary) and after (this branch), alternately in one run, AVX-512 then AVX2.
# Usage: sh docs/evidence/cpu-dist-2026-12-04/ab.sh BEFORE_BINARY AFTER_BINARY OUT_DIR
set -eu
before=$1 after=$2 out=$3
mkdir -p "$out"
for rep in 1 2; do
  for side in before after; do
    bin=$before; [ "$side" = after ] && bin=$after
    uptime > "$out/$side-$rep.uptime"
    "$bin" bench --backend cpu --d 1e7 --runs 3 --n 64 --rule krum,multikrum \
      --json "$out/$side-n64-$rep.json" > "$out/$side-n64-$rep.txt"
    "$bin" bench --backend cpu --d 1e7 --runs 3 --n 32 --rule 'krum,nnm(cwmed),ctma(cwmed),cwmed' \
      --json "$out/$side-n32-$rep.json" > "$out/$side-n32-$rep.txt"
  done
done
for side in before after; do
  bin=$before; [ "$side" = after ] && bin=$after
  uptime > "$out/$side-avx2.uptime"
  BYZAGG_SIMD=avx2 "$bin" bench --backend cpu --d 1e7 --runs 3 --n 64 --rule krum,multikrum \
    --json "$out/$side-n64-avx2.json" > "$out/$side-n64-avx2.txt"
  BYZAGG_SIMD=avx2 "$bin" bench --backend cpu --d 1e7 --runs 3 --n 32 --rule 'krum,nnm(cwmed),ctma(cwmed)' \
    --json "$out/$side-n32-avx2.json" > "$out/$side-n32-avx2.txt"
done
