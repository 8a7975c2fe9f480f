#!/usr/bin/env bash
# gpu-check.sh: the whole GPU check on a GPU machine, in one run.
#
# The GPU machines have an NVIDIA driver, CUDA 13.0 and PyTorch, but no Rust toolchain and no
# network. So the byzagg binary is built elsewhere and carried in the ignored folder gpu-bin/:
#
#   cargo build --release && mkdir -p gpu-bin && cp target/release/byzagg gpu-bin/
#
# and, for the embedding APIs (the caller's CUDA stream, the resident training server, an
# application's wgpu device), the test executables of those suites, copied under their names:
#
#   for t in cuda_caller_stream train_resident wgpu_app_device tied_distances; do
#       cp "$(cargo test --release --test $t --no-run --message-format=json \
#           | jq -r 'select(.executable != null and .target.kind == ["test"]) | .executable')" \
#           gpu-bin/$t; done
#
# and the adversarial-rows timing of the distance kernels:
#
#   cargo build --release --example cuda_distance_paths && cp target/release/examples/cuda_distance_paths gpu-bin/
#
# and the two mix kernels for k = n output rows (NNM), side by side:
#
#   cargo build --release --example cuda_mix_rows && cp target/release/examples/cuda_mix_rows gpu-bin/
#
# and the weighted order statistics on rows that force their composite-key fallback:
#
#   cargo build --release --example cuda_collision_paths && cp target/release/examples/cuda_collision_paths gpu-bin/
#
# and wgpu's distance kernels, distances=fast against coalesced, on adversarial rows:
#
#   cargo build --release --example wgpu_distance_paths && cp target/release/examples/wgpu_distance_paths gpu-bin/
#
# and the Python package's wheel (abi3; CUDA tensors, and NCCL where there are two GPUs):
#
#   pip wheel ./python --no-deps -w gpu-bin
#
# then, there:
#
#   OUT=/some/dir scripts/gpu-check.sh          # run from the repository root
#
# It writes at most 8 files to $OUT (default ./gpu-out; the lease returns no more):
# gpu-check.log (everything printed, devices included), status.txt (one line per step: ok /
# FAILED rc / skipped), primitives.json and primitives.md (every kernel variant's primitives on
# a resident batch joined with torch's device read pass and equivalents by
# scripts/primitives_table.py), torch.json (the PyTorch peer, with a device read pass),
# bench-resident-n<N>-d<D>.json (rules on a resident batch, cuda and wgpu) and
# distance-paths.txt (the distance kernels on adversarial rows, per pairwise variant, and
# wgpu's fast against coalesced).
# Intermediate files (each variant's bench JSON, the training server's CSV, the wheel's
# install) go to $WORK (default: a fresh temporary folder), outside $OUT. A failing step is
# recorded and the run goes on. The defaults aim to finish within 8 minutes on an H200
# (so a 15-minute lease can run it twice); the log's status lines give each step's seconds.
# Steps run in the order of what matters most (correctness, the CUDA tie tests, the primitives
# of every variant with torch's read pass, then rules, the embedding APIs and the examples);
# once BUDGET_S seconds (default 540, under the lease's 600 s per command) are spent, the rest
# are skipped and listed as such, and the tables are still made from what ran.
# Environment: BYZAGG_BIN (default gpu-bin/byzagg), STEP_TIMEOUT seconds (default 300),
# BUDGET_S (default 540),
# BENCH_RUNS (timed runs per job, default 3), PRIM_N / PRIM_D (primitives' sizes, default
# "16 32 64" and 1e8), CUDA_VARIANTS / WGPU_VARIANTS (the BYZAGG_CUDA_KERNELS /
# BYZAGG_WGPU_KERNELS values timed side by side, "default" = unset; a value naming one
# primitive, say order_stats=pruned, times that primitive only; by default every pairwise
# kernel, registers / deferred / tiled, center_dist=slices beside classic (about 40 s: the
# n = 16, 32, 64 batches made once more, center_dist alone), and wgpu's order_stats=network,
# distances=fast (pairwise_dist and center_dist alone), mix=wide and mix=wide_direct (mix
# alone) beside the defaults), PATHS_N / PATHS_D (the adversarial-rows timing, default 32 and
# 1e7),
# MIX_ROWS_N / MIX_ROWS_D (mix with k = n, mix_rows=groups against tiled, into the log; default
# "16 32 64" and 1e7),
# COLLISION_N / COLLISION_D (weighted order_stats on near-equal rows against random rows, into
# the log; default "16 32 64" and 1e7),
# SIZES_N / SIZES_D (rules from host memory, off by default), TRAIN_DIM for the
# training-server step.
set -uo pipefail
cd "$(dirname "$0")/.."

BIN=${BYZAGG_BIN:-gpu-bin/byzagg}
OUT=${OUT:-$PWD/gpu-out}
STEP_TIMEOUT=${STEP_TIMEOUT:-300}
BUDGET_S=${BUDGET_S:-540}
BENCH_RUNS=${BENCH_RUNS:-3}
# Rules through host memory (upload-bound): off unless asked for, e.g. SIZES_N=32 SIZES_D=1e7.
SIZES_N=${SIZES_N:-}
SIZES_D=${SIZES_D:-}
BENCH_JOBS=${BENCH_JOBS:-"mean cwmed cwtm krum gm ctma(cwmed)"}
# The primitives on a resident batch, every kernel variant side by side (issue: variants stay
# selectable until a GPU has measured them).
PRIM_N=${PRIM_N:-"16 32 64"}
PRIM_D=${PRIM_D:-100000000}
# The pairwise kernels side by side (registers is the default), and center_dist's slices
# kernel beside classic: each value names one primitive, so those runs time it alone.
CUDA_VARIANTS=${CUDA_VARIANTS:-"default pairwise=deferred pairwise=tiled center_dist=slices"}
WGPU_VARIANTS=${WGPU_VARIANTS:-"default order_stats=network distances=fast mix=wide mix=wide_direct"}
PATHS_N=${PATHS_N:-32}
PATHS_D=${PATHS_D:-10000000}
MIX_ROWS_N=${MIX_ROWS_N:-"16 32 64"}
MIX_ROWS_D=${MIX_ROWS_D:-10000000}
COLLISION_N=${COLLISION_N:-"16 32 64"}
COLLISION_D=${COLLISION_D:-10000000}
WORK=${WORK:-$(mktemp -d)}
mkdir -p "$OUT" "$WORK"
exec > >(tee -a "$OUT/gpu-check.log") 2>&1
STATUS="$OUT/status.txt"
: > "$STATUS"

# step [--always] NAME CMD...: runs CMD under the step timeout and records how it ended. Once
# the run has used BUDGET_S seconds, further steps are skipped and recorded as such (but those
# marked --always, which are cheap and make the files from what ran), and no step may run past
# the budget: the lease's command limit (600 s) must never cut the run before it writes its
# files.
step() {
    local always=0
    [ "$1" = --always ] && always=1 && shift
    local name=$1
    shift
    local left=$((BUDGET_S - SECONDS)) limit=$STEP_TIMEOUT
    if [ "$always" = 0 ]; then
        if [ "$left" -le 0 ]; then
            echo "skipped $name (the ${BUDGET_S} s budget is spent)" >> "$STATUS"
            return 0
        fi
        [ "$left" -lt "$limit" ] && limit=$left
    fi
    echo "=== $name: $*"
    local t0=$SECONDS
    timeout "$limit" "$@"
    local rc=$?
    if [ "$rc" -eq 0 ]; then
        echo "ok $name ($((SECONDS - t0)) s)" >> "$STATUS"
    else
        echo "FAILED rc=$rc $name ($((SECONDS - t0)) s)" >> "$STATUS"
    fi
    return 0
}

date -u
nvidia-smi || echo "nvidia-smi failed"
if [ ! -x "$BIN" ]; then
    echo "no byzagg binary at $BIN: build it elsewhere and copy it there (see the header)"
    echo "FAILED no binary" >> "$STATUS"
    exit 1
fi

# NVRTC: byzagg searches the Python wheels itself; point it at PyTorch's or the pip one
# explicitly too, so the log shows which one was used.
if [ -z "${BYZAGG_NVRTC:-}" ]; then
    BYZAGG_NVRTC=$(python3 - <<'PY' 2>/dev/null
import glob, os, site, sys
roots = [p for p in sys.path if p] + site.getsitepackages()
for pattern in ("nvidia/cu13/lib/libnvrtc.so.13", "nvidia/cuda_nvrtc/lib/libnvrtc.so.1*"):
    for r in roots:
        hits = sorted(glob.glob(os.path.join(r, pattern)))
        if hits:
            print(hits[-1]); sys.exit(0)
PY
    )
    [ -n "$BYZAGG_NVRTC" ] && export BYZAGG_NVRTC
fi
echo "BYZAGG_NVRTC=${BYZAGG_NVRTC:-<unset: byzagg searches>}"

step devices "$BIN" devices
step verify-cuda "$BIN" verify --backend cuda
# The kernel variants not yet the default that this run times (pairwise=tiled; mix_rows=tiled:
# NNM's and bucketing's mix; center_dist=slices).
step verify-cuda-tiled env BYZAGG_CUDA_KERNELS=pairwise=tiled,mix_rows=tiled,center_dist=slices \
    "$BIN" verify --backend cuda
# Chunk boundaries inside the coordinates (d in the suite goes past 10^5).
step verify-cuda-chunked env BYZAGG_CUDA_CHUNK=4099 "$BIN" verify --backend cuda
# The host-streaming path for batches larger than device memory, forced with a 64 MiB budget.
step verify-cuda-host-stream env BYZAGG_CUDA_MEM_LIMIT=67108864 "$BIN" verify --backend cuda
# The NVIDIA Vulkan ICD: system folders, or the driver's own folder named by VK_DRIVER_FILES.
RESIDENT_BACKENDS=cuda
if ls /usr/share/vulkan/icd.d/nvidia_icd*.json /etc/vulkan/icd.d/nvidia_icd*.json >/dev/null 2>&1 \
    || [ -f "${VK_DRIVER_FILES:-/nonexistent}" ]; then
    step verify-wgpu env WGPU_BACKEND=vulkan "$BIN" verify --backend wgpu
    # The generated order_stats kernels this run times (order_stats=network; MeaMed's distance
    # sort among them), on the driver that flushes subnormals: 20-40 s, most of it building
    # one pipeline per row count and statistic.
    step verify-wgpu-network env WGPU_BACKEND=vulkan BYZAGG_WGPU_KERNELS=order_stats=network \
        "$BIN" verify --backend wgpu
    # The f32 lane sums of distances=fast (with the exact recomputation at the rules'
    # boundaries) and the wide mix kernels, on the driver that flushes subnormals: about 5 s
    # each.
    step verify-wgpu-fast env WGPU_BACKEND=vulkan BYZAGG_WGPU_KERNELS=distances=fast,mix=wide \
        "$BIN" verify --backend wgpu
    step verify-wgpu-mix-direct env WGPU_BACKEND=vulkan BYZAGG_WGPU_KERNELS=mix=wide_direct \
        "$BIN" verify --backend wgpu
    # One workgroup per grid row and small order_stats dispatches: every shader's 2-D grid
    # path and the watchdog split, on a real driver.
    step verify-wgpu-small-grid env WGPU_BACKEND=vulkan BYZAGG_WGPU_MAX_GROUPS=1 \
        BYZAGG_WGPU_ORDER_STATS_WORK=4096 "$BIN" verify --backend wgpu
    RESIDENT_BACKENDS=cuda,wgpu
else
    echo "skipped verify-wgpu (no NVIDIA Vulkan driver ICD)" >> "$STATUS"
fi

# Exact distance ties on CUDA (the tests are ignored offline: only a GPU runs them): the rules'
# exact recompute under each pairwise kernel (each has its own error bound).
if [ -x gpu-bin/tied_distances ]; then
    for v in registers deferred tiled; do
        step "test-tied-cuda-$v" env BYZAGG_CUDA_KERNELS=pairwise=$v \
            BYZAGG_REQUIRE=cuda gpu-bin/tied_distances --ignored cuda::
    done
fi

# The sharded engine: one GPU split in two shards (and every GPU, where there are several)
# equals one device, and its cost beside the unsharded run.
step sharded-cuda python3 scripts/sharded_check.py "$BIN" "$WORK"
GPUS=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU')
if [ "$GPUS" -ge 2 ]; then
    step bench-cuda-sharded "$BIN" bench --backend cuda --backend cuda:0,cuda:1 --n 16 --d 100000000 \
        --rule mean --rule cwmed --rule krum --rule "ctma(cwmed)" --runs "$BENCH_RUNS" \
        --json "$WORK/bench-cuda-sharded.json"
else
    echo "skipped bench-cuda-sharded ($GPUS GPU)" >> "$STATUS"
fi

for n in $SIZES_N; do
    for d in $SIZES_D; do
        jobs=()
        for j in $BENCH_JOBS; do jobs+=(--rule "$j"); done
        step "bench-cuda-n$n-d$d" "$BIN" bench --backend cuda --n "$n" --d "$d" "${jobs[@]}" \
            --runs "$BENCH_RUNS" \
            --json "$WORK/bench-cuda-n$n-d$d.json"
    done
done

# The primitives for every variant: run i sets the i-th CUDA and the i-th wgpu variant (a
# backend whose list is shorter sits that run out), once with weights 1 and once weighted
# (weights change only order_stats and mix). A variant value naming primitives
# (order_stats=pruned, pairwise=tiled, ...: a key matching the start of a primitive's name;
# wgpu's distances=... names pairwise_dist and center_dist) times only those; "default", or a value naming none, times all four.
# prim_jobs VALUE WEIGHTED: the --rule flags for one variant value.
prim_jobs() {
    local value=$1 weighted=$2 p key named=""
    local all="order_stats pairwise_dist center_dist mix" timed="order_stats pairwise_dist center_dist mix"
    [ "$weighted" = 1 ] && timed="order_stats mix"
    # The primitives the value names (a key matching the start of a primitive's name).
    if [ "$value" != default ]; then
        for p in $all; do
            for key in ${value//,/ }; do
                key=${key%%=*}
                # wgpu's distances=... names both distance primitives.
                if [ "$key" = distances ]; then
                    case "$p" in *_dist) key=$p ;; *) continue ;; esac
                fi
                case "$p" in "$key"*) named="$named $p"; break ;; esac
            done
        done
    fi
    # "default", or a value naming no primitive (a key this script does not know): all.
    [ -z "$named" ] && named=$all
    for p in $timed; do
        case " $named " in *" $p "*) printf -- '--rule %s ' "$p" ;; esac
    done
}
read -r -a cuda_variants <<< "$CUDA_VARIANTS"
read -r -a wgpu_variants <<< "$WGPU_VARIANTS"
HAVE_WGPU=0
[ "$RESIDENT_BACKENDS" = cuda,wgpu ] && HAVE_WGPU=1
runs=${#cuda_variants[@]}
[ "$HAVE_WGPU" = 1 ] && [ "${#wgpu_variants[@]}" -gt "$runs" ] && runs=${#wgpu_variants[@]}
PRIM_ARGS=()
for ((i = 0; i < runs; i++)); do
    cv=${cuda_variants[$i]:-}
    wv=""
    [ "$HAVE_WGPU" = 1 ] && wv=${wgpu_variants[$i]:-}
    for weighted in 0 1; do
        suffix=""
        flags=()
        [ "$weighted" = 1 ] && suffix="-weighted" && flags=(--weighted)
        # One bench per backend when their job lists differ, else both in one (data made once).
        cjobs=""; wjobs=""
        [ -n "$cv" ] && cjobs=$(prim_jobs "$cv" "$weighted")
        [ -n "$wv" ] && wjobs=$(prim_jobs "$wv" "$weighted")
        for part in both cuda wgpu; do
            backends=(); jobs=""
            case $part in
            both) [ -n "$cjobs" ] && [ "$cjobs" = "$wjobs" ] && backends=(--backend cuda --backend wgpu) && jobs=$cjobs ;;
            cuda) [ -n "$cjobs" ] && [ "$cjobs" != "$wjobs" ] && backends=(--backend cuda) && jobs=$cjobs ;;
            wgpu) [ -n "$wjobs" ] && [ "$cjobs" != "$wjobs" ] && backends=(--backend wgpu) && jobs=$wjobs ;;
            esac
            [ ${#backends[@]} -eq 0 ] && continue
            file="$WORK/bench-prim-$i-$part$suffix.json"
            env_set=(env -u BYZAGG_CUDA_KERNELS -u BYZAGG_WGPU_KERNELS WGPU_BACKEND=vulkan)
            [ -n "$cv" ] && [ "$cv" != default ] && env_set+=("BYZAGG_CUDA_KERNELS=$cv")
            [ -n "$wv" ] && [ "$wv" != default ] && env_set+=("BYZAGG_WGPU_KERNELS=$wv")
            # shellcheck disable=SC2086
            step "bench-prim-$i-$part$suffix (cuda: ${cv:-none}, wgpu: ${wv:-none})" "${env_set[@]}" \
                "$BIN" bench "${backends[@]}" --n "${PRIM_N// /,}" --d "$PRIM_D" $jobs "${flags[@]}" \
                --runs "$BENCH_RUNS" --json "$file"
            [ -f "$file" ] && PRIM_ARGS+=(--bench "$file" "${cv:-default}" "${wv:-default}")
        done
    done
done

# The PyTorch peer in the same run (same GPU, same clocks): the device read pass and torch's
# equivalents at the primitives' sizes (under a minute at n = 16, 32, 64, d = 1e8 on an H200).
# shellcheck disable=SC2086
step torch-peer python3 scripts/torch_peer.py --n $PRIM_N --d "$PRIM_D" --repeats "$BENCH_RUNS" \
    --json "$OUT/torch.json"

# Rules on a batch uploaded once (the device without the host link): the GPU targets ctma(cwmed)
# <= 1.5x cwmed, wgpu within 2x of cuda and 5x PyTorch at n = 16 and 32 are read off this file.
RESIDENT_N=${RESIDENT_N:-16,32}
RESIDENT_D=${RESIDENT_D:-100000000}
# One --backend flag per backend (a comma list in one flag would be one sharded engine).
resident_flags=()
for b in ${RESIDENT_BACKENDS//,/ }; do resident_flags+=(--backend "$b"); done
step "bench-resident-n${RESIDENT_N//,/-}-d$RESIDENT_D" env WGPU_BACKEND=vulkan "$BIN" bench --resident \
    "${resident_flags[@]}" --n "$RESIDENT_N" --d "$RESIDENT_D" --runs "$BENCH_RUNS" \
    --rule mean --rule cwmed --rule cwtm --rule krum --rule gm --rule 'ctma(cwmed)' \
    --json "$OUT/bench-resident-n${RESIDENT_N//,/-}-d$RESIDENT_D.json"
# The rules PyTorch has equivalents for (median, trimmed mean by sort, Krum, CTMA) join the
# primitives table too (default kernels: no variant variable is set for this step).
RESIDENT_JSON="$OUT/bench-resident-n${RESIDENT_N//,/-}-d$RESIDENT_D.json"
[ -f "$RESIDENT_JSON" ] && PRIM_ARGS+=(--bench "$RESIDENT_JSON" default default)

# The Python package on the GPU, where its wheel was carried (`pip wheel ./python --no-deps -w
# gpu-bin` on the build machine): CUDA tensors read in place, then byzagg.torch.distributed
# over NCCL, one rank per GPU, where there are two GPUs or more.
WHEEL=$(ls gpu-bin/byzagg-*.whl 2>/dev/null | head -n 1)
SITE="$WORK/site"
if [ -n "$WHEEL" ] && python3 -m pip install --quiet --no-deps --target "$SITE" "$WHEEL"; then
    step torch-cuda python3 scripts/torch_cuda_check.py "$SITE"
    # The DDP hook's device path (gathered CUDA rows aggregated in place) beside the host path,
    # timed side by side at n = 16, d of a ResNet-18; then a 4-rank DDP job on the device path.
    step ddp-cuda python3 scripts/ddp_cuda_check.py "$SITE"
    if [ "$GPUS" -ge 2 ]; then
        step nccl python3 scripts/nccl_check.py "$SITE"
    else
        echo "skipped nccl ($GPUS GPU)" >> "$STATUS"
    fi
else
    echo "skipped torch-cuda and nccl (no wheel in gpu-bin/ or it did not install)" >> "$STATUS"
fi

# The training server with the workers' latest vectors resident on the device (d values up per
# arrival, d down per update) beside the host path (all m x d handed over per arrival), in one
# run per backend: the summary's "agg ms/update" column, and equal accuracies (same aggregates).
TRAIN_DIM=${TRAIN_DIM:-4000000}
for b in ${RESIDENT_BACKENDS//,/ }; do
    step "train-resident-$b" env WGPU_BACKEND=vulkan "$BIN" train --task synthetic --dim "$TRAIN_DIM" \
        --train-size 200 --batch 1 --workers 16 --byzantine 4 --rule 'ctma(cwmed)' \
        --iterations 40 --eval-every 40 --backend "$b" \
        --compare "resident=true label=$b-resident" --compare "resident=false label=$b-host" \
        --out "$WORK/train-resident-$b.csv"
done

# The embedding APIs, from the test executables carried in gpu-bin/ (see the header): rules on
# the caller's CUDA stream and on an application's wgpu device equal the normal path, and the
# resident training server equals the host path on every backend here.
WGPU_REQUIRED=""
[ "$RESIDENT_BACKENDS" = cuda,wgpu ] && WGPU_REQUIRED=",wgpu"
for t in cuda_caller_stream train_resident wgpu_app_device tied_distances; do
    if [ -x "gpu-bin/$t" ]; then
        step "test-$t" env WGPU_BACKEND=vulkan BYZAGG_REQUIRE="cuda$WGPU_REQUIRED" "gpu-bin/$t"
    else
        echo "skipped test-$t (no gpu-bin/$t)" >> "$STATUS"
    fi
done

# The distance kernels on adversarial rows (equal Byzantine rows, zero regions, rows of 1e19
# and 1e30, sign rows) beside random rows, per pairwise kernel: the slow paths may not cost
# more than 2x random data (d = 1e7: at 1e8 this ran past its step limit).
if [ -x gpu-bin/cuda_distance_paths ]; then
    for v in pairwise=registers pairwise=deferred pairwise=tiled; do
        step "distance-paths-$v" sh -c 'BYZAGG_CUDA_KERNELS="$1" gpu-bin/cuda_distance_paths "$2" "$3" \
            | tee -a "$4"' sh "$v" "$PATHS_N" "$PATHS_D" "$OUT/distance-paths.txt"
    done
else
    echo "skipped distance-paths (no gpu-bin/cuda_distance_paths)" >> "$STATUS"
fi

# mix with k = n output rows (NNM's shape; bench's mix primitive is k = 1): mix_rows=groups
# (mix_k8, the default) against tiled (mix_tiled) in one process, the same bits checked; the
# figures go to the log (about 20 s at d = 1e7 on an H200, most of it making the rows).
if [ -x gpu-bin/cuda_mix_rows ]; then
    # shellcheck disable=SC2086
    step mix-rows env -u BYZAGG_CUDA_KERNELS gpu-bin/cuda_mix_rows "$MIX_ROWS_D" $MIX_ROWS_N
else
    echo "skipped mix-rows (no gpu-bin/cuda_mix_rows)" >> "$STATUS"
fi

# The weighted order statistics (order_stats=pruned) on rows of near-equal values, which send
# every coordinate to the exact 64-bit fallback, beside random rows: the slow path may not cost
# more than 2x random data; the pruned results are checked against bitonic's bit for bit
# (about 30 s at d = 1e7, most of it making the rows; not yet run on a GPU).
if [ -x gpu-bin/cuda_collision_paths ]; then
    # shellcheck disable=SC2086
    step collision-paths env -u BYZAGG_CUDA_KERNELS gpu-bin/cuda_collision_paths "$COLLISION_D" $COLLISION_N
else
    echo "skipped collision-paths (no gpu-bin/cuda_collision_paths)" >> "$STATUS"
fi

# wgpu's distance kernels, distances=fast (f32 lane sums) against coalesced, on random rows and
# on the rows that send the fast kernels to their exact recomputation (copies, +-1 ties,
# shuffles, rows an ulp apart), Krum's selection checked to be the same under both; appended to
# distance-paths.txt (not yet run on a GPU: the step timeout bounds it).
if [ -x gpu-bin/wgpu_distance_paths ] && [ "$HAVE_WGPU" = 1 ]; then
    step wgpu-distance-paths sh -c 'WGPU_BACKEND=vulkan gpu-bin/wgpu_distance_paths "$1" "$2" | tee -a "$3"' \
        sh "$PATHS_N" "$PATHS_D" "$OUT/distance-paths.txt"
else
    echo "skipped wgpu-distance-paths (no gpu-bin/wgpu_distance_paths or no NVIDIA Vulkan driver)" >> "$STATUS"
fi

# primitives.json: every variant's share of the device read pass and its speed against torch.
if [ ${#PRIM_ARGS[@]} -gt 0 ] && [ -f "$OUT/torch.json" ]; then
    step --always primitives-table sh -c 'python3 scripts/primitives_table.py "$@" > "$0"' "$OUT/primitives.md" \
        --torch "$OUT/torch.json" --out "$OUT/primitives.json" "${PRIM_ARGS[@]}"
    cat "$OUT/primitives.md"
else
    echo "skipped primitives-table (no primitives bench JSON or no torch.json)" >> "$STATUS"
fi

echo "=== status"
cat "$STATUS"
date -u
