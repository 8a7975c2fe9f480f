"""Unit tests of scripts/evidence_table.py's grid verdicts, heat map and README blocks.

THE INPUTS HERE ARE MADE UP: hand-written grid rows chosen to land on each verdict (clear win,
within 2 SE, reversed, too few seeds). No number in this file is a measurement, and none may be
copied into docs/.

    python3 -m unittest discover -s scripts -p 'test_*.py'
"""

import contextlib
import io
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import evidence_table  # noqa: E402

HEADER = "rule,attack,heterogeneity,seed,final_accuracy,aggregation_seconds_per_update\n"


def write_grid(out, name, rows):
    os.makedirs(os.path.join(out, evidence_table.ICML), exist_ok=True)
    with open(os.path.join(out, evidence_table.ICML, name + ".csv"), "w") as f:
        f.write(HEADER)
        for rule, attack, seed, acc, secs in rows:
            f.write(f"\"{rule}\",{attack},iid,{seed},{acc},{secs}\n" if "," in rule
                    else f"{rule},{attack},iid,{seed},{acc},{secs}\n")


def seeds(rule, attack, accs, secs=0.001):
    return [(rule, attack, s, a, secs) for s, a in enumerate(accs)]


class GridVerdicts(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.old_out = evidence_table.OUT
        evidence_table.OUT = self.tmp.name

    def tearDown(self):
        evidence_table.OUT = self.old_out
        self.tmp.cleanup()

    def rows(self):
        return {claim: (verdict, numbers) for claim, verdict, numbers in evidence_table.icml_claims()[0]}

    def test_verdicts_follow_two_standard_errors_and_wait_for_five_seeds(self):
        write_grid(self.tmp.name, "claims",
                   # sign flip: CTMA clearly better (difference 0.1, SE about 0.006).
                   seeds("ctma(cwmed)", "sign-flip", [0.90, 0.91, 0.89, 0.90, 0.92], 0.002)
                   + seeds("cwmed", "sign-flip", [0.80, 0.81, 0.79, 0.80, 0.82])
                   # empire: CTMA clearly worse.
                   + seeds("ctma(cwmed)", "empire:0.5", [0.50, 0.52, 0.48, 0.50, 0.51])
                   + seeds("cwmed", "empire:0.5", [0.80, 0.81, 0.79, 0.80, 0.82])
                   # ALIE: equal within noise.
                   + seeds("ctma(cwmed)", "alie-sync", [0.70, 0.75, 0.65, 0.72, 0.68])
                   + seeds("cwmed", "alie-sync", [0.71, 0.74, 0.66, 0.70, 0.69])
                   # label flip: only 3 seeds of CTMA so far.
                   + seeds("ctma(cwmed)", "label-flip", [0.9, 0.9, 0.9])
                   + seeds("cwmed", "label-flip", [0.1, 0.1, 0.1, 0.1, 0.1])
                   # NNM(CWMed) equals CTMA(CWMed) under sign flip but costs 4x the time.
                   + seeds("nnm(cwmed)", "sign-flip", [0.90, 0.91, 0.89, 0.90, 0.92], 0.008))
        rows = self.rows()
        ctma = rows["CTMA improves CWMed, synchronous (ICML RQ1)"][0]
        self.assertIn("sf: reproduced", ctma)
        self.assertIn("empire: not reproduced: reversed", ctma)
        self.assertIn("alie: not reproduced: within 2 SE", ctma)
        self.assertIn("lf: pending (3/5 seeds)", ctma)
        verdict, numbers = rows["CTMA matches NNM(CWMed)'s accuracy at less aggregation time (ICML RQ1)"]
        self.assertIn("sf: reproduced: matches", verdict)
        self.assertIn("2.0 vs 8.0 ms/round", numbers)
        self.assertIn("empire: pending (0/5 seeds)", verdict)  # CTMA ran, NNM not yet
        self.assertIn("lf: not run", rows["NNM+CTMA improves NNM(CWMed) (ICML RQ3)"][0])
        # momentum.csv is absent: that claim has not run anywhere.
        self.assertEqual(rows["mu2-SGD beats momentum, CTMA(CWMed) (ICML RQ2)"][1], "not run yet")

    def test_heat_map_marks_partial_cells_and_counts_a_duplicate_row_once(self):
        write_grid(self.tmp.name, "claims",
                   seeds("cwmed", "sign-flip", [0.8, 0.8, 0.8, 0.8, 0.8])
                   + seeds("cwmed", "empire:0.5", [0.6, 0.6])
                   + [("cwmed", "empire:0.5", 1, 0.0, 0.001)])  # a repeated seed: not counted
        heat = evidence_table.icml_claims()[2]
        line = next(l for l in heat if l.startswith("| cwmed |"))
        self.assertIn("| 0.800 ± 0.000 |", line)
        self.assertIn("0.600 ± 0.000 (partial: 2/5)", line)
        self.assertIn("| 0.600 (partial) |", line)  # worst over what ran, two attacks not run
        self.assertIn("not run", line)
        ctma = next(l for l in heat if l.startswith("| ctma(cwmed) |"))
        self.assertEqual(ctma.count("not run"), 6)

    def test_per_base_table_gives_each_base_its_verdicts_and_differences(self):
        write_grid(self.tmp.name, "claims",
                   # mean: CTMA clearly better under sign flip (+0.100, SE sqrt(2) x 0.0051).
                   seeds("ctma(mean)", "sign-flip", [0.90, 0.91, 0.89, 0.90, 0.92])
                   + seeds("mean", "sign-flip", [0.80, 0.81, 0.79, 0.80, 0.82])
                   # gm: CTMA clearly worse under empire (-0.302, SE 0.008), NNM ran 2 seeds only.
                   + seeds("ctma(gm(preset=rfa))", "empire:0.5", [0.50, 0.52, 0.48, 0.50, 0.51])
                   + seeds("gm(preset=rfa)", "empire:0.5", [0.80, 0.81, 0.79, 0.80, 0.82])
                   + seeds("nnm(gm(preset=rfa))", "empire:0.5", [0.80, 0.81]))
        lines = evidence_table.icml_per_base()
        self.assertEqual(len(lines), 2 + len(evidence_table.ICML_PER_BASE) * len(evidence_table.ICML_BASES))

        def row(claim, base):
            return next(line for line in lines if line.startswith(f"| {claim} | {base} |"))

        self.assertEqual(row("CTMA improves B", "mean"), "| CTMA improves B | mean | not run | "
                         "yes: +0.100 ± 0.007 | not run | not run |")
        gm = row("CTMA improves B", "gm(preset=rfa)")
        self.assertIn("| reversed: -0.302 ± 0.008 |", gm)
        gm_cost = row("CTMA matches NNM(B)", "gm(preset=rfa)")
        self.assertIn("| pending (2/5 seeds): -0.303 ± 0.008 |", gm_cost)
        self.assertEqual(row("NNM+CTMA improves NNM(B)", "cwmed").count("not run"), 4)
        self.assertIn("| pending (2/5 seeds): +0.001 ± 0.007 |", row("NNM improves B", "gm(preset=rfa)"))
        # The per-base table goes into docs/evidence/README.md's block, not the top README's.
        self.assertIn("| CTMA improves B | mean |", evidence_table.readme_block("", per_base=True))
        self.assertNotIn("CTMA improves B", evidence_table.readme_block("docs/evidence/"))

    def test_neurips_rows_read_the_last_record_of_each_seed_and_name_absent_variants(self):
        with open(os.path.join(self.tmp.name, "ctma-alie.csv"), "w") as f:
            f.write("variant,seed,iteration,test_accuracy,aggregation_seconds\n")
            for seed in range(5):
                # An early record that must not count, then the final one.
                f.write(f"w-cwmed,{seed},100,0.1,0.001\n")
                f.write(f"w-cwmed,{seed},1000,{0.80 + 0.01 * (seed % 2)},0.001\n")
                f.write(f"w-ctma(w-cwmed),{seed},1000,{0.90 + 0.01 * (seed % 2)},0.002\n")
        rows = {claim: (v, n) for claim, v, n in evidence_table.neurips_claims()}
        verdict, numbers = rows["w-CTMA improves w-CWMed, ALIE (NeurIPS)"]
        self.assertEqual(verdict, "reproduced")
        self.assertTrue(numbers.startswith("0.904 vs 0.804, +0.100 ± 0.003 (1000 updates"), numbers)
        self.assertEqual(rows["w-CTMA improves w-GM, ALIE (NeurIPS)"],
                         ("not run", "neither variant in ctma-alie.csv"))
        self.assertEqual(rows["w-CTMA improves w-GM, empire (NeurIPS)"],
                         ("not run", "ctma-empire.csv missing"))

    def test_robustness_grid_maps_each_heterogeneity_in_the_grids_order(self):
        self.assertEqual(evidence_table.robustness_grid(), [])  # no grid CSV yet
        self.assertNotIn("robustness grid", evidence_table.readme_block(""))
        os.makedirs(os.path.join(self.tmp.name, "grid-mnist"))
        with open(os.path.join(self.tmp.name, evidence_table.GRID), "w") as f:
            f.write(HEADER)
            for seed in range(5):
                f.write(f"cwmed,fang,iid,{seed},0.9,0.002\n")
                f.write(f"cwmed,nan,iid,{seed},0.8,0.002\n")
                f.write(f"\"ctma(cwmed)\",fang,iid,{seed},0.7,0.004\n")
                f.write(f"cwmed,fang,dirichlet(0.5),{seed},0.6,0.002\n")
            f.write("cwmed,fang,dirichlet(0.5),0,0.0,0.002\n")  # a repeated cell: not counted
            f.write("cwmed,nan,dirichlet(0.5),0,0.5,0.002\n")
        lines = evidence_table.robustness_grid()
        self.assertEqual(lines[0], "iid:")
        self.assertEqual(lines[2], "| rule | fang | nan | worst | ms/update |")
        self.assertIn("| cwmed | 0.900 | 0.800 | 0.800 | 2.00 |", lines)
        self.assertIn("| ctma(cwmed) | 0.700 | not run | 0.700* | 4.00 |", lines)
        at = lines.index("dirichlet(0.5):")
        self.assertIn("| cwmed | 0.600 | 0.500 (1/5) | 0.500* | 2.00 |", lines[at:])
        self.assertFalse(any(line.startswith("| ctma(cwmed)") for line in lines[at:]))
        self.assertIn("| cwmed | 0.900 | 0.800 | 0.800 | 2.00 |", evidence_table.readme_block(""))

    def test_readme_block_replaces_only_the_text_between_the_markers(self):
        write_grid(self.tmp.name, "claims", seeds("cwmed", "sign-flip", [0.8] * 5))
        path = os.path.join(self.tmp.name, "page.md")
        with open(path, "w") as f:
            f.write(f"before\n{evidence_table.BEGIN}\nstale\n{evidence_table.END}\nafter\n")
        evidence_table.rewrite(path, "")
        with open(path) as f:
            text = f.read()
        self.assertTrue(text.startswith("before\n") and text.endswith("\nafter\n"))
        self.assertNotIn("stale", text)
        self.assertIn("| cwmed | not run | 0.800 ± 0.000 |", text)
        self.assertIn("w-CTMA improves w-CWMed", text)  # the NeurIPS rows, here not run
        with open(path, "w") as f:
            f.write("no markers\n")
        with contextlib.redirect_stderr(io.StringIO()), self.assertRaises(SystemExit):
            evidence_table.rewrite(path, "")


if __name__ == "__main__":
    unittest.main()
