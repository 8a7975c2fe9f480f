#!/usr/bin/env bash
# Second lease call: the merged kernels' correctness, then every variant side by side.
set -uo pipefail
for f in .gl/*.deb; do dpkg -x $f /; done; ldconfig
export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json WGPU_BACKEND=vulkan
export BYZAGG_NVRTC=$(python3 -c 'import glob,sys,site
for p in sys.path+site.getsitepackages():
  h=sorted(glob.glob(p+"/nvidia/cu13/lib/libnvrtc.so.13"))
  if h: print(h[-1]); sys.exit()')
B=gpu-bin/byzagg; S=$OUT/status.txt; : > $S
t() { local lim=$1 name=$2; shift 2; echo "=== $name: $*"; local t0=$SECONDS; timeout $lim "$@"; echo "rc=$? $((SECONDS-t0))s $name" | tee -a $S; }
NEW=order_stats=pruned,pairwise=deferred,center_mix=wide
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
t 90 verify-cuda-default $B verify --backend cuda
t 150 verify-cuda-new env BYZAGG_CUDA_KERNELS=$NEW $B verify --backend cuda
t 30 verify-wgpu-serial $B verify --backend wgpu
t 30 verify-wgpu-coalesced env BYZAGG_WGPU_KERNELS=coalesced $B verify --backend wgpu
for x in tied_distances train_resident gm_equivariance weight_scale; do
  t 60 test-$x env BYZAGG_REQUIRE=cuda,wgpu gpu-bin/$x -q
done
t 60 test-tied-new env BYZAGG_CUDA_KERNELS=$NEW BYZAGG_REQUIRE=cuda gpu-bin/tied_distances -q
P="--rule order_stats --rule pairwise_dist --rule center_dist --rule mix --d 1e8 --runs 3"
t 100 prim-old env -u BYZAGG_CUDA_KERNELS BYZAGG_WGPU_KERNELS=serial $B bench --backend cuda --backend wgpu $P --n 16,32 --json $OUT/prim-old.json
t 100 prim-new env BYZAGG_CUDA_KERNELS=$NEW BYZAGG_WGPU_KERNELS=coalesced $B bench --backend cuda --backend wgpu $P --n 16,32 --json $OUT/prim-new.json
t 60 prim64-old $B bench --backend cuda $P --n 64 --json $OUT/prim64-old.json
t 60 prim64-new env BYZAGG_CUDA_KERNELS=$NEW $B bench --backend cuda $P --n 64 --json $OUT/prim64-new.json
W="--rule order_stats --rule mix --weighted --d 1e8 --runs 3 --n 16,32,64"
t 60 primw-old $B bench --backend cuda $W --json $OUT/primw-old.json
t 60 primw-new env BYZAGG_CUDA_KERNELS=$NEW $B bench --backend cuda $W --json $OUT/primw-new.json
t 90 torch-peer python3 scripts/torch_peer.py --n 16 32 64 --d 100000000 --repeats 3 --json $OUT/torch.json
N=order_stats=pruned,pairwise=deferred,center_mix=wide
python3 scripts/primitives_table.py --torch $OUT/torch.json --out $OUT/primitives.json \
  --bench $OUT/prim-old.json default serial --bench $OUT/prim-new.json $N coalesced \
  --bench $OUT/prim64-old.json default default --bench $OUT/prim64-new.json $N default \
  --bench $OUT/primw-old.json default default --bench $OUT/primw-new.json $N default > $OUT/primitives.md
cat $OUT/primitives.md
for v in default $NEW; do t 40 paths-$v env BYZAGG_CUDA_KERNELS=${v/default/} gpu-bin/cuda_distance_paths 32 100000000; done
t 90 resident-rules env BYZAGG_CUDA_KERNELS=$NEW $B bench --resident --backend cuda --backend wgpu --n 32 --d 1e8 --runs 3 \
  --rule cwmed --rule cwtm --rule krum --rule 'ctma(cwmed)' --rule gm --json $OUT/resident-new.json
WH=$(ls gpu-bin/byzagg-*.whl | head -1)
if python3 -m pip install -q --no-deps --target /tmp/site "$WH"; then
  t 60 torch-cuda python3 scripts/torch_cuda_check.py /tmp/site
  t 60 ddp-cuda python3 scripts/ddp_cuda_check.py /tmp/site
fi
cat $S
