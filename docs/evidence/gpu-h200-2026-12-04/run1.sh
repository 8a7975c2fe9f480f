#!/usr/bin/env bash
# First lease call: correctness of main on the GPU, and ncu stall reasons of the slow kernels.
set -uo pipefail
for f in .gl/*.deb; do dpkg -x $f /; done; ldconfig
export VK_DRIVER_FILES=${VK_DRIVER_FILES:-/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json}
[ -f "$VK_DRIVER_FILES" ] || unset VK_DRIVER_FILES
export BYZAGG_NVRTC=$(python3 -c 'import glob,sys,site
for p in sys.path+site.getsitepackages():
  for pat in ("nvidia/cu13/lib/libnvrtc.so.13","nvidia/cuda_nvrtc/lib/libnvrtc.so.1*"):
    h=sorted(glob.glob(p+"/"+pat))
    if h: print(h[-1]); sys.exit()')
echo "NVRTC=$BYZAGG_NVRTC"; ls /usr/local/nvidia/share/vulkan/icd.d/ /usr/share/vulkan/icd.d 2>&1
nvidia-smi -L; nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem --format=csv
B=gpu-bin/byzagg
t() { echo "=== $*"; local t0=$SECONDS; timeout 100 "$@"; echo "rc=$? ($((SECONDS-t0)) s) $1 $2 $3" | tee -a $OUT/status.txt; }
t $B devices
t $B verify --backend cuda
t env WGPU_BACKEND=vulkan $B verify --backend wgpu
for x in cuda_caller_stream train_resident wgpu_app_device tied_distances; do
  [ -x gpu-bin/$x ] && t env WGPU_BACKEND=vulkan BYZAGG_REQUIRE=cuda,wgpu gpu-bin/$x 2>&1 | tail -4
done
which ncu; S="--section SpeedOfLight --section WarpStateStats --section SchedulerStats --section Occupancy --section LaunchStats --section InstructionStats --section ComputeWorkloadAnalysis --section MemoryWorkloadAnalysis"
prof() { local name=$1 k=$2; shift 2; echo "=== ncu $name"; timeout 90 ncu --clock-control none --launch-count 1 -k "regex:$k" $S "$@" > $OUT/ncu-$name.txt 2>&1; echo "rc=$? ncu $name" | tee -a $OUT/status.txt; grep -E "Duration|Throughput|Stall|Issued|Registers|Achieved Occ|Executed Ipc|Waves" $OUT/ncu-$name.txt | head -30; }
prof pairwise-n32 pairwise_dist_partial $B bench --backend cuda --n 32 --d 1e7 --rule pairwise_dist --runs 1 --warmup 0
prof orderstats-w-n32 order_stats_median $B bench --backend cuda --n 32 --d 1e7 --rule order_stats --weighted --runs 1 --warmup 0
prof orderstats-u-n64 order_stats_median $B bench --backend cuda --n 64 --d 1e7 --rule order_stats --runs 1 --warmup 0
prof centerdist-n32 center_dist $B bench --backend cuda --n 32 --d 1e7 --rule center_dist --runs 1 --warmup 0
W=$(ls gpu-bin/byzagg-*.whl 2>/dev/null | head -1)
if [ -n "$W" ] && python3 -m pip install -q --no-deps --target /tmp/site "$W"; then t python3 scripts/torch_cuda_check.py /tmp/site; fi
cat $OUT/status.txt
