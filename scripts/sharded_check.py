#!/usr/bin/env python3
"""The sharded engine on a GPU machine: `byzagg aggregate` on CUDA shards equals one device.

Usage: sharded_check.py BYZAGG_BIN OUT_DIR

One GPU split in two shards (`cuda:0,cuda:0`) exercises the whole sharded path (two streams,
partials added on the host); where the machine has several GPUs, `cuda:all` too. Medians and
single-row Krum must be bit-identical to `--backend cuda`; sums within the conformance suite's
accuracy (1e-5 of the scale, 1e-4 for the geometric median run to a tolerance). Needs numpy.
Exit 0 when every comparison holds, 1 otherwise.
"""

import re
import subprocess
import sys
from pathlib import Path

import numpy as np

RULES = [
    ("cwmed", 0.0),
    ("krum(f=3)", 0.0),
    ("mean", 1e-5),
    ("cwtm(lambda=0.2)", 1e-5),
    ("multikrum(f=3)", 1e-5),
    ("ctma(cwmed,lambda=0.2)", 1e-5),
    ("nnm(cwmed,lambda=0.2)", 1e-5),
    ("cclip(tau=1,iters=3)", 1e-5),
    ("gm", 1e-4),
]


def aggregate(binary, rule, backend, rows, out):
    subprocess.run(
        [binary, "aggregate", "--rule", rule, "--backend", backend, str(rows), "-o", str(out)],
        check=True,
    )
    return np.load(out)


def main():
    binary, out_dir = sys.argv[1], Path(sys.argv[2])
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    n, d = 16, 10_000_019  # not a multiple of the shard alignment
    rows = (rng.standard_normal(d, dtype=np.float32) + rng.standard_normal((n, d), dtype=np.float32)).astype(
        np.float32
    )
    rows[2] = np.nan
    rows[5] = 1e30
    path = out_dir / "sharded-rows.npy"
    np.save(path, rows)
    devices = subprocess.run([binary, "devices"], capture_output=True, text=True).stdout
    count = len(re.findall(r"^\s+cuda:\d+: ", devices, flags=re.M))
    lists = ["cuda:0,cuda:0"] + (["cuda:all"] if count > 1 else [])
    failed = 0
    for rule, tol in RULES:
        want = aggregate(binary, rule, "cuda", path, out_dir / "one.npy")
        for backend in lists:
            got = aggregate(binary, rule, backend, path, out_dir / "sharded.npy")
            scale = max(1.0, float(np.abs(want[np.isfinite(want)]).max(initial=0.0)))
            if tol == 0.0:
                ok = np.array_equal(want.view(np.uint32), got.view(np.uint32))
                err = float(np.abs(want.astype(np.float64) - got).max()) / scale
            else:
                err = float(np.abs(want.astype(np.float64) - got).max()) / scale
                ok = err <= tol
            print(f"{rule:<24} {backend:<14} max error {err:.2e} {'ok' if ok else 'FAILED'}")
            failed += not ok
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
