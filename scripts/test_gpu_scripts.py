"""Unit tests of scripts/primitives_table.py and scripts/sass_budget.py.

THE INPUTS HERE ARE MADE UP: small hand-written bench/torch records and SASS snippets that only
exercise the code paths (joining, variants, nulls, loop and path counting, budgets). No number
in this file is a measurement, and none may be copied into docs/.

    python3 -m unittest discover -s scripts -p 'test_*.py'
"""

import contextlib
import io
import json
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import primitives_table  # noqa: E402
import sass_budget  # noqa: E402


def bench_record(rule, backend, n, weighted=False, seconds=0.01, **extra):
    # Made-up timings; read_pass_seconds is the HOST read pass bench writes, which the join
    # must not use.
    return {"rule": rule, "backend": backend, "n": n, "d": 1000, "weighted": weighted,
            "seconds": seconds, "read_pass_seconds": 99.0, **extra}


def torch_record(job, n, ms):
    return {"job": job, "n": n, "d": 1000, "ms": ms, "device": "Made-up Card"}


TORCH = [torch_record("read", 16, 1.0), torch_record("cwmed", 16, 40.0), torch_record("cdist", 16, 20.0),
         torch_record("mix", 16, 2.0), torch_record("read", 32, 2.0)]


class PrimitivesTable(unittest.TestCase):
    def test_join_takes_the_device_read_pass_and_torch_equivalents(self):
        runs = [([bench_record("order_stats", "cuda", 16, seconds=0.004),
                  bench_record("order_stats", "cuda", 16, weighted=True),
                  bench_record("pairwise_dist", "wgpu", 16),
                  bench_record("mix", "cuda", 16, weighted=True)],
                 {"cuda": "order_stats=pruned", "wgpu": "default"})]
        rows, warnings = primitives_table.join(runs, TORCH)
        self.assertEqual(warnings, [])
        self.assertEqual(len(rows), 4)
        first = rows[0]
        self.assertEqual(set(first), {"primitive", "n", "d", "weighted", "variant", "seconds",
                                      "read_pass_seconds", "torch_seconds", "backend", "device"})
        self.assertEqual(first["read_pass_seconds"], 1.0e-3)  # torch's x.sum(), not bench's 99
        self.assertEqual(first["torch_seconds"], 40.0e-3)
        self.assertEqual(first["variant"], "order_stats=pruned")
        self.assertEqual(first["device"], "Made-up Card")
        # No weighted median in torch: null. The distances ignore weights; a weighted mix is
        # torch's same GEMV.
        self.assertIsNone(rows[1]["torch_seconds"])
        self.assertTrue(rows[1]["weighted"])
        self.assertEqual((rows[2]["backend"], rows[2]["variant"], rows[2]["torch_seconds"]), ("wgpu", "default", 20.0e-3))
        self.assertEqual(rows[3]["torch_seconds"], 2.0e-3)

    def test_a_variant_field_in_the_record_wins_and_a_mismatch_is_reported(self):
        runs = [([bench_record("mix", "cuda", 16, variant="mix=shared")], {"cuda": "default", "wgpu": "default"}),
                ([bench_record("mix", "cuda", 16, variant="mix=shared")], {"cuda": "mix=other", "wgpu": "default"})]
        rows, warnings = primitives_table.join(runs, TORCH)
        self.assertEqual([r["variant"] for r in rows], ["mix=shared", "mix=shared"])
        self.assertEqual(len(warnings), 1)
        self.assertIn("mix=other", warnings[0])

    def test_missing_read_pass_is_null_and_other_jobs_are_left_out(self):
        runs = [([bench_record("center_dist", "cuda", 64), bench_record("gm", "cuda", 16),
                  bench_record("order_stats", "cpu", 16), bench_record("order_stats", "cuda:0,cuda:1", 16)],
                 {"cuda": "default", "wgpu": "default"})]
        rows, warnings = primitives_table.join(runs, TORCH, device="Named Card")
        self.assertEqual(len(rows), 1)
        self.assertIsNone(rows[0]["read_pass_seconds"])
        self.assertIsNone(rows[0]["torch_seconds"])
        self.assertEqual(rows[0]["device"], "Named Card")
        self.assertTrue(any("n=64" in w for w in warnings))

    def test_torch_error_object_gives_nulls_not_a_crash(self):
        rows, warnings = primitives_table.join([([bench_record("mix", "cuda", 16)], {})],
                                               {"error": "torch sees no CUDA device"})
        self.assertIsNone(rows[0]["read_pass_seconds"])
        self.assertTrue(any("no CUDA device" in w for w in warnings))

    def test_table_shows_share_and_speedup(self):
        runs = [([bench_record("order_stats", "cuda", 16, seconds=0.004),
                  bench_record("order_stats", "cuda", 32, seconds=0.004)], {"cuda": "default"})]
        rows, _ = primitives_table.join(runs, TORCH)
        text = primitives_table.table(rows)
        self.assertIn("| order_stats | weights 1 | cuda | default |", text)
        self.assertIn("25.0% (10.0x torch)", text)  # 1 ms / 4 ms, 40 ms / 4 ms
        self.assertIn("50.0%", text)  # n = 32: no torch median there, share only

    def test_main_writes_primitives_json(self):
        with tempfile.TemporaryDirectory() as tmp:
            bench = os.path.join(tmp, "bench.json")
            torch = os.path.join(tmp, "torch.json")
            out = os.path.join(tmp, "primitives.json")
            with open(bench, "w") as fh:
                json.dump([bench_record("mix", "wgpu", 16)], fh)
            with open(torch, "w") as fh:
                json.dump(TORCH, fh)
            with contextlib.redirect_stdout(io.StringIO()) as printed:
                rc = primitives_table.main(["--bench", bench, "default", "mix=tiled", "--torch", torch, "--out", out])
            self.assertIn("| mix | weights 1 | wgpu | mix=tiled |", printed.getvalue())
            self.assertEqual(rc, 0)
            with open(out) as fh:
                rows = json.load(fh)
            self.assertEqual(rows[0]["variant"], "mix=tiled")
            self.assertEqual(rows[0]["backend"], "wgpu")


# A made-up entry point in nvdisasm's layout: setup, a grid-stride loop holding a row loop
# unrolled by 2 (counter step 2) and a rarely taken slow path branched over, then EXIT.
SASS = """
        .other          toy,@"STO_CUDA_ENTRY STV_DEFAULT"
.text.toy:
        /*0000*/                   MOV R1, c[0x0][0x28] ;
.L_x_1:
        /*0010*/                   LDG.E R2, desc[UR4][R4.64] ;
        /*0020*/                   FFMA R3, R2, R2, R3 ;
.L_x_2:
        /*0030*/                   DADD R6, R6, R8 ;
        /*0040*/                   F2F.F64.F32 R8, R2 ;
        /*0050*/                   VIADD R10, R10, 0x2 ;
        /*0060*/                   ISETP.GE.AND P1, PT, R10, R11, PT ;
        /*0070*/              @!P1 BRA `(.L_x_2) ;
        /*0080*/                   FSETP.GEU.AND P2, PT, R3, 1e-30, PT ;
        /*0090*/               @P2 BRA `(.L_x_3) ;
        /*00a0*/                   DFMA R12, R12, R12, R14 ;
        /*00b0*/                   DFMA R12, R12, R12, R14 ;
        /*00c0*/                   SHFL.BFLY PT, R5, R3, 0x10, 0x1f ;
.L_x_3:
        /*00d0*/                   IADD3 R4, P0, R4, 0x200, RZ ;
        /*00e0*/                   IMAD.X R5, RZ, RZ, R5, P0 ;
        /*00f0*/                   ISETP.GE.U32.AND P0, PT, R4, R16, PT ;
        /*0100*/                   ISETP.GE.U32.AND.EX P3, PT, R5, R17, PT, P0 ;
        /*0110*/                   NOP ;
        /*0120*/              @!P3 BRA `(.L_x_1) ;
        /*0130*/                   EXIT ;
.L_x_4:
        /*0140*/                   BRA `(.L_x_4);
"""


class SassCounting(unittest.TestCase):
    def setUp(self):
        funcs = sass_budget.parse_sass(SASS)
        self.assertEqual(list(funcs), ["toy"])
        self.ins, self.labels = funcs["toy"]

    def test_every_instruction_of_the_loop_counts_and_row_loops_per_row(self):
        counts, where = sass_budget.count_entry(self.ins, self.labels, {})
        self.assertEqual(where["row_loops"], [{"loop": [3, 7], "step": 2}])
        outer, inner = counts["outer"], counts["inner"]
        self.assertEqual((outer["load"], outer["fp32"], outer["fp64"], outer["shfl"]), (1, 2, 2, 1))
        self.assertEqual(outer["int"], 4)  # IADD3, IMAD.X, two ISETP
        self.assertEqual(outer["other"], 2)  # two branches; the NOP takes no issue slot
        # The row loop's 5 instructions handle 2 rows per pass.
        self.assertEqual((inner["fp64"], inner["conv"], inner["int"], inner["other"]), (0.5, 0.5, 1.0, 0.5))
        self.assertEqual(inner["issue"], 2.5)

    def test_shortest_path_skips_the_branched_over_slow_path(self):
        counts, where = sass_budget.count_entry(self.ins, self.labels, {"path": "shortest"})
        self.assertEqual(counts["outer"]["fp64"], 0)
        self.assertEqual(counts["outer"]["shfl"], 0)
        self.assertEqual(counts["inner"]["fp64"], 0.5)

    def test_a_taken_opcode_keeps_its_branched_over_block_on_the_shortest_path(self):
        # "taken" marks the slow path's SHFL as always executed: the branch over it is no
        # longer the shortest path, so its block counts.
        counts, where = sass_budget.count_entry(self.ins, self.labels, {"path": "shortest", "taken": ["SHFL"]})
        self.assertEqual(counts["outer"]["fp64"], 2)
        self.assertEqual(counts["outer"]["shfl"], 1)

    def test_innermost_coordinate_loop_of_a_persistent_kernel(self):
        # "innermost": the loop .L_x_2 (which holds no other loop) is the coordinate loop; the
        # loop around it (a persistent kernel's work items) is not counted.
        counts, where = sass_budget.count_entry(self.ins, self.labels, {"coordinate_loop": "innermost"})
        self.assertEqual(where["loop"], [3, 7])
        self.assertEqual(where["row_loops"], [])
        outer = counts["outer"]
        self.assertEqual((outer["fp64"], outer["conv"], outer["int"], outer["other"]), (1, 1, 2, 1))
        self.assertEqual((outer["load"], outer["shfl"]), (0, 0))

    def test_unrolled_coordinate_loop_is_divided_by_its_unrolling(self):
        # The 64-bit counter steps by 0x200 = 512 where the source steps by 128: 4 coordinates
        # per pass, found through the .EX compare's chained predicate.
        counts, where = sass_budget.count_entry(self.ins, self.labels, {"source_step": 128, "coords_per_iteration": 2})
        self.assertEqual(where["unroll"], 4.0)
        self.assertEqual(where["coords_per_iteration"], 8.0)
        self.assertEqual(counts["outer"]["load"], 0.12)  # 1 / 8, rounded to 2 places

    def test_pipes(self):
        for op, pipe in [("IMNMX.U32", "int"), ("SEL", "int"), ("FMNMX", "fp32"), ("DFMA", "fp64"),
                         ("F2F.F64.F32", "conv"), ("I2F.U32", "conv"), ("SHFL.IDX", "shfl"),
                         ("LDG.E.64.CONSTANT", "load"), ("STG.E", "store"), ("BRA", "other"), ("ULDC", "other")]:
            self.assertEqual(sass_budget.pipe_of(op), pipe, op)

    def test_budget_check(self):
        unit = {p: 0.0 for p in sass_budget.PIPES + ["issue"]}
        unit.update(int=10.0, issue=10.0)
        self.assertEqual(sass_budget.over_budget(unit, {"int": 10, "issue": 12}), [])
        self.assertEqual(sass_budget.over_budget(unit, {"int": 9, "issue": 12}), ["int 10 > 9"])
        self.assertEqual(sass_budget.over_budget(unit, {"issue": 12}), ["int 10 > 0"])

    def test_model_expressions(self):
        self.assertEqual(sass_budget.evaluate("ceil(n / 8) * (ceil(n / 8) + 1) / 2", 64), 36.0)
        self.assertEqual(sass_budget.evaluate("(n + ceil(n / 4)) / n", 16), 1.25)
        with self.assertRaises(ValueError):
            sass_budget.evaluate("__import__('os')", 16)

    def test_prediction_takes_the_slowest_limit(self):
        card = {"sms": 1, "ghz": 1.0, "issue_per_sm_clk": 128, "rates": dict.fromkeys(sass_budget.TIMED, 64),
                "read_pass_ms_at_d_1e8": {}, "read_pass_bytes_per_s": 4e9}
        zero = dict.fromkeys(sass_budget.PIPES + ["issue"], 0.0)
        counts = {"outer": {**zero, "int": 64.0, "issue": 64.0}, "inner": zero}
        # d = 1e6 coordinates x 64 int / (64 per clock x 1e9 clocks/s) = 1 ms; the read pass of
        # 4 x 16 x 1e6 bytes at 4e9 B/s is 16 ms: memory binds, share 1.
        seconds, read, limit = sass_budget.predict(counts, {"traffic": "1"}, card, 16, 1e6)
        self.assertEqual(limit, "memory")
        self.assertAlmostEqual(read / seconds, 1.0)
        counts["outer"]["int"] = 64.0 * 32
        seconds, read, limit = sass_budget.predict(counts, {}, card, 16, 1e6)
        self.assertEqual(limit, "int")
        self.assertAlmostEqual(read / seconds, 0.5)


if __name__ == "__main__":
    unittest.main()
