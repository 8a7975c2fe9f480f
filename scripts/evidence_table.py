#!/usr/bin/env python3
"""Tables of the evidence runs (docs/evidence/<claim>.csv, written by scripts/evidence.sh).

Per claim: each variant's final test accuracy over seeds (mean, sample std, n) and its wall
time inside the aggregator per update; then the claim's comparisons: the difference of means,
its standard error sqrt(s_a^2/n_a + s_b^2/n_b), and whether the difference is larger than one
and than two standard errors. Standard library only.
"""
import csv
import math
import os
import sys

OUT = os.environ.get("OUT", "docs/evidence")

# Claim file -> comparisons (a, b): "a beats b" is the papers' claim.
def comparisons(name, labels):
    pairs = []
    if name.startswith("weighting-"):
        pairs = [("w-cwmed", "cwmed"), ("w-gm", "gm")]
    elif name.startswith("ctma-"):
        pairs = [("w-ctma(w-cwmed)", "w-cwmed"), ("w-ctma(w-gm)", "w-gm")]
    elif name == "optim":
        pairs = [("mu2-SGD", "momentum"), ("mu2-SGD", "SGD")]
    elif name.startswith("icml-"):
        bases = [l for l in labels if not l.startswith("ctma(")]
        pairs = [(f"ctma({b})", b) for b in bases] + [
            ("nnm(cwmed)", "cwmed"),
            ("ctma(nnm(cwmed))", "cwmed"),
            ("ctma(cwmed)", "nnm(cwmed)"),  # the cost claim: similar gain, far less time
        ]
    return [(a, b) for a, b in pairs if a in labels and b in labels]


def mean_std(xs):
    m = sum(xs) / len(xs)
    s = math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1)) if len(xs) > 1 else 0.0
    return m, s


def load(path):
    """variant -> seed -> (iteration, accuracy, aggregation seconds) of the last record."""
    last = {}
    with open(path) as f:
        for row in csv.DictReader(f):
            key = (row["variant"], row["seed"])
            it = int(row["iteration"])
            if key not in last or it >= last[key][0]:
                last[key] = (it, float(row["test_accuracy"]), float(row.get("aggregation_seconds") or "nan"))
    variants = {}
    for (v, seed), rec in last.items():
        variants.setdefault(v, {})[seed] = rec
    return variants


def table(name):
    path = os.path.join(OUT, name + ".csv")
    variants = load(path)
    order = []
    with open(path) as f:
        for row in csv.DictReader(f):
            if row["variant"] not in order:
                order.append(row["variant"])
    stats = {}
    lines = [f"### {name}", ""]
    updates = {rec[0] for v in variants.values() for rec in v.values()}
    unit = "synchronous rounds" if name.startswith("icml-") else "asynchronous updates"
    lines.append(f"Final test accuracy after {', '.join(map(str, sorted(updates)))} {unit} "
                 f"({os.path.basename(path)}, curves in {name}.svg).")
    lines.append("")
    lines.append("| variant | seeds | accuracy mean | std | aggregation ms/update |")
    lines.append("|---|---|---|---|---|")
    for v in order:
        recs = list(variants[v].values())
        accs = [r[1] for r in recs]
        m, s = mean_std(accs)
        agg = sum(1e3 * r[2] / max(r[0], 1) for r in recs) / len(recs)
        stats[v] = (m, s, len(accs), agg)
        lines.append(f"| {v} | {len(accs)} | {m:.4f} | {s:.4f} | {agg:.2f} |")
    pairs = comparisons(name, order)
    if pairs:
        lines += ["", "| claim: a beats b | a - b | standard error | > 1 SE | > 2 SE | aggregation time a / b |",
                  "|---|---|---|---|---|---|"]
        for a, b in pairs:
            (ma, sa, na, ga), (mb, sb, nb, gb) = stats[a], stats[b]
            d = ma - mb
            se = math.sqrt(sa ** 2 / na + sb ** 2 / nb)
            one = "yes" if abs(d) > se else "no"
            two = "yes" if abs(d) > 2 * se else "no"
            ratio = ga / gb if gb > 0 else float("nan")
            lines.append(f"| {a} vs {b} | {d:+.4f} | {se:.4f} | {one} | {two} | {ratio:.2f} |")
    return "\n".join(lines) + "\n"


def speed():
    """Examples per second on one core, from the two timed runs in speed.txt (their difference
    cancels start-up and the two evaluations both runs make)."""
    path = os.path.join(OUT, "speed.txt")
    if not os.path.exists(path):
        return ""
    runs = {}
    for line in open(path):
        if line.startswith("updates "):
            n, secs = line.split()[1].rstrip(":"), line.split()[2]
            runs[int(n)] = float(secs)
    if len(runs) < 2:
        return ""
    (n0, t0), (n1, t1) = sorted(runs.items())[:2]
    rate = (n1 - n0) * 16 / (t1 - t0)
    return (f"### speed\n\nThe CNN trains at {rate:.0f} examples per second on one core "
            f"(minibatch gradients of 16, forward and backward; {n1 - n0} updates in {t1 - t0:.2f} s "
            f"beyond a {n0}-update run; speed.txt).\n")


def main():
    claims = ("weighting-", "ctma-", "icml-", "optim.")
    names = sys.argv[1:] or sorted(
        f[:-4] for f in os.listdir(OUT) if f.endswith(".csv") and f.startswith(claims))
    print("\n".join(table(n) for n in names if os.path.exists(os.path.join(OUT, n + ".csv"))))
    if not sys.argv[1:]:
        print(speed())


if __name__ == "__main__":
    main()
