#!/usr/bin/env python3
"""Joins `byzagg bench` JSON files (one per kernel variant) with scripts/torch_peer.py's JSON
into primitives.json, and prints the markdown table: each job's share of the device read pass
and its speed against PyTorch's equivalent, n by n.

    scripts/primitives_table.py --torch torch.json --out primitives.json \\
        --bench bench-a.json default default --bench bench-b.json order_stats=pruned default

Each --bench takes a file and the values of BYZAGG_CUDA_KERNELS and BYZAGG_WGPU_KERNELS that
run used ("default" where unset): a record's variant is the one of its backend, or the
record's own `variant` field where bench writes one. The read pass is torch's `x.sum()` on the
device at the same n and d (bench's own `read_pass_seconds` is a read pass of host memory).
primitives.json is a list of objects: primitive, n, d, weighted, variant, seconds,
read_pass_seconds, torch_seconds (null where PyTorch has no equivalent), backend, device.
"""

import argparse
import json
import sys

# bench job -> torch_peer job, for the unweighted and the weighted batch (None: no
# equivalent). order_stats times the median; torch has no weighted median or trimmed mean.
# The distances do not depend on weights, and a weighted mix is the same GEMV in torch.
TORCH_EQUIVALENT = {
    "order_stats": ("cwmed", None),
    "pairwise_dist": ("cdist", "cdist"),
    "center_dist": ("center_dist", "center_dist"),
    "mix": ("mix", "mix"),
    "cwmed": ("cwmed", None),
    "cwtm": ("cwtm", None),
    "krum": ("krum", None),
    "ctma(cwmed)": ("ctma(cwmed)", None),
}


def backend_kind(name):
    """`cuda`, `cuda:0`, `wgpu`, ... -> cuda or wgpu; None for anything else (a sharded engine
    such as `cuda:0,cuda:1` included: it is not one device)."""
    base = name.split(":")[0]
    return base if base in ("cuda", "wgpu") and "," not in name else None


def load_json(path, what):
    try:
        with open(path) as fh:
            return json.load(fh)
    except (OSError, ValueError) as e:
        raise SystemExit(f"primitives_table: cannot read {what} {path}: {e}")


def join(bench_runs, torch_records, device=None):
    """bench_runs: [(records, {"cuda": variant, "wgpu": variant})]; torch_records: torch_peer's
    list. Returns the primitives.json rows and a list of warnings."""
    warnings = []
    torch = {}
    if isinstance(torch_records, dict):  # torch_peer writes {"error": ...} without a GPU
        warnings.append(f"torch JSON holds no records: {torch_records.get('error', torch_records)}")
        torch_records = []
    for r in torch_records:
        if "ms" in r:
            torch[(r["job"], r["n"], r["d"])] = r["ms"] / 1e3
        if device is None and r.get("device"):
            device = r["device"]
    rows = []
    for records, variants in bench_runs:
        for r in records:
            kind = backend_kind(r.get("backend", ""))
            if kind is None or r.get("rule") not in TORCH_EQUIVALENT:
                continue
            # A record's "default" says only that bench knows no variants for that backend
            # (wgpu's records carry none): the command line's value then names it.
            own = r.get("variant") if r.get("variant") != "default" else None
            variant = own or variants.get(kind) or "default"
            if own and variants.get(kind) not in (None, "default", own):
                warnings.append(f"{r['rule']} {kind} n={r['n']}: record says variant {r['variant']!r}, "
                                f"the command line {variants[kind]!r}; the record's is kept")
            read = torch.get(("read", r["n"], r["d"]))
            if read is None:
                warnings.append(f"no torch read pass at n={r['n']} d={r['d']}: read_pass_seconds is null")
            job = TORCH_EQUIVALENT[r["rule"]][1 if r.get("weighted") else 0]
            rows.append({
                "primitive": r["rule"],
                "n": r["n"],
                "d": r["d"],
                "weighted": bool(r.get("weighted")),
                "variant": variant,
                "seconds": r["seconds"],
                "read_pass_seconds": read,
                "torch_seconds": torch.get((job, r["n"], r["d"])) if job else None,
                "backend": kind,
                "device": device,
            })
    return rows, sorted(set(warnings))


def table(rows):
    """Markdown: one line per (job, weights, backend, variant, d), one column per n, each cell
    `share of the read pass (x torch)`."""
    ns = sorted({r["n"] for r in rows})
    keys = []
    cells = {}
    for r in rows:
        key = (r["primitive"], "weighted" if r["weighted"] else "weights 1", r["backend"], r["variant"], r["d"])
        if key not in keys:
            keys.append(key)
        parts = []
        if r["read_pass_seconds"] and r["seconds"]:
            parts.append(f"{100 * r['read_pass_seconds'] / r['seconds']:.1f}%")
        else:
            parts.append("-")
        if r["torch_seconds"] and r["seconds"]:
            parts.append(f"({r['torch_seconds'] / r['seconds']:.1f}x torch)")
        cells[key + (r["n"],)] = " ".join(parts)
    out = ["| job | weights | backend | variant | d | " + " | ".join(f"n = {n}" for n in ns) + " |",
           "|---|---|---|---|---:|" + "---:|" * len(ns)]
    for key in keys:
        out.append(f"| {key[0]} | {key[1]} | {key[2]} | {key[3]} | {key[4]:.0e} | "
                   + " | ".join(cells.get(key + (n,), "") for n in ns) + " |")
    return "\n".join(out)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bench", nargs=3, action="append", required=True,
                    metavar=("FILE", "CUDA_VARIANT", "WGPU_VARIANT"),
                    help="a bench JSON file and the BYZAGG_CUDA_KERNELS / BYZAGG_WGPU_KERNELS values of its run")
    ap.add_argument("--torch", required=True, help="scripts/torch_peer.py's JSON (device read pass, equivalents)")
    ap.add_argument("--out", required=True, help="primitives.json to write")
    ap.add_argument("--device", help="the card's name (default: torch's)")
    args = ap.parse_args(argv)

    runs = []
    for path, cuda_variant, wgpu_variant in args.bench:
        records = load_json(path, "bench JSON")
        if not isinstance(records, list):
            raise SystemExit(f"primitives_table: {path} is not a list of bench records")
        runs.append((records, {"cuda": cuda_variant or "default", "wgpu": wgpu_variant or "default"}))
    rows, warnings = join(runs, load_json(args.torch, "torch JSON"), args.device)
    for w in warnings:
        print(f"warning: {w}", file=sys.stderr)
    with open(args.out, "w") as fh:
        json.dump(rows, fh, indent=1)
        fh.write("\n")
    print(table(rows))
    return 0 if rows else 1


if __name__ == "__main__":
    sys.exit(main())
