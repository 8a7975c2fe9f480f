#!/usr/bin/env bash
# lavapipe (a CPU), one binary, BYZAGG_WGPU_KERNELS switched: 3 interleaved rounds of
# coalesced then fast. Usage: bench.sh BIN OUTDIR
set -euo pipefail
BIN=$1; OUT=$2; mkdir -p "$OUT"
for r in 1 2 3; do
  for v in coalesced fast; do
    uptime > "$OUT/uptime-r$r-$v.txt"
    BYZAGG_WGPU_KERNELS=distances=$v "$BIN" bench --backend wgpu --resident --rule pairwise_dist \
      --rule center_dist --n 16,32 --d 1e5 --runs 3 --json "$OUT/r$r-$v.json" 2>/dev/null \
      | grep -v XDG > "$OUT/r$r-$v.txt"
  done
done
