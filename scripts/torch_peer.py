#!/usr/bin/env python3
"""PyTorch peer for `byzagg bench --backend cuda`: the same jobs at the same sizes, on the same GPU.

Jobs (unweighted, f = floor(0.2 n) Byzantine rows, the data n x d float32 on the GPU):
  cwmed  torch.median(x, dim=0)        (torch returns the LOWER median for even n; byzagg the
                                        midpoint, SPEC 4.2: same cost, different value)
  cwtm   sort along dim 0, mean of rows f .. n-f-1
  krum   torch.cdist(x, x)^2, score = sum of the n-f-2 smallest off-diagonal entries, argmin
  ctma   center = cwmed, distances to it, mean of the n-f closest rows (SPEC 4.6)
  read   x.sum(): one read pass over the batch on the device, the HBM yardstick against which
         byzagg's resident primitives (bench --rule order_stats ...) are compared
PyTorch's equivalents of byzagg's primitives (scripts/primitives_table.py puts them beside
`byzagg bench --rule <primitive>`; cwmed stands for order_stats' median):
  cdist        torch.cdist(x, x)^2: pairwise_dist's n x n squared distances (torch's GEMM form)
  center_dist  ((x - c)^2).sum(dim=1) with c = 0, as `byzagg bench` times center_dist
  mix          w @ x with w = 1/n: mix with k = 1 (any coefficients cost the same GEMV)

Where a job does not fit in GPU memory (torch.median and sort keep int64 indices: 3x the
data), it runs over coordinate chunks, as byzagg does, and the JSON says so. Each timing is
the median of `--repeats` runs after one warm-up, with torch.cuda.synchronize() before the
clock stops. Writes a JSON list of records to --json and prints one line per record.
"""
import argparse
import json
import statistics
import sys
import time


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, nargs="+", default=[16, 64])
    ap.add_argument("--d", type=int, nargs="+", default=[10**6, 10**7, 10**8])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--jobs", nargs="+", default=None, help="jobs to time (default: all; read always runs)")
    ap.add_argument("--json", required=True)
    args = ap.parse_args()

    import torch

    if not torch.cuda.is_available():
        print("torch sees no CUDA device", file=sys.stderr)
        json.dump({"error": "torch sees no CUDA device"}, open(args.json, "w"))
        return 1
    dev = torch.device("cuda")
    props = torch.cuda.get_device_properties(dev)
    meta = {"device": props.name, "torch": torch.__version__, "cuda": torch.version.cuda}
    print(meta)

    def cwmed(x):
        return torch.median(x, dim=0).values

    def cwtm(x, f):
        s, _ = torch.sort(x, dim=0)
        return s[f : x.shape[0] - f].mean(dim=0)

    def krum(x, f):
        n = x.shape[0]
        dist = torch.cdist(x, x).pow(2)
        dist.fill_diagonal_(float("inf"))
        k = n - f - 2
        scores = torch.topk(dist, k, dim=1, largest=False).values.sum(dim=1)
        return x[torch.argmin(scores)]

    def ctma(x, f, center):
        r = (x - center).pow(2).sum(dim=1)
        keep = torch.topk(r, x.shape[0] - f, largest=False).indices
        return x[keep].mean(dim=0)

    def chunked(fn, x, chunk):
        # Coordinate-wise jobs split over coordinate chunks when the whole does not fit.
        if chunk >= x.shape[1]:
            return fn(x)
        return torch.cat([fn(x[:, j : j + chunk]) for j in range(0, x.shape[1], chunk)])

    records = []
    for n in args.n:
        f = int(0.2 * n)
        for d in args.d:
            torch.cuda.empty_cache()
            try:
                x = torch.randn(n, d, device=dev, dtype=torch.float32)
            except torch.cuda.OutOfMemoryError:
                records.append({"n": n, "d": d, "error": "out of memory for the data"})
                continue
            center = torch.zeros(1, d, device=dev, dtype=torch.float32)
            coeffs = torch.full((1, n), 1.0 / n, device=dev, dtype=torch.float32)
            free, _ = torch.cuda.mem_get_info()
            # Sort-based jobs need about 3 x the data (values + int64 indices): chunk if short.
            chunk = d if free > 4 * x.numel() * 4 else max(1, int(free / (4 * n * 4 * 4)))
            jobs = {
                "read": lambda: x.sum(),
                "cwmed": lambda: chunked(cwmed, x, chunk),
                "cwtm": lambda: chunked(lambda y: cwtm(y, f), x, chunk),
                "krum": lambda: krum(x, f),
                "ctma(cwmed)": lambda: ctma(x, f, chunked(cwmed, x, chunk)),
                "cdist": lambda: torch.cdist(x, x).pow(2),
                "center_dist": lambda: (x - center).pow(2).sum(dim=1),
                "mix": lambda: coeffs @ x,
            }
            if args.jobs:
                unknown = sorted(set(args.jobs) - set(jobs))
                if unknown:
                    print(f"unknown --jobs {unknown}: choose from {sorted(jobs)}", file=sys.stderr)
                    return 2
                jobs = {k: v for k, v in jobs.items() if k == "read" or k in args.jobs}
            for name, job in jobs.items():
                rec = {"job": name, "n": n, "d": d, "f": f, "backend": "torch", **meta}
                if chunk < d and name in ("cwmed", "cwtm", "ctma(cwmed)"):
                    rec["coordinate_chunk"] = chunk
                try:
                    job()
                    torch.cuda.synchronize()
                    times = []
                    for _ in range(args.repeats):
                        t0 = time.perf_counter()
                        job()
                        torch.cuda.synchronize()
                        times.append(time.perf_counter() - t0)
                    rec["ms"] = 1e3 * statistics.median(times)
                    rec["ms_all"] = [1e3 * t for t in times]
                    rec["gb_per_s"] = x.numel() * 4 / (rec["ms"] / 1e3) / 1e9
                except torch.cuda.OutOfMemoryError as e:
                    rec["error"] = f"out of memory: {str(e).splitlines()[0]}"
                    torch.cuda.empty_cache()
                records.append(rec)
                print(json.dumps(rec))
            del x, center, coeffs
    with open(args.json, "w") as fh:
        json.dump(records, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
