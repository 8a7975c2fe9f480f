#!/usr/bin/env bash
# Cause probe (not committed code): CPU seconds on lavapipe of classic, the committed mix_wide
# (terms staged in workgroup memory, two barriers per piece) and a throwaway build of mix_wide
# that reads each term from global memory instead (no workgroup variable, no barrier).
# STAGED and UNSTAGED are the two binaries.
set -euo pipefail
for round in 1 2 3; do
    for who in classic staged unstaged; do
        bin=$STAGED; v=wide
        [ "$who" = classic ] && v=classic
        [ "$who" = unstaged ] && bin=$UNSTAGED
        /usr/bin/time -f "round $round $who: user %U sys %S wall %e" \
            env BYZAGG_WGPU_KERNELS=mix=$v "$bin" bench --backend wgpu --resident \
            --rule mix --n 32 --d 1e6 --runs 10 > /dev/null
    done
    echo "load: $(uptime)"
done
