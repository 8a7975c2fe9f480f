#!/usr/bin/env python3
"""The before/after table of ab.sh's rounds: one row per job, each round's ratio to the read pass.

    table.py ROUND_DIR [ROUND_DIR ...]
"""

import json
import pathlib
import sys

rounds = [pathlib.Path(p) for p in sys.argv[1:]]
tags = sorted({p.name.split("-", 1)[1][: -len(".json")] for p in rounds[0].glob("before-*.json")})


def ratio(folder: pathlib.Path, which: str, tag: str) -> str:
    path = folder / f"{which}-{tag}.json"
    if not path.exists():
        return "-"
    return f"{json.loads(path.read_text())[0]['ratio']:.2f}"


print(f"| SIMD, rule, weights, n | before (x read pass), {len(rounds)} runs | after, {len(rounds)} runs |")
print("|---|---:|---:|")
for tag in tags:
    before = " / ".join(ratio(r, "before", tag) for r in rounds)
    after = " / ".join(ratio(r, "after", tag) for r in rounds)
    print(f"| {tag} | {before} | {after} |")
