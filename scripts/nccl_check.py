"""byzagg.torch.distributed over NCCL, one rank per GPU (run by scripts/gpu-check.sh where a
machine has two GPUs or more; the gloo tests in python/tests cover the logic on the CPU).

Usage: python3 scripts/nccl_check.py WHEEL_OR_SITE_DIR

Each rank holds a gradient on its own GPU (the last rank's flipped and scaled x100); every rank
runs robust_all_reduce and sharded_aggregate on CUDA tensors; rank 0 checks the results against
single-process byzagg on the gathered rows and prints one line per rule. Exit 1 on a mismatch.
"""

from __future__ import annotations

import os
import sys

import numpy as np
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

D = 1_000_003
RULES = ["cwmed", "mean", "ctma(cwmed,lambda=0.25)", "gm"]


def row(rank: int, world: int) -> np.ndarray:
    g = np.random.default_rng(rank).standard_normal(D).astype(np.float32) * 0.1 + 1.0
    return -100.0 * g if rank == world - 1 and world > 2 else g


def run(rank: int, world: int, port: int) -> None:
    import byzagg
    import byzagg.torch.distributed as bd

    torch.cuda.set_device(rank)
    dist.init_process_group(
        "nccl", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world
    )
    rows = [row(r, world) for r in range(world)]
    bad = 0
    for rule in RULES:
        t = torch.from_numpy(rows[rank]).cuda()
        got = bd.robust_all_reduce(t, rule).cpu().numpy()
        sharded = bd.sharded_aggregate(t.unsqueeze(0), rule).cpu().numpy()
        want = byzagg.aggregate(rows, rule, backend="cpu")
        ok = np.array_equal(got, want) and np.allclose(sharded, want, rtol=1e-4, atol=1e-5)
        bad += not ok
        if rank == 0:
            print(f"nccl world {world} {rule}: {'ok' if ok else 'MISMATCH'}", flush=True)
    dist.destroy_process_group()
    if bad:
        sys.exit(1)


if __name__ == "__main__":
    sys.path.insert(0, sys.argv[1])
    os.environ["PYTHONPATH"] = sys.argv[1] + os.pathsep + os.environ.get("PYTHONPATH", "")
    world = torch.cuda.device_count()
    if world < 2:
        print("skipped: NCCL needs two GPUs or more")
        sys.exit(0)
    mp.spawn(run, args=(world, 29533), nprocs=world)
