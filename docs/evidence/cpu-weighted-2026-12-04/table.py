#!/usr/bin/env python3
"""The before/after table of run.sh's JSON: median over rounds of each job's ratio to the
read pass (x read), and the load averages seen. Usage: table.py OUTDIR"""
import json, glob, statistics, sys, os
out = sys.argv[1]
rows = {}
for f in sorted(glob.glob(os.path.join(out, "*.json"))):
    which, simd = os.path.basename(f).split("-")[:2]
    for r in json.load(open(f)):
        key = (simd, r["rule"], "weighted" if r["weighted"] else "uniform", r["n"])
        rows.setdefault(key, {}).setdefault(which, []).append(r["ratio"])
print("| SIMD | rule | weights | n | before (x read) | after (x read) | after / before |")
print("|---|---|---|---:|---:|---:|---:|")
for key in sorted(rows):
    b, a = rows[key].get("before", []), rows[key].get("after", [])
    if not b or not a:
        continue
    mb, ma = statistics.median(b), statistics.median(a)
    print(f"| {key[0]} | {key[1]} | {key[2]} | {key[3]} | {mb:.2f} ({', '.join(f'{x:.2f}' for x in b)}) | {ma:.2f} ({', '.join(f'{x:.2f}' for x in a)}) | {ma / mb:.2f} |")
loads = [open(f).read().split("load average:")[1].split(",")[0].strip() for f in sorted(glob.glob(os.path.join(out, "*.uptime")))]
loads = [float(x) for x in loads]
print(f"\n1-minute load average at the start of each job: {min(loads):.0f} to {max(loads):.0f} (median {statistics.median(loads):.0f}), {len(loads)} jobs")
