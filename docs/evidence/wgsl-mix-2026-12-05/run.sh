#!/usr/bin/env bash
# The lavapipe comparison of mix=classic and mix=wide (one binary, the variant by
# BYZAGG_WGPU_KERNELS), three rounds, the order alternated per round. Run from the repository
# root after `cargo build --release`; writes beside itself.
set -euo pipefail
E=$(dirname "$0")
BIN=${BIN:-target/release/byzagg}
for round in 1 2 3; do
    order="classic wide"
    [ "$round" = 2 ] && order="wide classic"
    for v in $order; do
        echo "round $round mix=$v: $(uptime)"
        BYZAGG_WGPU_KERNELS=mix=$v "$BIN" bench --backend wgpu --resident --rule mix \
            --n 16,32,64 --d 1e6 --runs 3 --json "$E/mix-$v-r$round.json"
        BYZAGG_WGPU_KERNELS=mix=$v "$BIN" bench --backend wgpu --resident --rule mix_rows \
            --n 16,32,64 --d 1e5 --runs 3 --json "$E/mix_rows-$v-r$round.json"
    done
done
echo "end: $(uptime)"
