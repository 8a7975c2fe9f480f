#!/usr/bin/env python3
"""Tables of the evidence runs (docs/evidence/<claim>.csv, written by scripts/evidence.sh).

Per claim: each variant's final test accuracy over seeds (mean, sample std, n) and its wall
time inside the aggregator per update; then the claim's comparisons: the difference of means,
its standard error sqrt(s_a^2/n_a + s_b^2/n_b), and whether the difference is larger than one
and than two standard errors. The full ICML claims are grid CSVs (docs/evidence/icml-sync/:
one row per rule, attack and seed; scripts/evidence.sh full icml): their heat maps and
comparisons come after the claims' tables, every cell with fewer than SEEDS (5) seeds marked
partial.

    scripts/evidence_table.py [claim...]   # the tables (tables.md)
    scripts/evidence_table.py --readme     # rewrites the verdicts, the ICML and grid heat maps
                                           # between the evidence markers of README.md and
                                           # docs/evidence/README.md (there with the ICML
                                           # comparisons for every base rule)

Standard library only.
"""
import csv
import math
import os
import sys

OUT = os.environ.get("OUT", "docs/evidence")
# A cell or a comparison with fewer seeds than this is partial (its verdict is pending).
SEEDS = int(os.environ.get("SEEDS", "5"))
ICML = "icml-sync"
ICML_ATTACKS = ["label-flip", "sign-flip", "empire:0.5", "alie-sync"]
ICML_BASES = ["mean", "cwmed", "cwtm", "gm(preset=rfa)"]

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


def read_grid_csv(path, fields):
    """A grid CSV (byzagg train --grid) as cells: the row's values of `fields` -> list of (final
    accuracy, aggregation seconds per update) over seeds, in the order the CSV first names each
    cell (empty if the file is not there yet)."""
    cells = {}
    if not os.path.exists(path):
        return cells
    with open(path) as f:
        seen = set()
        for row in csv.DictReader(f):
            key = (row["rule"], row["attack"], row["heterogeneity"], row["seed"])
            if key in seen:  # a cell is one run; a duplicate row would count a seed twice
                continue
            seen.add(key)
            cells.setdefault(tuple(row[k] for k in fields), []).append(
                (float(row["final_accuracy"]), float(row["aggregation_seconds_per_update"])))
    return cells


def load_grid(name):
    """(rule, attack) -> runs over seeds, from docs/evidence/icml-sync/<name>.csv."""
    return read_grid_csv(os.path.join(OUT, ICML, name + ".csv"), ("rule", "attack"))


def summary(runs):
    """(mean accuracy, its standard error, seeds, mean aggregation ms per round) of a cell."""
    m, s = mean_std([r[0] for r in runs])
    return m, s / math.sqrt(len(runs)), len(runs), 1e3 * sum(r[1] for r in runs) / len(runs)


def cell_text(runs, se=True, partial="partial: "):
    """A heat-map cell: the mean accuracy (± SE with `se`); a cell with fewer than SEEDS seeds
    says so, `(partial: 3/5)`, or with `partial=""` just `(3/5)`."""
    if not runs:
        return "not run"
    m, e, n, _ = summary(runs)
    text = f"{m:.3f} ± {e:.3f}" if se and n > 1 else f"{m:.3f}"
    return text if n >= SEEDS else f"{text} ({partial}{n}/{SEEDS})"


def heat_map(cells, rules, title):
    """A markdown heat map: rules x attacks of mean final accuracy (± SE), the worst mean over
    the attacks that ran, and the mean aggregation time per round."""
    lines = [title, "", "| rule | " + " | ".join(ICML_ATTACKS) + " | worst | aggregation ms/round |",
             "|---|" + "---|" * (len(ICML_ATTACKS) + 2)]
    for r in rules:
        runs = [cells.get((r, a), []) for a in ICML_ATTACKS]
        means = [summary(x)[0] for x in runs if x]
        done = [x for x in runs if len(x) >= SEEDS]
        worst = "not run" if not means else f"{min(means):.3f}" + (
            "" if len(done) == len(ICML_ATTACKS) else " (partial)")
        allruns = [y for x in runs for y in x]
        ms = f"{summary(allruns)[3]:.2f}" if allruns else "not run"
        lines.append(f"| {r} | " + " | ".join(cell_text(x) for x in runs) + f" | {worst} | {ms} |")
    return lines


def difference(a_runs, b_runs):
    """The two mean accuracies, their difference a - b and its standard error."""
    (ma, ea, _, _), (mb, eb, _, _) = summary(a_runs), summary(b_runs)
    return ma, mb, ma - mb, math.sqrt(ea ** 2 + eb ** 2)


def compare(a_runs, b_runs, kind):
    """The verdict on "a beats b" (kind "beats") or "a matches or beats b" (kind "matches"), with
    its numbers; pending while either side has fewer than SEEDS seeds."""
    if not a_runs and not b_runs:
        return "not run", ""
    if not a_runs or not b_runs:
        return f"pending (0/{SEEDS} seeds)", ""
    ma, mb, d, se = difference(a_runs, b_runs)
    numbers = f"{ma:.3f} vs {mb:.3f}, {d:+.3f} ± {se:.3f}"
    na, nb = len(a_runs), len(b_runs)
    if min(na, nb) < SEEDS:
        return f"pending ({min(na, nb)}/{SEEDS} seeds)", numbers
    if d > 2 * se:
        verdict = "reproduced" if kind == "beats" else "reproduced: beats"
    elif d >= -2 * se:
        verdict = "not reproduced: within 2 SE" if kind == "beats" else "reproduced: matches"
    else:
        verdict = "not reproduced: reversed" if kind == "beats" else "not reproduced: worse"
    return verdict, numbers


# The ICML comparisons made for every base rule B with mu2-SGD (a, b, kind): "a beats b" or "a
# matches or beats b". The per-base table and tables.md both list them (tables.md adds mu2-SGD
# against momentum); the cost claim's times are in tables.md and the CWMed rows of the verdicts.
ICML_PER_BASE = [
    ("CTMA improves B", "ctma({b})", "{b}", "beats"),
    ("NNM improves B", "nnm({b})", "{b}", "beats"),
    ("NNM+CTMA improves NNM(B)", "ctma(nnm({b}))", "nnm({b})", "beats"),
    ("CTMA matches NNM(B)", "ctma({b})", "nnm({b})", "matches"),
]

# Short forms of compare()'s verdicts for the per-base table's cells.
TERSE = {
    "reproduced": "yes",
    "reproduced: beats": "beats",
    "reproduced: matches": "matches",
    "not reproduced: within 2 SE": "within 2 SE",
    "not reproduced: reversed": "reversed",
    "not reproduced: worse": "worse",
}


def per_base_cell(a_runs, b_runs, kind):
    """One cell of the per-base table: the terse verdict and the difference of means ± its SE."""
    verdict, _ = compare(a_runs, b_runs, kind)
    if not a_runs or not b_runs:
        return verdict
    _, _, d, se = difference(a_runs, b_runs)
    return f"{TERSE.get(verdict, verdict)}: {d:+.3f} ± {se:.3f}"


def icml_per_base():
    """The ICML comparisons for every base rule and attack, as markdown lines (mu2-SGD grid)."""
    mu2 = load_grid("claims")
    lines = ["| claim | base B | " + " | ".join(ICML_ATTACKS) + " |",
             "|---|---|" + "---|" * len(ICML_ATTACKS)]
    for claim, a, b, kind in ICML_PER_BASE:
        for base in ICML_BASES:
            ra, rb = a.format(b=base), b.format(b=base)
            cells = [per_base_cell(mu2.get((ra, t), []), mu2.get((rb, t), []), kind)
                     for t in ICML_ATTACKS]
            lines.append(f"| {claim} | {base} | " + " | ".join(cells) + " |")
    return lines


def short(attack):
    return {"label-flip": "lf", "sign-flip": "sf", "empire:0.5": "empire", "alie-sync": "alie"}[attack]


def icml_claims():
    """The ICML claims from the grids: (claim, per-attack verdicts, per-attack numbers) rows,
    and the comparison tables for tables.md."""
    mu2, mom = load_grid("claims"), load_grid("momentum")
    rows, tables = [], []
    claims = [
        ("CTMA improves CWMed, synchronous (ICML RQ1)", mu2, "ctma(cwmed)", mu2, "cwmed", "beats"),
        ("NNM+CTMA improves NNM(CWMed) (ICML RQ3)", mu2, "ctma(nnm(cwmed))", mu2, "nnm(cwmed)", "beats"),
        ("CTMA matches NNM(CWMed)'s accuracy at less aggregation time (ICML RQ1)", mu2, "ctma(cwmed)", mu2, "nnm(cwmed)", "matches"),
        ("mu2-SGD beats momentum, CTMA(CWMed) (ICML RQ2)", mu2, "ctma(cwmed)", mom, "ctma(cwmed)", "beats"),
    ]
    for claim, ca, a, cb, b, kind in claims:
        verdicts, numbers = [], []
        for attack in ICML_ATTACKS:
            v, n = compare(ca.get((a, attack), []), cb.get((b, attack), []), kind)
            verdicts.append(f"{short(attack)}: {v}")
            if n:
                if "time" in claim:  # the cost claim: the aggregation times beside the accuracies
                    ta, tb = summary(ca[(a, attack)])[3], summary(cb[(b, attack)])[3]
                    n += f", {ta:.1f} vs {tb:.1f} ms/round"
                numbers.append(f"{short(attack)}: {n}")
        rows.append((claim, "; ".join(verdicts), "; ".join(numbers) or "not run yet"))
    # Every base rule, for tables.md.
    lines = ["| comparison | attack | verdict | numbers (mean ± SE, a vs b) |", "|---|---|---|---|"]
    for base in ICML_BASES:
        same_optimizer = [(a.format(b=base), b.format(b=base), kind, mu2, mu2, "")
                          for _, a, b, kind in ICML_PER_BASE]
        for a, b, kind, ca, cb, what in same_optimizer + [
            (f"ctma({base})", f"ctma({base})", "beats", mu2, mom, "momentum"),
        ]:
            for attack in ICML_ATTACKS:
                v, n = compare(ca.get((a, attack), []), cb.get((b, attack), []), kind)
                if v != "not run":
                    op = "matches or beats" if kind == "matches" else "beats"
                    text = f"{a} with mu2-SGD beats it with momentum" if what else f"{a} {op} {b}"
                    lines.append(f"| {text} | {attack} | {v} | {n} |")
    rules = [r for b in ICML_BASES for r in (b, f"ctma({b})", f"nnm({b})", f"ctma(nnm({b}))")]
    tables += [f"### {ICML}: the ICML claims, 882 rounds of icml-sync-mnist", "",
               "Final test accuracy, mean ± standard error over the seeds run; cells with fewer "
               f"than {SEEDS} seeds are partial (icml-sync/claims.csv, mu2-SGD; "
               "icml-sync/momentum.csv, momentum SGD; scripts/evidence.sh full icml).", ""]
    tables += heat_map(mu2, rules, "mu2-SGD:") + [""]
    ran = [r for r in rules if any((r, a) in mom for a in ICML_ATTACKS)]
    tables += (heat_map(mom, ran, "momentum SGD:") if ran else ["momentum SGD: not run yet."]) + [""]
    tables += (lines if len(lines) > 2 else ["No comparison has both sides run yet."]) + [""]
    return rows, "\n".join(tables), heat_map(mu2, rules, "")[2:]


def neurips_claims():
    """The asynchronous claims' verdict rows from their claim CSVs (the lengths they ran)."""
    claims = [
        ("weighted beats unweighted, label flipping (NeurIPS)", "weighting-label-flip", "w-cwmed", "cwmed", "beats"),
        ("weighted beats unweighted, sign flipping (NeurIPS)", "weighting-sign-flip", "w-cwmed", "cwmed", "beats"),
        ("w-CTMA improves w-CWMed, empire (NeurIPS)", "ctma-empire", "w-ctma(w-cwmed)", "w-cwmed", "beats"),
        ("w-CTMA improves w-CWMed, sign flipping (NeurIPS)", "ctma-sign-flip", "w-ctma(w-cwmed)", "w-cwmed",
         "beats"),
        ("w-CTMA improves w-CWMed, ALIE (NeurIPS)", "ctma-alie", "w-ctma(w-cwmed)", "w-cwmed", "beats"),
        # GM(RFA) carries the same claims in the full setting (scripts/evidence.sh full).
        ("weighted beats unweighted, GM, label flipping (NeurIPS)", "weighting-label-flip", "w-gm", "gm",
         "beats"),
        ("weighted beats unweighted, GM, sign flipping (NeurIPS)", "weighting-sign-flip", "w-gm", "gm",
         "beats"),
        ("w-CTMA improves w-GM, empire (NeurIPS)", "ctma-empire", "w-ctma(w-gm)", "w-gm", "beats"),
        ("w-CTMA improves w-GM, sign flipping (NeurIPS)", "ctma-sign-flip", "w-ctma(w-gm)", "w-gm", "beats"),
        ("w-CTMA improves w-GM, ALIE (NeurIPS)", "ctma-alie", "w-ctma(w-gm)", "w-gm", "beats"),
        ("mu2-SGD matches or beats momentum (NeurIPS)", "optim", "mu2-SGD", "momentum", "matches"),
        ("mu2-SGD beats plain SGD (NeurIPS)", "optim", "mu2-SGD", "SGD", "beats"),
    ]
    rows = []
    for claim, name, a, b, kind in claims:
        path = os.path.join(OUT, name + ".csv")
        if not os.path.exists(path):
            rows.append((claim, "not run", f"{name}.csv missing"))
            continue
        variants = load(path)
        if a not in variants and b not in variants:
            rows.append((claim, "not run", f"neither variant in {name}.csv"))
            continue
        runs = {v: [(rec[1], rec[2]) for rec in seeds.values()] for v, seeds in variants.items()}
        v, n = compare(runs.get(a, []), runs.get(b, []), kind)
        its = sorted({rec[0] for x in (a, b) for rec in variants.get(x, {}).values()})
        rows.append((claim, v, f"{n} ({', '.join(map(str, its))} updates, {name}.csv)"))
    return rows


# The MNIST robustness grid (scripts/evidence.sh full grid): rules x every attack x iid and
# Dirichlet shards, one CSV row per cell and seed.
GRID = os.path.join("grid-mnist", "grid.csv")


def robustness_grid():
    """Markdown heat maps of the robustness grid, one per heterogeneity: rules x attacks of mean
    final accuracy over the seeds, the worst mean over the attacks, the aggregation time per
    update. Rules, attacks and heterogeneities in the order the CSV first names them (the
    grid's own order); an empty list while the grid has no row."""
    cells = read_grid_csv(os.path.join(OUT, GRID), ("heterogeneity", "rule", "attack"))
    # dict.fromkeys keeps the first-seen order and drops repeats.
    heteros, rules, attacks = (list(dict.fromkeys(k[i] for k in cells)) for i in range(3))
    lines = []
    for hetero in heteros:
        lines += [f"{hetero}:", "", "| rule | " + " | ".join(attacks) + " | worst | ms/update |",
                  "|---|" + "---|" * (len(attacks) + 2)]
        for rule in rules:
            runs = [cells.get((hetero, rule, a), []) for a in attacks]
            if not any(runs):
                continue
            means = [summary(x)[0] for x in runs if x]
            complete = all(len(x) >= SEEDS for x in runs)
            worst = f"{min(means):.3f}" + ("" if complete else "*")
            allruns = [y for x in runs for y in x]
            texts = [cell_text(x, se=False, partial="") for x in runs]
            lines.append(f"| {rule} | " + " | ".join(texts)
                         + f" | {worst} | {summary(allruns)[3]:.2f} |")
        lines.append("")
    return lines


BEGIN, END = "<!-- evidence-tables:begin (scripts/evidence_table.py --readme) -->", "<!-- evidence-tables:end -->"


def readme_block(link, per_base=False):
    """The verdicts of every claim and the ICML heat map, as the README block; with `per_base`,
    the ICML comparisons for every base rule too (docs/evidence/README.md)."""
    icml_rows, _, heat = icml_claims()
    lines = [BEGIN, "", "| claim | verdict | numbers (final accuracy, mean ± SE of the seeds) |", "|---|---|---|"]
    lines += [f"| {c} | {v} | {n} |" for c, v, n in neurips_claims() + icml_rows]
    if per_base:
        lines += ["", "The ICML comparisons for every base rule B (icml-sync/claims.csv, mu2-SGD; "
                  "each cell the verdict and the difference of mean final accuracies, a - b ± "
                  "its SE: \"yes\" (the matching claim: \"beats\") more than 2 SE better, "
                  "\"within 2 SE\" (\"matches\") neither, \"reversed\" (\"worse\") more "
                  f"than 2 SE worse; pending below {SEEDS} seeds on a side):", ""]
        lines += icml_per_base()
    lines += ["", f"The ICML claims' heat map (icml-sync-mnist, 882 rounds, mu2-SGD; mean final "
              f"accuracy ± SE, partial cells have fewer than {SEEDS} seeds; all comparisons in "
              f"[tables.md]({link}tables.md)):", ""]
    lines += heat + [""]
    grid = robustness_grid()
    if grid:
        lines += [f"The MNIST robustness grid ([grid-mnist]({link}grid-mnist), `scripts/evidence.sh full "
                  "grid`: icml-sync-mnist with per-worker shards, 882 rounds, every attack at its "
                  f"defaults; mean final accuracy over {SEEDS} seeds, a cell with fewer shows its count, "
                  "a worst case over such cells or attacks not yet run is marked *):", ""]
        lines += grid
    lines += [END]
    return "\n".join(lines)


def rewrite(path, link, per_base=False):
    with open(path) as f:
        text = f.read()
    if BEGIN not in text or END not in text:
        sys.exit(f"{path}: no evidence markers ({BEGIN} ... {END})")
    head, rest = text.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    with open(path, "w") as f:
        f.write(head + readme_block(link, per_base) + tail)


def main():
    if sys.argv[1:] == ["--readme"]:
        rewrite("README.md", "docs/evidence/")
        rewrite(os.path.join(OUT, "README.md"), "", per_base=True)
        return
    claims = ("weighting-", "ctma-", "icml-", "optim.")
    names = sys.argv[1:] or sorted(
        f[:-4] for f in os.listdir(OUT) if f.endswith(".csv") and f.startswith(claims))
    print("\n".join(table(n) for n in names if os.path.exists(os.path.join(OUT, n + ".csv"))))
    if not sys.argv[1:]:
        print(icml_claims()[1])
        print(speed())


if __name__ == "__main__":
    main()
