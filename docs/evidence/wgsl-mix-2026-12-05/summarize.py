"""Wide / classic time ratios per round and their median, from run.sh's JSON files.

Every timed run of a round and variant is kept; a round's figure is the median run; the ratio
is wide's median over classic's median in the same round (the two ran back to back)."""
import json
import statistics
from pathlib import Path

here = Path(__file__).parent
for prim in ["mix", "mix_rows"]:
    print(f"{prim}: wide / classic seconds (median of 3 runs each), per round")
    ns = sorted({r["n"] for r in json.load(open(here / f"{prim}-classic-r1.json"))})
    for n in ns:
        ratios, cells = [], []
        for rnd in (1, 2, 3):
            t = {}
            for v in ("classic", "wide"):
                recs = json.load(open(here / f"{prim}-{v}-r{rnd}.json"))
                (rec,) = [r for r in recs if r["n"] == n]
                t[v] = statistics.median(rec["runs"])
                d = rec["d"]
            ratios.append(t["wide"] / t["classic"])
            cells.append(f"{t['classic']:.3f}/{t['wide']:.3f}")
        print(f"  n={n:3} d={d:.0e}  classic/wide s: {'  '.join(cells)}  ratios "
              f"{' '.join(f'{x:.2f}' for x in ratios)}  median {statistics.median(ratios):.2f}")
