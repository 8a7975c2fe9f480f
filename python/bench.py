"""Times byzagg.aggregate against numpy, torch (where installed) and the crate's own
`byzagg bench` on the same jobs.

    python python/bench.py                       # n = 16, 64; d = 1e6, 1e7; cwmed, mean
    python python/bench.py --n 16 --d 1000000 --rule cwmed --runs 9

Each time is the median of --runs calls after one warm-up. `aggregate s` is the function
`byzagg.aggregate(x, rule)` as a user calls it (a new output each call); `Aggregator s` a
reused `byzagg.Aggregator` writing into a preallocated `out=`; the two and numpy's call are
alternated run by run, so the machine's load falls on all alike. The Rust column is
`byzagg bench` (found as target/release/byzagg or with --cli) for the same rule, n, d and
backend, so "py/rust" is the cost of the Python layer. byzagg's cpu backend uses rayon's
threads (RAYON_NUM_THREADS, else one per core: printed first); numpy's median and mean run on
one thread.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
from functools import partial
from pathlib import Path

import numpy as np

import byzagg

PEERS = {
    "cwmed": lambda x: np.median(x, axis=0),
    "mean": lambda x: x.mean(axis=0),
}
TORCH_PEERS = {
    "cwmed": lambda t, x: t.quantile(x, 0.5, dim=0) if x.shape[1] <= 2**24 else None,
    "mean": lambda t, x: x.mean(dim=0),
}


def median_time(runs: int, call, *args, **kwargs) -> float:
    call(*args, **kwargs)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        call(*args, **kwargs)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def interleaved_times(runs: int, *calls) -> list[float]:
    """The median time of each call, the calls alternated run by run after one warm-up each."""
    for call in calls:
        call()
    times: list[list[float]] = [[] for _ in calls]
    for _ in range(runs):
        for call, t in zip(calls, times):
            start = time.perf_counter()
            call()
            t.append(time.perf_counter() - start)
    return [float(np.median(t)) for t in times]


def rust_time(cli: Path, rule: str, n: int, d: int, backend: str, runs: int) -> float | None:
    if not cli.is_file():
        return None
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "bench.json"
        subprocess.run(
            [cli, "bench", "--rule", rule, "--backend", backend, "--n", str(n), "--d", str(d),
             "--runs", str(runs), "--json", out],
            check=True,
            capture_output=True,
        )  # fmt: skip
        return float(json.loads(out.read_text())[0]["seconds"])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--n", type=int, nargs="+", default=[16, 64])
    p.add_argument("--d", type=float, nargs="+", default=[1e6, 1e7])
    p.add_argument("--rule", nargs="+", default=["cwmed", "mean"])
    p.add_argument("--backend", default="cpu")
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--cli", type=Path, default=Path(__file__).parents[1] / "target/release/byzagg")
    args = p.parse_args()
    try:
        import torch
    except ImportError:
        torch = None
        print("torch not installed: no torch column")
    threads = os.environ.get("RAYON_NUM_THREADS") or f"{os.cpu_count()} (one per core)"
    print(f"byzagg cpu threads: {threads}; numpy: 1")
    print(f"{'rule':<8}{'n':>4}{'d':>10}  {'aggregate s':>11}  {'Aggregator s':>12}  {'rust s':>9}"
          f"  {'py/rust':>7}  {'numpy s':>9}  {'numpy/aggregate':>15}  {'torch s':>9}")  # fmt: skip
    for rule in args.rule:
        agg = byzagg.Aggregator(rule, backend=args.backend)
        for n in args.n:
            for d in (int(v) for v in args.d):
                x = np.random.default_rng(24301).standard_normal((n, d), dtype=np.float32)
                out = np.empty(d, np.float32)
                peer = PEERS.get(rule)
                calls = [
                    partial(byzagg.aggregate, x, rule, backend=args.backend),
                    partial(agg.aggregate, x, out=out),
                ] + ([partial(peer, x)] if peer else [])
                times = interleaved_times(args.runs, *calls)
                func, ours = times[0], times[1]
                numpy_s = times[2] if peer else None
                rust = rust_time(args.cli, rule, n, d, args.backend, args.runs)
                torch_s = None
                if torch is not None and rule in TORCH_PEERS:
                    tx = torch.from_numpy(x)
                    torch_s = median_time(args.runs, TORCH_PEERS[rule], torch, tx)
                print(
                    f"{rule:<8}{n:>4}{d:>10}  {func:>11.4f}  {ours:>12.4f}  {fmt(rust)}  "
                    f"{fmt(rust and ours / rust, 7, '.3f')}  {fmt(numpy_s)}  "
                    f"{fmt(numpy_s and numpy_s / func, 15, '.1f')}  {fmt(torch_s)}"
                )


def fmt(v: float | None, width: int = 9, spec: str = ".4f") -> str:
    return f"{v:>{width}{spec}}" if v is not None else f"{'-':>{width}}"


if __name__ == "__main__":
    main()
