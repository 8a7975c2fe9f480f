"""Ratios fast / coalesced per round and their median, from bench.sh's JSON (usage: table.py DIR)."""
import json, statistics, sys
d = sys.argv[1]
t = {}
for r in (1, 2, 3):
    for v in ("coalesced", "fast"):
        for x in json.load(open(f"{d}/r{r}-{v}.json")):
            t[(r, v, x["rule"], x["n"])] = x["seconds"]
print("| lavapipe, d = 1e5 | coalesced s (median of rounds) | fast s | fast / coalesced per round | median |")
print("|---|---:|---:|---|---:|")
for rule in ("pairwise_dist", "center_dist"):
    for n in (16, 32):
        c = [t[(r, "coalesced", rule, n)] for r in (1, 2, 3)]
        f = [t[(r, "fast", rule, n)] for r in (1, 2, 3)]
        ratios = [b / a for a, b in zip(c, f)]
        print(f"| {rule} n = {n} | {statistics.median(c):.4f} | {statistics.median(f):.4f} | "
              + ", ".join(f"{x:.2f}" for x in ratios) + f" | {statistics.median(ratios):.2f} |")
