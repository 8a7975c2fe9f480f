#!/usr/bin/env python3
"""numpy peer for `byzagg bench`: the same jobs on the same shapes, timed the same way.

Jobs (unweighted, f = n // 5, as `byzagg bench` does; float32 data, approximately N(0, 1),
seeded):
  mean          x.mean(axis=0)
  cwmed         np.median(x, axis=0)
  cwtm          np.sort(x, axis=0)[f:n-f].mean(axis=0)
  krum          squared distances from the Gram matrix (||a||^2 + ||b||^2 - 2 a.b, BLAS),
                score = sum of the n-f-2 smallest off-diagonal entries, the argmin row
  gm            smoothed Weiszfeld as byzagg's default: start at np.median, nu = 1e-6, stop when
                ||z_new - z|| <= 1e-6 max(1, ||z||) or after 200 iterations
  ctma(cwmed)   center = np.median, distances to it, mean of the n-f closest rows (SPEC 4.6)
  center_dist   ((x - c)**2).sum(axis=1) for a zero center c
  clip(mean,tau=1), arc(mean), arc(cwtm)
                as ByzFL writes its `Clipping` and `ARC` pre-aggregators (row norms, rows times
                min(1, tau / norm); ARC's tau the norm of the (k+1)-th largest row,
                k = floor(2 (f/n) (n - f))), then the mean or the cwtm above
  fltrust       root g0 = row 0 (as `byzagg bench`): trust = max(0, x @ g0 / norms), rows
                rescaled to ||g0||, trust-weighted mean

Each job runs once untimed, then `--runs` times, each run followed by a read pass
(`x.sum()`, numpy's own pairwise sum, one thread), and the medians are reported, as in
`byzagg bench`. Writes a JSON list of records (keys as byzagg's: rule, backend, n, d,
weighted, seconds, read_pass_seconds, ratio, gb_per_s, iterations) and prints a table.

With `--byzagg FILE.json` (the output of `byzagg bench --json` on the same shapes) it also
prints the speedup of byzagg over numpy per job and shape, as a Markdown table.

With `--memory BIN` it runs `BIN bench --rule R --n N --d D --runs 1 --warmup 0` for each
job under /usr/bin/time and reports the peak RSS against the batch's size: the check that
byzagg keeps no n x d temporary beyond the input (peak <= batch + O(d)).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

JOBS = ["mean", "cwmed", "cwtm", "krum", "gm", "ctma(cwmed)", "center_dist"]


def cwmed(x, f):
    return np.median(x, axis=0)


def cwtm(x, f):
    n = x.shape[0]
    return np.sort(x, axis=0)[f : n - f].mean(axis=0)


def sq_dists(x):
    sq = np.einsum("ij,ij->i", x, x, dtype=np.float64)
    g = (x @ x.T).astype(np.float64)
    return np.maximum(sq[:, None] + sq[None, :] - 2.0 * g, 0.0)


def krum(x, f):
    n = x.shape[0]
    dist = sq_dists(x)
    np.fill_diagonal(dist, np.inf)
    scores = np.sort(dist, axis=1)[:, : n - f - 2].sum(axis=1)
    return x[int(np.argmin(scores))]


def gm(x, f, nu=1e-6, tol=1e-6, max_iter=200):
    z = np.median(x, axis=0)
    it = 0
    for it in range(1, max_iter + 1):
        r = np.sqrt(((x - z) ** 2).sum(axis=1, dtype=np.float64))
        b = 1.0 / np.maximum(nu, r)
        # float32 weights: b @ x in float64 would first copy x to an n x d float64 array.
        nxt = (b.astype(np.float32) @ x) / np.float32(b.sum())
        step = float(np.linalg.norm(nxt - z))
        norm = float(np.linalg.norm(z))
        z = nxt
        if step <= tol * max(1.0, norm):
            break
    gm.iterations = it
    return z


def ctma(x, f):
    n = x.shape[0]
    center = np.median(x, axis=0)
    r = ((x - center) ** 2).sum(axis=1)
    keep = np.argsort(r, kind="stable")[: n - f]
    return x[keep].mean(axis=0)


def center_dist(x, f):
    c = np.zeros(x.shape[1], dtype=np.float32)
    return ((x - c) ** 2).sum(axis=1)


def clipped(x, tau):
    norms = np.linalg.norm(x, axis=1)
    return x * np.minimum(1.0, tau / norms).astype(np.float32)[:, None]


def arc_clipped(x, f):
    n = x.shape[0]
    norms = np.linalg.norm(x, axis=1)
    k = int(2 * f / n * (n - f))
    return clipped(x, np.sort(norms)[n - k - 1])


def fltrust(x, f):
    g = x[0]
    g_norm = np.linalg.norm(g)
    norms = np.linalg.norm(x, axis=1)
    trust = np.maximum(x @ g / (norms * g_norm), 0.0)
    return (trust * g_norm / norms).astype(np.float32) @ x / np.float32(trust.sum())


FUNCS = {
    "mean": lambda x, f: x.mean(axis=0),
    "cwmed": cwmed,
    "cwtm": cwtm,
    "krum": krum,
    "gm": gm,
    "ctma(cwmed)": ctma,
    "center_dist": center_dist,
    "clip(mean,tau=1)": lambda x, f: clipped(x, 1.0).mean(axis=0),
    "arc(mean)": lambda x, f: arc_clipped(x, f).mean(axis=0),
    "arc(cwtm)": lambda x, f: cwtm(arc_clipped(x, f), f),
    "fltrust": fltrust,
}


def read_pass(x):
    return float(x.sum())


def time_job(fn, x, f, warmup, runs):
    for _ in range(warmup):
        fn(x, f)
        read_pass(x)
    job, rp = [], []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn(x, f)
        job.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        read_pass(x)
        rp.append(time.perf_counter() - t0)
    return job, rp


def sizes(values):
    out = []
    for v in values:
        for part in str(v).split(","):
            part = part.strip()
            if "^" in part:
                b, e = part.split("^")
                out.append(int(b) ** int(e))
            else:
                out.append(int(float(part)))
    return out


def cpu_model():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def table(rows, header):
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    return "\n".join(
        "  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
        for r in [header] + rows
    )


def speedups(records, byzagg_file):
    ours = {(r["rule"], r["n"], r["d"]): r for r in json.load(open(byzagg_file)) if not r.get("weighted")}
    rows = ["| rule | n | d | numpy s | byzagg s | speedup |", "|---|---:|---:|---:|---:|---:|"]
    for r in records:
        o = ours.get((r["rule"], r["n"], r["d"]))
        if o:
            rows.append(
                f"| {r['rule']} | {r['n']} | {r['d']:.0e} | {r['seconds']:.4f} | {o['seconds']:.4f} "
                f"| {r['seconds'] / o['seconds']:.1f}x |"
            )
    return "\n".join(rows)


def memory(binary, jobs, ns, ds):
    rows = ["| rule | n | d | batch MB | peak RSS MB | over batch, MB | over batch, d-vectors |",
            "|---|---:|---:|---:|---:|---:|---:|"]
    for n in ns:
        for d in ds:
            batch = 4 * n * d
            for job in jobs:
                cmd = ["/usr/bin/time", "-f", "%M", binary, "bench", "--rule", job, "--n", str(n),
                       "--d", str(d), "--runs", "1", "--warmup", "0"]
                p = subprocess.run(cmd, capture_output=True, text=True)
                if p.returncode != 0:
                    rows.append(f"| {job} | {n} | {d:.0e} | failed: {p.stderr.strip()[-200:]} |")
                    continue
                peak = int(p.stderr.strip().splitlines()[-1]) * 1024
                over = peak - batch
                rows.append(f"| {job} | {n} | {d:.0e} | {batch / 1e6:.0f} | {peak / 1e6:.0f} | "
                            f"{over / 1e6:.0f} | {over / (4 * d):.1f} |")
    return "\n".join(rows)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rule", nargs="+", default=JOBS)
    ap.add_argument("--n", nargs="+", default=[16])
    ap.add_argument("--d", nargs="+", default=["10^6"])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0x5EED)
    ap.add_argument("--json", help="write the records here")
    ap.add_argument("--byzagg", help="byzagg bench --json output on the same shapes: print speedups")
    ap.add_argument("--memory", metavar="BIN", help="the byzagg binary: check its peak RSS per job")
    args = ap.parse_args()
    ns, ds = sizes(args.n), sizes(args.d)
    jobs = [j for r in args.rule for j in r.split(";")]
    print(f"machine: {cpu_model()}, {os.cpu_count()} CPUs; numpy {np.__version__}")

    records = []
    for d in ds:
        for n in ns:
            f = n // 5
            x = np.random.default_rng(args.seed).standard_normal((n, d), dtype=np.float32)
            for job in jobs:
                fn = FUNCS[job]
                t_job, t_read = time_job(fn, x, f, args.warmup, args.runs)
                s, rp = statistics.median(t_job), statistics.median(t_read)
                rec = {
                    "rule": job, "backend": "numpy", "n": n, "d": d, "weighted": False,
                    "seconds": s, "read_pass_seconds": rp, "ratio": s / rp,
                    "gb_per_s": 4 * n * d / s / 1e9,
                    "iterations": getattr(fn, "iterations", None) if job == "gm" else None,
                    "runs": t_job, "read_pass_runs": t_read, "cpu": cpu_model(),
                    "numpy": np.__version__,
                }
                records.append(rec)
                print(f"{job:12} numpy n={n} d={d} {s:.4f} s  {rec['gb_per_s']:.2f} GB/s  "
                      f"x read {rec['ratio']:.2f}", flush=True)
            del x
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(records, fh, indent=1)
    if args.byzagg:
        print()
        print(speedups(records, args.byzagg))
    if args.memory:
        print()
        print(memory(args.memory, jobs, ns, ds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
