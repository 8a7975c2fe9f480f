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
#   for t in cuda_caller_stream train_resident wgpu_app_device; do
#       cp "$(cargo test --release --test $t --no-run --message-format=json \
#           | jq -r 'select(.executable != null and .target.kind == ["test"]) | .executable')" \
#           gpu-bin/$t; done
#
# and the Python package's wheel (abi3; CUDA tensors, and NCCL where there are two GPUs):
#
#   pip wheel ./python --no-deps -w gpu-bin
#
# then, there:
#
#   OUT=/some/dir scripts/gpu-check.sh          # run from the repository root
#
# It writes to $OUT (default ./gpu-out): gpu-check.log (everything printed), status.txt (one
# line per step: ok / FAILED rc / skipped), bench-cuda-n<N>-d<D>.json per size (rules from host
# memory and resident primitives), bench-resident-n<N>-d<D>.json (rules on a resident batch, cuda
# and wgpu), train-resident-<backend>.csv (the training server, resident rows against the host
# path; its summary is in the log), torch.json (the PyTorch peer, with a device read pass),
# devices.txt. A failing step is recorded and the run goes on.
# Environment: BYZAGG_BIN (default gpu-bin/byzagg), STEP_TIMEOUT seconds (default 300),
# SIZES_N / SIZES_D to shrink the benchmark grid, TRAIN_DIM for the training-server step.
set -uo pipefail
cd "$(dirname "$0")/.."

BIN=${BYZAGG_BIN:-gpu-bin/byzagg}
OUT=${OUT:-$PWD/gpu-out}
STEP_TIMEOUT=${STEP_TIMEOUT:-300}
SIZES_N=${SIZES_N:-"16 64"}
SIZES_D=${SIZES_D:-"1000000 10000000 100000000"}
# Rules and primitives timed; primitives run on a batch already resident on the device.
BENCH_JOBS=${BENCH_JOBS:-"mean cwmed cwtm krum gm ctma(cwmed) order_stats pairwise_dist center_dist mix"}
mkdir -p "$OUT"
exec > >(tee -a "$OUT/gpu-check.log") 2>&1
STATUS="$OUT/status.txt"
: > "$STATUS"

# step NAME CMD...: runs CMD under the step timeout and records how it ended.
step() {
    local name=$1
    shift
    echo "=== $name: $*"
    local t0=$SECONDS
    timeout "$STEP_TIMEOUT" "$@"
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

step devices sh -c "'$BIN' devices | tee '$OUT/devices.txt'"
step verify-cuda "$BIN" verify --backend cuda
# Chunk boundaries inside the coordinates (d in the suite goes past 10^5).
step verify-cuda-chunked env BYZAGG_CUDA_CHUNK=4099 "$BIN" verify --backend cuda
# The host-streaming path for batches larger than device memory, forced with a 64 MiB budget.
step verify-cuda-host-stream env BYZAGG_CUDA_MEM_LIMIT=67108864 "$BIN" verify --backend cuda
# The NVIDIA Vulkan ICD: system folders, or the driver's own folder named by VK_DRIVER_FILES.
RESIDENT_BACKENDS=cuda
if ls /usr/share/vulkan/icd.d/nvidia_icd*.json /etc/vulkan/icd.d/nvidia_icd*.json >/dev/null 2>&1 \
    || [ -f "${VK_DRIVER_FILES:-/nonexistent}" ]; then
    step verify-wgpu env WGPU_BACKEND=vulkan "$BIN" verify --backend wgpu
    # One workgroup per grid row and small order_stats dispatches: every shader's 2-D grid
    # path and the watchdog split, on a real driver.
    step verify-wgpu-small-grid env WGPU_BACKEND=vulkan BYZAGG_WGPU_MAX_GROUPS=1 \
        BYZAGG_WGPU_ORDER_STATS_WORK=4096 "$BIN" verify --backend wgpu
    RESIDENT_BACKENDS=cuda,wgpu
else
    echo "skipped verify-wgpu (no NVIDIA Vulkan driver ICD)" >> "$STATUS"
fi

# The sharded engine: one GPU split in two shards (and every GPU, where there are several)
# equals one device, and its cost beside the unsharded run.
step sharded-cuda python3 scripts/sharded_check.py "$BIN" "$OUT"
step bench-cuda-sharded "$BIN" bench --backend cuda --backend cuda:0,cuda:0 --n 16 --d 100000000 \
    --rule mean --rule cwmed --rule krum --rule "ctma(cwmed)" --runs "${BENCH_RUNS:-5}" \
    --json "$OUT/bench-cuda-sharded.json"

for n in $SIZES_N; do
    for d in $SIZES_D; do
        jobs=()
        for j in $BENCH_JOBS; do jobs+=(--rule "$j"); done
        step "bench-cuda-n$n-d$d" "$BIN" bench --backend cuda --n "$n" --d "$d" "${jobs[@]}" \
            --runs "${BENCH_RUNS:-5}" \
            --json "$OUT/bench-cuda-n$n-d$d.json"
    done
done

# Rules on a batch uploaded once (the device without the host link): the GPU targets ctma(cwmed)
# <= 1.5x cwmed and wgpu within 2x of cuda are read off this one file.
RESIDENT_N=${RESIDENT_N:-32}
RESIDENT_D=${RESIDENT_D:-100000000}
step "bench-resident-n$RESIDENT_N-d$RESIDENT_D" env WGPU_BACKEND=vulkan "$BIN" bench --resident \
    --backend "$RESIDENT_BACKENDS" --n "$RESIDENT_N" --d "$RESIDENT_D" --runs "${BENCH_RUNS:-5}" \
    --rule mean --rule cwmed --rule cwtm --rule krum --rule gm --rule 'ctma(cwmed)' \
    --json "$OUT/bench-resident-n$RESIDENT_N-d$RESIDENT_D.json"

# The Python package on the GPU, where its wheel was carried (`pip wheel ./python --no-deps -w
# gpu-bin` on the build machine): CUDA tensors read in place, then byzagg.torch.distributed
# over NCCL, one rank per GPU, where there are two GPUs or more.
WHEEL=$(ls gpu-bin/byzagg-*.whl 2>/dev/null | head -n 1)
GPUS=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU')
SITE="$OUT/site"
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
        --out "$OUT/train-resident-$b.csv"
done

# The embedding APIs, from the test executables carried in gpu-bin/ (see the header): rules on
# the caller's CUDA stream and on an application's wgpu device equal the normal path, and the
# resident training server equals the host path on every backend here.
WGPU_REQUIRED=""
[ "$RESIDENT_BACKENDS" = cuda,wgpu ] && WGPU_REQUIRED=",wgpu"
for t in cuda_caller_stream train_resident wgpu_app_device; do
    if [ -x "gpu-bin/$t" ]; then
        step "test-$t" env WGPU_BACKEND=vulkan BYZAGG_REQUIRE="cuda$WGPU_REQUIRED" "gpu-bin/$t"
    else
        echo "skipped test-$t (no gpu-bin/$t)" >> "$STATUS"
    fi
done

# The PyTorch peer on the same jobs and sizes, in the same run (same GPU, same clocks).
# shellcheck disable=SC2086
step torch-peer python3 scripts/torch_peer.py --n $SIZES_N --d $SIZES_D --json "$OUT/torch.json"

echo "=== status"
cat "$STATUS"
date -u
