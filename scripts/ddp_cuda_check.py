"""The replicated collectives' two paths for CUDA tensors, on a GPU: device against host.

    python scripts/ddp_cuda_check.py SITE [--n 16] [--d 11689512] [--runs 5]

SITE is a folder holding the installed byzagg wheel (``pip install --target``), put first on
sys.path. Two parts, in one run on one GPU:

1. The rule on n gathered CUDA rows, as ``robust_all_reduce`` and ``ddp_comm_hook`` run it:
   ``backend="auto"`` (the rows stay on the GPU, the CUDA backend on PyTorch's current stream)
   beside ``backend="cpu"`` (n x d values to the host and the result back), timed side by side
   (median of --runs after a warm-up, CUDA synchronized), with the two results compared.
2. A DistributedDataParallel job with the hook: 4 gloo ranks sharing the GPU (NCCL wants one
   GPU per rank), rank 3 Byzantine (its gradients scaled by -50), 3 steps of ctma(cwmed):
   every rank's parameters must be the same bits, and finite, on the device path.

Exits non-zero on a mismatch.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from typing import Any


def part_paths(torch: Any, n: int, d: int, runs: int) -> bool:
    from byzagg.torch.distributed import _Reducer

    ok = True
    gen = torch.Generator(device="cuda").manual_seed(0)
    rows = [torch.randn(d, device="cuda", generator=gen) for _ in range(n)]
    rows[0].mul_(100.0)
    print(f"part 1: n = {n}, d = {d:,}, {torch.cuda.get_device_name()}")
    print(f"{'rule':18} {'path':>7} {'host s':>9} {'device s':>9} {'host/dev':>9} {'max diff':>9}")
    for rule in ["cwmed", "ctma(cwmed,f=3)", "krum(f=3)", "gm"]:
        device, host = _Reducer(rule, None, None, "auto"), _Reducer(rule, None, None, "cpu")

        def timed(r: Any) -> tuple[float, Any]:
            out = r(torch, rows)
            torch.cuda.synchronize()
            times = []
            for _ in range(runs):
                start = time.perf_counter()
                out = r(torch, rows)
                torch.cuda.synchronize()
                times.append(time.perf_counter() - start)
            return sorted(times)[len(times) // 2], out

        t_host, out_host = timed(host)
        t_dev, out_dev = timed(device)
        path = device.path(rows)
        diff = float((out_host - out_dev).abs().max() / (out_host.abs().max() + 1))
        print(
            f"{rule:18} {path:>7} {t_host:9.4f} {t_dev:9.4f} {t_host / t_dev:9.2f} {diff:9.2e}",
            flush=True,
        )
        ok &= path == "device" and out_dev.device.type == "cuda" and diff < 1e-5
    return ok


def _rank(rank: int, world: int, init: str, site: str, result: str) -> None:
    sys.path.insert(0, site)
    import torch
    import torch.distributed as dist

    import byzagg.torch.distributed as bd

    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=world)
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(64, 256), torch.nn.ReLU(), torch.nn.Linear(256, 10))
    model = torch.nn.parallel.DistributedDataParallel(net.cuda(), device_ids=[0])
    hook = bd.ddp_comm_hook("ctma(cwmed)", f=1)
    model.register_comm_hook(None, hook)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    gen = torch.Generator().manual_seed(rank)
    for _ in range(3):
        x, y = torch.randn(32, 64, generator=gen).cuda(), torch.randint(0, 10, (32,), generator=gen)
        loss = torch.nn.functional.cross_entropy(model(x), y.cuda())
        if rank == world - 1:
            loss = -50.0 * loss  # the Byzantine rank
        opt.zero_grad()
        loss.backward()
        opt.step()
    flat = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
    torch.save(flat.cpu(), f"{result}.{rank}")
    dist.destroy_process_group()


def part_ddp(torch: Any, site: str) -> bool:
    import torch.multiprocessing as mp

    world = 4
    with tempfile.TemporaryDirectory() as tmp:
        init = f"file://{tmp}/init"
        result = f"{tmp}/params"
        mp.spawn(_rank, args=(world, init, site, result), nprocs=world, join=True)
        params = [torch.load(f"{result}.{r}") for r in range(world)]
    same = all(torch.equal(params[0], p) for p in params[1:])
    finite = bool(torch.isfinite(params[0]).all())
    print(
        f"part 2: DDP, {world} gloo ranks on one GPU, rank 3 Byzantine, ctma(cwmed) f=1: "
        f"parameters identical on every rank: {same}; finite: {finite}"
    )
    return same and finite


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("site")
    p.add_argument("--n", type=int, default=16)
    p.add_argument("--d", type=int, default=11_689_512)
    p.add_argument("--runs", type=int, default=5)
    args = p.parse_args()
    sys.path.insert(0, os.path.abspath(args.site))
    import torch

    if not torch.cuda.is_available():
        print("no CUDA device: nothing to check")
        sys.exit(1)
    ok = part_paths(torch, args.n, args.d, args.runs)
    ok &= part_ddp(torch, os.path.abspath(args.site))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
