#!/usr/bin/env python3
"""Before/after of grid.sh's rounds: every (rule, weights, n), each round's ratio to the read
pass, and the after/before quotient of the rounds' medians (> 1.10 flagged as slower).

    grid_table.py ROUND_DIR [ROUND_DIR ...]
"""

import json
import pathlib
import statistics
import sys

rounds = [pathlib.Path(p) for p in sys.argv[1:]]


def ratios(folder: pathlib.Path, which: str) -> dict:
    got = {}
    for path in folder.glob(f"{which}-*.json"):
        for r in json.loads(path.read_text()):
            w = "weighted" if r["weighted"] else "uniform"
            got[(r["rule"], w, r["n"])] = r["ratio"]
    return got


def joined(xs: list) -> str:
    return " / ".join(f"{x:.2f}" for x in xs)


before = [ratios(r, "before") for r in rounds]
after = [ratios(r, "after") for r in rounds]
keys = sorted(set().union(*before), key=lambda k: (k[0], k[1], k[2]))
print(
    f"| rule | weights | n | before (x read pass), {len(rounds)} rounds | after | after / before |"
)
print("|---|---|---:|---:|---:|---:|")
slower = 0
for key in keys:
    b = [r[key] for r in before if key in r]
    a = [r[key] for r in after if key in r]
    if not b or not a:
        continue
    q = statistics.median(a) / statistics.median(b)
    flag = " **slower**" if q > 1.10 else ""
    slower += q > 1.10
    print(f"| {key[0]} | {key[1]} | {key[2]} | {joined(b)} | {joined(a)} | {q:.2f}{flag} |")
print(f"\n{len(keys)} jobs, {slower} more than 10% slower after (median of the rounds)")
