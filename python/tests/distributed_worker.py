"""One rank of the torch.distributed tests (run by test_distributed.py, one process per rank).

Usage: distributed_worker.py INIT_METHOD RANK WORLD OUT_DIR

Runs every scenario in one process group, so the ranks import torch once: robust_all_reduce
with a Byzantine rank (NaN, then sign-flipped scaled gradients), sharded_aggregate on uneven
rows with Byzantine rows, and a small DDP training with and without the robust hook. Each
rank writes its results to OUT_DIR/rank{RANK}.npz; the test compares them against
single-process byzagg.
"""

from __future__ import annotations

import sys

import numpy as np
import torch
import torch.distributed as dist

import byzagg.torch.distributed as bd

BYZANTINE = 3  # the rank that misbehaves
D = 1001  # not a multiple of the world size: uneven coordinate ranges
ALL_REDUCE_RULES = ["cwmed", "cwtm(f=1)", "cge(f=1)", "ctma(cwmed,f=1)", "gm"]
SHARDED_RULES = ["cwmed", "mean", "krum(f=2)", "ctma(cwmed,f=2)", "gm", "nnm(cwmed,f=2)"]


def gradient(rank: int, attack: str) -> torch.Tensor:
    """Rank ``rank``'s gradient: honest ones near a common point; the Byzantine one attacks."""
    g = torch.from_numpy(np.random.default_rng(rank).standard_normal(D).astype(np.float32))
    g = g * 0.1 + 1.0
    if rank == BYZANTINE and attack == "nan":
        g[::7] = float("nan")
    elif rank == BYZANTINE and attack == "flip":
        g = -100.0 * g
    return g


def held_rows(rank: int) -> torch.Tensor:
    """The rows rank ``rank`` holds for sharded_aggregate: 3, 2, 3 and 0 rows."""
    k = [3, 2, 3, 0][rank]
    rng = np.random.default_rng(100 + rank)
    x = rng.standard_normal((k, D)).astype(np.float32)
    if rank == 1:
        x[0, 5] = np.nan  # a Byzantine row with a NaN
    if rank == 2:
        x[2] = 1e30  # a Byzantine row of huge values
    return torch.from_numpy(x)


def clean_loss(model: torch.nn.Module, truth: torch.Tensor) -> float:
    """The model's loss on held-out clean data (inf where the model is NaN)."""
    x = torch.randn(512, 8, generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        loss = torch.nn.functional.mse_loss(model(x), (x @ truth).unsqueeze(1)).item()
    return loss if np.isfinite(loss) else float("inf")


def train(rank: int, world: int, hook: str | None) -> tuple[float, float]:
    """A small regression trained with DDP; the Byzantine rank's loss is scaled by -50 (its
    gradients flipped and scaled). Returns the loss on clean data before and after."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1))
    # A tiny bucket cap: several buckets, so the whole-model path gathers across buckets.
    ddp = torch.nn.parallel.DistributedDataParallel(model, bucket_cap_mb=0.0001)
    if hook is not None:
        ddp.register_comm_hook(None, bd.ddp_comm_hook(hook))
    opt = torch.optim.SGD(ddp.parameters(), lr=0.1)
    truth = torch.linspace(-1, 1, 8)
    before = clean_loss(model, truth)
    gen = torch.Generator().manual_seed(1000 + rank)
    for _ in range(150):
        x = torch.randn(32, 8, generator=gen)
        y = (x @ truth).unsqueeze(1)
        loss = torch.nn.functional.mse_loss(ddp(x), y)
        if rank == BYZANTINE:
            loss = -50.0 * loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    return before, clean_loss(model, truth)


def main() -> None:
    init, rank, world, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=world)
    results: dict[str, np.ndarray] = {}
    for attack in ("nan", "flip"):
        for rule in ALL_REDUCE_RULES:
            t = gradient(rank, attack)
            returned = bd.robust_all_reduce(t, rule)
            assert returned is t, "robust_all_reduce works in place"
            results[f"all_reduce/{attack}/{rule}"] = t.numpy()
        t = gradient(rank, attack)
        bd.robust_all_reduce(t, "cwmed", weights=float(rank + 1))
        results[f"all_reduce_weighted/{attack}"] = t.numpy()
    rows = held_rows(rank)
    own_weights = [1.0 + rank + i for i in range(rows.shape[0])]
    for rule in SHARDED_RULES:
        results[f"sharded/{rule}"] = bd.sharded_aggregate(rows, rule).numpy()
        results[f"sharded_weighted/{rule}"] = bd.sharded_aggregate(
            rows, rule, weights=own_weights
        ).numpy()
    for hook in (None, "cwmed", "ctma(cwmed,f=1)"):
        results[f"ddp/{hook}"] = np.array(train(rank, world, hook))
    dist.barrier()
    dist.destroy_process_group()
    np.savez(f"{out}/rank{rank}.npz", **results)


if __name__ == "__main__":
    main()
