"""byzagg.torch on CUDA tensors (rows read in place on the GPU, PyTorch's current stream) against
the CPU backend on the same rows; run by scripts/gpu-check.sh with the carried wheel.

Usage: python3 scripts/torch_cuda_check.py SITE_DIR

Prints one line per rule and exits 1 on a mismatch beyond SPEC 5's float32 tolerance.
"""

from __future__ import annotations

import sys

import numpy as np
import torch

sys.path.insert(0, sys.argv[1])

import byzagg  # from the carried wheel's folder (sys.path above)
import byzagg.torch

RULES = ["cwmed", "cwtm(f=4)", "krum(f=4)", "gm", "ctma(cwmed,f=4)", "meamed(f=4)"]


def main() -> None:
    rng = np.random.default_rng(3)
    x = rng.standard_normal((20, 1_000_003), dtype=np.float32)
    x[1] = np.nan
    x[2] *= 1e6
    w = np.arange(1.0, 21.0)
    rows = torch.from_numpy(x).cuda()
    bad = 0
    for rule in RULES:
        for weights in (None, w):
            got = byzagg.torch.aggregate(rows, rule, weights=weights)
            want = byzagg.aggregate(x, rule, weights=weights, backend="cpu")
            ok = got.device == rows.device and np.allclose(
                got.cpu().numpy(), want, rtol=1e-5, atol=1e-6
            )
            bad += not ok
            kind = "weighted" if weights is not None else "uniform"
            print(f"torch cuda {rule} {kind}: {'ok' if ok else 'MISMATCH'}", flush=True)
    bad += dlpack_and_byzfl(x, rows)
    sys.exit(1 if bad else 0)


def dlpack_and_byzfl(x: np.ndarray, rows: torch.Tensor) -> int:
    """CUDA DLPack input to byzagg.aggregate (a producer that is not a torch tensor), and
    byzagg.byzfl's classes on CUDA tensors: results on the right device, equal to the CPU's."""
    import byzagg.byzfl as bf

    class Producer:  # only DLPack, as CuPy or JAX arrays on the GPU look to byzagg
        def __dlpack__(self, stream=None, **kwargs):
            return rows.__dlpack__(stream=stream)

        def __dlpack_device__(self):
            return rows.__dlpack_device__()

    bad = 0
    got = byzagg.aggregate(Producer(), "ctma(cwmed,f=4)")
    want = byzagg.aggregate(x, "ctma(cwmed,f=4)", backend="cpu")
    ok = isinstance(got, np.ndarray) and np.allclose(got, want, rtol=1e-5, atol=1e-6)
    bad += not ok
    print(f"dlpack cuda ctma(cwmed): {'ok' if ok else 'MISMATCH'}", flush=True)
    finite = torch.nan_to_num(rows[:, :100_000], nan=0.0).contiguous()
    for name, make in [
        ("Krum", lambda: bf.Krum(f=4)),
        ("Median", lambda: bf.Median()),
        ("NNM", lambda: bf.NNM(f=4)),
        ("ARC", lambda: bf.ARC(f=4)),
    ]:
        got = make()(finite)
        want = make()(finite.cpu())
        ok = got.device == finite.device and torch.allclose(got.cpu(), want, rtol=1e-5, atol=1e-4)
        bad += not ok
        print(f"byzagg.byzfl {name} on cuda: {'ok' if ok else 'MISMATCH'}", flush=True)
    return bad


if __name__ == "__main__":
    main()
