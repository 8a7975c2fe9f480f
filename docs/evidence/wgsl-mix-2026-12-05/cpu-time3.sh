#!/usr/bin/env bash
# cpu-time.sh for the three variants (classic, wide, wide_direct) of one binary, the order
# rotated per round.
set -euo pipefail
BIN=${BIN:-target/release/byzagg}
for round in 1 2 3; do
    case $round in
    1) order="classic wide wide_direct" ;;
    2) order="wide wide_direct classic" ;;
    *) order="wide_direct classic wide" ;;
    esac
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
