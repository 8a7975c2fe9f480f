#!/usr/bin/env bash
# The same comparison by CPU seconds (user + sys of the whole process: lavapipe's worker
# threads included), which the machine's load disturbs far less than wall time: one process
# per (variant, primitive), three rounds, the order alternated. Data generation and the read
# pass are the same in both variants, so the difference is the kernels'.
set -euo pipefail
BIN=${BIN:-target/release/byzagg}
for round in 1 2 3; do
    order="classic wide"
    [ "$round" = 2 ] && order="wide classic"
    for v in $order; do
        for job in "mix --n 32 --d 1e6 --runs 10" "mix_rows --n 32 --d 1e5 --runs 3"; do
            # shellcheck disable=SC2086
            /usr/bin/time -f "round $round mix=$v ${job%% *}: user %U sys %S wall %e" \
                env BYZAGG_WGPU_KERNELS=mix=$v "$BIN" bench --backend wgpu --resident \
                --rule $job > /dev/null
        done
    done
    echo "load: $(uptime)"
done
