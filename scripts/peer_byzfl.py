"""Times byzagg against ByzFL (EPFL's Byzantine-robust FL library) on the same rules and batch.

    python scripts/peer_byzfl.py                      # n = 20, d = 1e5, f = 4, every rule
    python scripts/peer_byzfl.py --n 30 --f 6 --rule mda --runs 1

It times the installed package (``pip install ./python byzfl``).

Both read one float32 (n, d) numpy batch (ByzFL computes in numpy); each time is the median of
--runs calls after one warm-up, beside a numpy read pass of the batch (``x.sum(axis=0)``) in the
same run. byzagg runs on its CPU backend. Rules byzagg or the installed ByzFL lacks are listed
as such, not timed.
"""

from __future__ import annotations

import argparse
import time
from typing import Any, Callable

import byzagg
import numpy as np


def peers(b: Any, f: int) -> dict[str, tuple[str, Callable[[np.ndarray], Any]]]:
    """byzagg rule text and ByzFL's computation, by short name."""
    return {
        "mean": ("mean", b.Average()),
        "cwmed": ("cwmed", b.Median()),
        "cwtm": (f"cwtm(f={f})", b.TrMean(f=f)),
        "meamed": (f"meamed(f={f})", b.Meamed(f=f)),
        "krum": (f"krum(f={f})", b.Krum(f=f)),
        "multikrum": (f"multikrum(f={f})", b.MultiKrum(f=f)),
        "gm": ("gm", b.GeometricMedian()),
        "monna": (f"monna(f={f},pivot=0)", b.MoNNA(f=f, idx=0)),
        "nnm(cwmed)": (f"nnm(cwmed,f={f})", lambda x: b.Median()(b.NNM(f=f)(x))),
        "mda": (f"mda(f={f})", b.MDA(f=f)),
        "smea": (f"smea(f={f})", b.SMEA(f=f)),
        "caf": (f"caf(f={f})", b.CAF(f=f)),
        "clip(mean)": ("clip(mean,tau=2)", lambda x: b.Average()(b.Clipping(c=2.0)(x))),
        "arc(mean)": (f"arc(mean,f={f})", lambda x: b.Average()(b.ARC(f=f)(x))),
    }


def median_time(runs: int, call: Callable[[], Any]) -> float:
    call()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--n", type=int, default=20)
    p.add_argument("--d", type=float, default=1e5)
    p.add_argument("--f", type=int, default=4)
    p.add_argument("--rule", nargs="+", default=None, help="short names (default: all)")
    p.add_argument("--runs", type=int, default=5)
    args = p.parse_args()
    import byzfl

    table = peers(byzfl, args.f)
    names = args.rule or list(table)
    n, d = args.n, int(args.d)
    x = np.random.default_rng(24301).standard_normal((n, d), dtype=np.float32)
    read = median_time(args.runs, lambda: x.sum(axis=0))
    print(f"n = {n}, d = {d}, f = {args.f}; numpy read pass {read:.5f} s (median of {args.runs})")
    print(
        f"{'rule':<12}{'byzagg s':>10}{'x read':>8}{'ByzFL s':>10}{'x read':>8}{'ByzFL/byzagg':>14}"
    )
    for name in names:
        rule, peer = table[name]
        try:
            agg = byzagg.Aggregator(rule, backend="cpu")
            ours = median_time(args.runs, lambda: agg.aggregate(x))  # noqa: B023 (called here)
        except ValueError as e:
            print(f"{name:<12}  byzagg: {e}")
            continue
        theirs = median_time(args.runs, lambda: peer(x))  # noqa: B023 (called here)
        print(
            f"{name:<12}{ours:>10.4f}{ours / read:>8.1f}{theirs:>10.4f}{theirs / read:>8.1f}"
            f"{theirs / ours:>14.1f}"
        )


if __name__ == "__main__":
    main()
