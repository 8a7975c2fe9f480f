"""Times ByzFL's classes beside byzagg.byzfl's drop-ins, the same call on the same batch.

    python scripts/byzfl_dropin_bench.py                         # n = 20, d = 11,689,512
    python scripts/byzfl_dropin_bench.py --input torch --rules Median Krum --runs 3
    python scripts/byzfl_dropin_bench.py --input cuda            # tensors on the GPU

The default is ByzFL's benchmark setting: n = 20 clients (f = 4), d = 11,689,512 (the
parameters of a ResNet-18), one float32 batch, as a numpy array or a torch tensor (ByzFL's
framework hands its aggregators flattened torch tensors). Each class is called as ByzFL
documents it (``Krum(f=4)(vectors)``); the time is the median of --runs calls after one
warm-up, ByzFL's and byzagg's alternating in one run on one machine. The thread counts of
both sides are printed with the results: numpy's and torch's (ByzFL) and byzagg's pool.
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any, Callable

import numpy as np

RESNET18 = 11_689_512


def classes(f: int) -> dict[str, Callable[[Any], Any]]:
    """Class name -> how to build it from a module with ByzFL's names."""
    return {
        "Average": lambda m: m.Average(),
        "Median": lambda m: m.Median(),
        "TrMean": lambda m: m.TrMean(f=f),
        "GeometricMedian": lambda m: m.GeometricMedian(),
        "Krum": lambda m: m.Krum(f=f),
        "MultiKrum": lambda m: m.MultiKrum(f=f),
        "Meamed": lambda m: m.Meamed(f=f),
        "MoNNA": lambda m: m.MoNNA(f=f),
        "CenteredClipping": lambda m: m.CenteredClipping(),
        "NNM+Median": lambda m: chain(m.NNM(f=f), m.Median()),
        "ARC+Average": lambda m: chain(m.ARC(f=f), m.Average()),
    }


def chain(pre: Callable[[Any], Any], agg: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """A pre-aggregator, then an aggregator, as ByzFL's RobustAggregator runs them."""
    return lambda x: agg(pre(x))


def median_time(runs: int, call: Callable[[], Any], sync: Callable[[], None]) -> float:
    call()
    sync()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        sync()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--n", type=int, default=20)
    p.add_argument("--d", type=int, default=RESNET18)
    p.add_argument("--f", type=int, default=4)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--input", choices=["numpy", "torch", "cuda"], default="numpy")
    p.add_argument("--rules", nargs="*", default=None, help="class names (default: all)")
    args = p.parse_args()

    import byzfl
    import torch

    import byzagg
    import byzagg.byzfl as dropin

    rng = np.random.default_rng(0)
    x = rng.standard_normal((args.n, args.d), dtype=np.float32)
    x[: args.f] *= 100.0  # the Byzantine rows
    batch: Any = x
    sync: Callable[[], None] = lambda: None  # noqa: E731
    if args.input != "numpy":
        batch = torch.from_numpy(x)
        if args.input == "cuda":
            batch = batch.cuda()
            sync = torch.cuda.synchronize
    threads = os.environ.get("RAYON_NUM_THREADS") or str(os.cpu_count())
    print(
        f"n = {args.n}, d = {args.d:,}, f = {args.f}, input {args.input}, runs {args.runs}; "
        f"threads: byzagg {threads} (rayon), torch {torch.get_num_threads()}, cores "
        f"{os.cpu_count()}; byzagg backend for host input: cpu; byzagg {byzagg.__version__}"
    )
    print(f"{'class':18} {'ByzFL s':>10} {'byzagg s':>10} {'speedup':>8}")
    chosen = classes(args.f)
    for name in args.rules or list(chosen):
        make = chosen[name]
        ours, theirs = make(dropin), make(byzfl)
        # ByzFL's clipping writes into its input: it gets a copy of its own (made once, out of
        # the timing; later calls clip the same rows of it again, the same work).
        own = batch
        if "ARC" in name or "Clipping" in name:
            own = batch.clone() if args.input != "numpy" else batch.copy()
        t_theirs = median_time(args.runs, lambda f=theirs, x=own: f(x), sync)
        t_ours = median_time(args.runs, lambda f=ours: f(batch), sync)
        print(f"{name:18} {t_theirs:10.3f} {t_ours:10.3f} {t_theirs / t_ours:8.1f}", flush=True)


if __name__ == "__main__":
    main()
