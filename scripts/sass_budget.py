#!/usr/bin/env python3
"""Offline yardstick for the CUDA kernels: SASS instruction counts, a predicted share of the
read pass, and instruction budgets that fail CI when a kernel grows.

Every kernels/*.cu is compiled as byzagg compiles it (NVRTC, `--gpu-architecture=compute_90
--std=c++17`, the options of src/cuda/nvrtc.rs), assembled with ptxas for sm_90 (what the
driver's JIT does with that PTX on an H100/H200) and disassembled with nvdisasm. No GPU is
needed: the tools come from PyPI (`nvidia-cuda-nvrtc`, `nvidia-cuda-nvcc`,
`nvidia-cuda-nvdisasm`) in the repository's .venv. The modules byzagg compiles per row count
(`order_stats=pruned`) are compiled the same way with the defines the backend puts in front of
the file, printed by the example the config's `modules` names (built by `cargo test
--release`); their entry points are counted as ENTRY@LABEL (`os_median_u@m32`).

Counting (per entry point, static, one pass over the machine code):
- the coordinate loop is the outermost loop (a backward branch) holding the most
  instructions (for a model whose `coordinate_loop` is "innermost": the largest loop that
  holds no other loop, a persistent kernel's coordinate loop inside its loop over work
  items); where the compiler made several versions of it (say, odd and even m), the
  largest one counts;
- loops inside it are loops over rows: their body counts once per row, divided by the step
  of their counter (the compiler unrolls `for p` by 4: one pass handles 4 rows);
- every instruction of the coordinate loop counts once ("all"), except for kernels whose
  model says "shortest": there only the shortest forward path from the loop's head to its
  back edge counts, for loops whose branches guard rare slow paths (pairwise_dist's f64 redo
  of tiny or overflowed lane sums, inlined 64 times, but taken only for such data); a model's
  "taken" opcodes (prefixes) mark code that always runs: a branch over one of them is not
  taken on that path (pairwise_dist_tiled's 16-byte tile copies, LDGSTS.E.BYPASS);
- the counts are divided by the coordinates one loop iteration handles (the model's
  `coords_per_iteration`), so the budgets are per coordinate (per row for the row loops,
  per tile pair or row group where the model says so).

Pipes and rates (the model of /work/shared/GPU-REVIEW.md, NVIDIA's throughput table for
compute capability 9.0, per SM per clock): fp32 (FADD FMUL FFMA FMNMX and float
compare/select) 128, int (integer add, multiply-add, logic, shift, compare, min/max, select,
moves) 64, fp64 64, conv (F2F F2I I2F I2I FRND) 16, mufu 16, shfl 32; loads and stores are
counted and budgeted but not timed; every instruction but NOP takes an issue slot (4
schedulers x 32 lanes = 128 per SM per clock).

Prediction for a primitive at n rows, d coordinates: each pipe's time is count x d / (rate
x SMs x clock), the issue time is total x d / (128 x SMs x clock), the memory time is the
model's `traffic` (batch reads, 1 = one read pass) x the measured read pass; the predicted
time is the largest of them and the share is read pass / predicted time. It ignores latency,
occupancy, instruction-cache misses and L2: a model to be calibrated, which is why every
measured share is printed beside it.

Exit status: 0 when every entry point is within its budget, 1 when one is over budget or has
none (run with --update-budget to write today's counts plus headroom, after looking at why),
2 when a tool is missing or a compile fails.
"""

import argparse
import ast
import ctypes
import glob
import json
import math
import operator
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PIPES = ["fp32", "int", "fp64", "conv", "mufu", "shfl", "load", "store", "other"]
TIMED = ["fp32", "int", "fp64", "conv", "mufu", "shfl"]

# Opcode (the part before the first dot) -> pipe. Anything not listed is "other" (branches,
# barriers, uniform-datapath U* instructions, S2R, constant loads): issue slots only.
OPCODES = {
    "fp32": "FADD FMUL FFMA FMNMX FSETP FSEL FSET FCHK FSWZADD FADD32I FMUL32I FFMA32I",
    "int": "IMNMX VIMNMX SEL ISETP IADD3 IADD VIADD VIADDMNMX IMAD IMUL IMUL32I IMAD32I IABS "
    "LOP3 LOP LOP32I SHF SHL SHR LEA PRMT MOV MOV32I POPC FLO BREV BMSK SGXT IDP CS2R P2R R2P "
    "PLOP3 I2FP F2FP ICMP ISCADD VABSDIFF VABSDIFF4 IDE",
    "fp64": "DADD DMUL DFMA DSETP DMNMX DSET DMMA",
    "conv": "F2F F2I I2F I2I FRND F2IP",
    "mufu": "MUFU",
    "shfl": "SHFL",
    "load": "LDG LDS LD LDL LDSM LDGSTS",
    "store": "STG STS ST STL RED ATOM ATOMS ATOMG",
}
PIPE_OF = {op: pipe for pipe, ops in OPCODES.items() for op in ops.split()}


def pipe_of(opcode):
    return PIPE_OF.get(opcode.split(".")[0], "other")


# ---------------------------------------------------------------------------------------------
# Tools: NVRTC, ptxas, nvdisasm from PyPI's wheels.


def cuda_dirs():
    """Folders `nvidia/cu13` of the venvs to search: BYZAGG_CUDA_TOOLS, VIRTUAL_ENV, ./.venv."""
    out = []
    if os.environ.get("BYZAGG_CUDA_TOOLS"):
        out.append(os.environ["BYZAGG_CUDA_TOOLS"])
    prefixes = [os.environ.get("VIRTUAL_ENV", ""), os.path.join(ROOT, ".venv"), sys.prefix]
    for p in prefixes:
        if p:
            out += sorted(glob.glob(os.path.join(p, "lib", "python3*", "site-packages", "nvidia", "cu13")))
    return out


def find_tool(rel):
    for d in cuda_dirs():
        p = os.path.join(d, rel)
        if os.path.exists(p):
            return p
    return None


class Nvrtc:
    """NVRTC through ctypes: the library byzagg loads, with byzagg's options."""

    def __init__(self, path):
        for b in glob.glob(os.path.join(os.path.dirname(path), "libnvrtc-builtins.so.*")):
            if ".alt." not in b:
                ctypes.CDLL(b, mode=ctypes.RTLD_GLOBAL)
        self.lib = ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)

    def ptx(self, name, source, arch, extra):
        lib = self.lib
        prog = ctypes.c_void_p()
        rc = lib.nvrtcCreateProgram(ctypes.byref(prog), source.encode(), name.encode(), 0, None, None)
        if rc != 0:
            raise RuntimeError(f"{name}: nvrtcCreateProgram failed ({rc})")
        # src/cuda/nvrtc.rs `compile`: cudarc puts the architecture first, then byzagg's options.
        opts = [f"--gpu-architecture=compute_{arch.removeprefix('sm_')}", "--std=c++17", *extra]
        arr = (ctypes.c_char_p * len(opts))(*[o.encode() for o in opts])
        rc = lib.nvrtcCompileProgram(prog, len(opts), arr)
        size = ctypes.c_size_t()
        lib.nvrtcGetProgramLogSize(prog, ctypes.byref(size))
        log = ctypes.create_string_buffer(size.value)
        lib.nvrtcGetProgramLog(prog, log)
        if rc != 0:
            raise RuntimeError(f"{name} with {opts}: NVRTC error {rc}\n{log.value.decode(errors='replace')}")
        lib.nvrtcGetPTXSize(prog, ctypes.byref(size))
        buf = ctypes.create_string_buffer(size.value)
        lib.nvrtcGetPTX(prog, buf)
        lib.nvrtcDestroyProgram(ctypes.byref(prog))
        return buf.value.decode()


def sass_of(nvrtc, ptxas, nvdisasm, name, source, arch, extra, workdir):
    ptx = nvrtc.ptx(name, source, arch, extra)
    stem = os.path.join(workdir, re.sub(r"[^A-Za-z0-9_.]", "_", name + "".join(extra)))
    with open(stem + ".ptx", "w") as fh:
        fh.write(ptx)
    run = subprocess.run([ptxas, "--gpu-name", arch, "-o", stem + ".cubin", stem + ".ptx"], capture_output=True, text=True)
    if run.returncode != 0:
        raise RuntimeError(f"ptxas failed on {name}:\n{run.stderr}")
    run = subprocess.run([nvdisasm, "-c", stem + ".cubin"], capture_output=True, text=True)
    if run.returncode != 0:
        raise RuntimeError(f"nvdisasm failed on {name}:\n{run.stderr}")
    return run.stdout


# ---------------------------------------------------------------------------------------------
# SASS parsing and counting.


def parse_sass(text):
    """{entry: (instructions, labels)}: instructions as (predicate, opcode, operands) in address
    order, labels as {label: index of the next instruction}. Entry points only."""
    funcs, entries, cur = {}, set(), None
    for line in text.splitlines():
        m = re.search(r"\.other\s+(\S+),@\"STO_CUDA_ENTRY", line)
        if m:
            entries.add(m.group(1))
            continue
        m = re.match(r"^\.text\.(\S+):", line)
        if m:
            cur = m.group(1)
            funcs[cur] = ([], {})
            continue
        if cur is None:
            continue
        m = re.match(r"^(\.L_x_\d+):", line)
        if m:
            funcs[cur][1][m.group(1)] = len(funcs[cur][0])
            continue
        m = re.match(r"^\s*/\*[0-9a-f]+\*/\s+(@!?U?P\w+\s+)?(\S+)\s*(.*?)\s*;", line)
        if m:
            funcs[cur][0].append(((m.group(1) or "").strip(), m.group(2), m.group(3)))
    return {k: v for k, v in funcs.items() if k in entries}


def branch_target(ins, labels):
    pred, op, args = ins
    if op.split(".")[0] != "BRA":
        return None
    m = re.search(r"`\((\.L_x_\d+)\)", args)
    return labels.get(m.group(1)) if m else None


def loops_of(ins, labels):
    """Every loop as (head, tail): a branch at `tail` back to `head` <= tail (not the trap
    `BRA self` after EXIT)."""
    out = []
    for i, x in enumerate(ins):
        t = branch_target(x, labels)
        if t is not None and t < i:
            out.append((t, i))
    return out


def counter_step(ins, head, tail):
    """The step of the loop's counter: the immediate added to a register that a compare
    feeding the back edge reads (VIADD/IADD3 Rx, [Px,] Rx, imm; for a 64-bit counter the low
    word's compare), or None where none is found."""
    pred = ins[tail][0].lstrip("@!")
    if not pred:
        return None
    chased = {pred}
    for i in range(tail - 1, max(head, tail - 24) - 1, -1):
        op, args = ins[i][1], ins[i][2]
        written = args.split(",")[0].strip()
        if not (op.startswith("ISETP") and written in chased):
            continue
        # ISETP...EX (the high word of a 64-bit compare) chains the low word's predicate.
        tail_pred = args.split(",")[-1].strip().lstrip("!")
        if re.fullmatch(r"P\d", tail_pred):
            chased.add(tail_pred)
        for r in re.findall(r"\bR\d+\b", args)[:1]:
            for j in range(tail, head - 1, -1):
                if ins[j][1].split(".")[0] not in ("VIADD", "IADD3", "IADD"):
                    continue
                m = re.match(rf"{r}, (?:P\d, )?{r}, (0x[0-9a-f]+|\d+)\b", ins[j][2])
                if m:
                    step = int(m.group(1), 0)
                    # A 32-bit immediate: 0xfffffffc counts down by 4.
                    return abs(step - (1 << 32) if step >= 1 << 31 else step)
    return None


def count_entry(ins, labels, model):
    """Per-pipe counts of one entry point per coordinate: "outer" outside the row loops, "inner"
    per row inside them; and a description of what counted."""
    loops = [(h, t) for h, t in loops_of(ins, labels) if t > h]
    outer = [l for l in loops if not any(o != l and o[0] <= l[0] and l[1] <= o[1] for o in loops)]
    if model.get("coordinate_loop") == "innermost":
        # A persistent kernel's coordinate loop sits inside its loop over work items: the
        # largest loop that holds no other loop.
        outer = [l for l in loops if not any(o != l and l[0] <= o[0] and o[1] <= l[1] for o in loops)]
    if outer:
        head, tail = max(outer, key=lambda l: l[1] - l[0])
    else:
        head, tail = 0, len(ins) - 1
    inner = [l for l in loops if l != (head, tail) and head <= l[0] and l[1] <= tail]
    # An instruction in a row loop counts once per row: 1 / step of that loop (nested row
    # loops multiply, which only the heap sorts have).
    steps = {l: counter_step(ins, *l) or 1 for l in inner}

    def weight(i):
        if ins[i][1].startswith("NOP"):
            return 0.0
        w = 1.0
        for (h, t), s in steps.items():
            if h <= i <= t:
                w /= s
        return w

    counts = {"outer": dict.fromkeys(PIPES, 0.0), "inner": dict.fromkeys(PIPES, 0.0)}
    path = model.get("path", "all")
    taken = model.get("taken", [])
    if path == "shortest" and outer:
        chosen = set()
        # Rebuild the path: mark every instruction on one cheapest route.
        inf = float("inf")
        dist = [inf] * (tail + 2)
        prev = [None] * (tail + 2)
        dist[head] = 0.0
        for i in range(head, tail + 1):
            if dist[i] == inf:
                continue
            here = dist[i] + weight(i)
            op = ins[i][1].split(".")[0]
            t = branch_target(ins[i], labels)
            nxt = []
            # A branch over an opcode the model marks as always executed ("taken": the tile
            # copies of pairwise_dist_tiled) is not the common path (an unconditional one is a
            # dead end there).
            over_taken = t is not None and any(
                ins[k][1].startswith(tuple(taken)) for k in range(i + 1, min(t, tail + 1)))
            if t is not None and head <= t <= tail and t > i and not over_taken:
                nxt.append(t)
            if i == tail:
                nxt.append(tail + 1)
            elif not (op in ("BRA", "EXIT", "RET") and not ins[i][0]):
                nxt.append(i + 1)
            for j in nxt:
                if here < dist[j]:
                    dist[j], prev[j] = here, i
        j = prev[tail + 1]
        while j is not None:
            chosen.add(j)
            j = prev[j]
        members = sorted(chosen)
    else:
        members = range(head, tail + 1)
    for i in members:
        part = "inner" if any(h <= i <= t for h, t in steps) else "outer"
        counts[part][pipe_of(ins[i][1])] += weight(i)
    # Coordinates per pass of the coordinate loop: the model's count per source iteration,
    # times the compiler's unrolling where the model gives the source step of the counter.
    unroll = 1.0
    if outer and "source_step" in model:
        step = counter_step(ins, head, tail)
        unroll = step / model["source_step"] if step else 1.0
    per = float(model.get("coords_per_iteration", 1)) * unroll
    for part in counts.values():
        for p in PIPES:
            part[p] = round(part[p] / per, 2)
        part["issue"] = round(sum(part[p] for p in PIPES), 2)
    where = {
        "loop": [head, tail] if outer else None,
        "loop_instructions": tail - head + 1,
        "row_loops": [{"loop": list(l), "step": s} for l, s in steps.items()],
        "path": path if outer else "whole body (no loop)",
        "coords_per_iteration": per,
        "unroll": unroll,
    }
    return counts, where


# ---------------------------------------------------------------------------------------------
# The model's expressions in n: + - * / // ** ( ) numbers, n, ceil.

_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
        ast.FloorDiv: operator.floordiv, ast.Pow: operator.pow}


def evaluate(expr, n):
    def ev(node):
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            return node.value
        if isinstance(node, ast.Name) and node.id == "n":
            return n
        if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
            return _OPS[type(node.op)](ev(node.left), ev(node.right))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "ceil" and len(node.args) == 1:
            return math.ceil(ev(node.args[0]))
        raise ValueError(f"unsupported expression {expr!r}: only numbers, n, + - * / // ** and ceil()")

    return float(ev(ast.parse(str(expr), mode="eval")))


def predict(counts, prim, card, n, d):
    """Predicted seconds, the read pass's seconds, and which limit binds. `counts` is
    count_entry's: per coordinate ("outer") and per row of the row loops ("inner")."""
    work = evaluate(prim.get("work_per_coordinate", 1), n)
    rows = evaluate(prim.get("rows_per_coordinate", 0), n)
    # The review's read passes at d = 1e8 where it has this n, else 4 n d bytes at its bandwidth.
    table = card.get("read_pass_ms_at_d_1e8", {})
    if str(n) in table:
        read_pass = table[str(n)] * 1e-3 * d / 1e8
    else:
        read_pass = 4.0 * n * d / card["read_pass_bytes_per_s"]
    clock = card["sms"] * card["ghz"] * 1e9
    times = {}
    for pipe in TIMED:
        per_coord = (counts["outer"][pipe] + counts["inner"][pipe] * rows) * work
        times[pipe] = per_coord * d / (card["rates"][pipe] * clock)
    total = (counts["outer"]["issue"] + counts["inner"]["issue"] * rows) * work
    times["issue"] = total * d / (card["issue_per_sm_clk"] * clock)
    times["memory"] = evaluate(prim.get("traffic", 1), n) * read_pass
    limit = max(times, key=times.get)
    return times[limit], read_pass, limit


# ---------------------------------------------------------------------------------------------


def over_budget(unit, budget):
    """The pipes where `unit` (counts per coordinate) exceeds `budget` (a pipe missing from the
    budget allows none), as text."""
    return [f"{p} {unit[p]:g} > {budget.get(p, 0)}" for p in PIPES + ["issue"] if unit.get(p, 0) > budget.get(p, 0)]


def compile_all(config, arch, keep):
    nvrtc_lib = find_tool("lib/libnvrtc.so.13")
    ptxas = find_tool("bin/ptxas")
    nvdisasm = find_tool("bin/nvdisasm")
    missing = [n for n, p in (("NVRTC (nvidia-cuda-nvrtc)", nvrtc_lib), ("ptxas (nvidia-cuda-nvcc)", ptxas),
                               ("nvdisasm (nvidia-cuda-nvdisasm)", nvdisasm)) if not p]
    if missing:
        raise FileNotFoundError(
            "missing " + ", ".join(missing) + ": python3 -m venv .venv && .venv/bin/pip install "
            "'nvidia-cuda-nvrtc==13.0.*' 'nvidia-cuda-nvcc==13.0.*' 'nvidia-cuda-nvdisasm==13.2.*' "
            "(or point BYZAGG_CUDA_TOOLS at a folder with lib/libnvrtc.so.13, bin/ptxas, bin/nvdisasm)")
    nvrtc = Nvrtc(nvrtc_lib)
    option_sets = config.get("nvrtc_options", {})
    entries = {}
    workdir = keep or tempfile.mkdtemp(prefix="byzagg-sass-")
    os.makedirs(workdir, exist_ok=True)
    for path in sorted(glob.glob(os.path.join(ROOT, "kernels", "*.cu"))):
        name = os.path.basename(path)
        with open(path) as fh:
            source = fh.read()
        for opt in option_sets.get(name, [{"label": "", "options": []}]):
            text = sass_of(nvrtc, ptxas, nvdisasm, name, source, arch, opt["options"], workdir)
            if keep:
                with open(os.path.join(workdir, name + opt["label"] + ".sass"), "w") as fh:
                    fh.write(text)
            for entry, (ins, labels) in parse_sass(text).items():
                key = entry + (f"@{opt['label']}" if opt["label"] else "")
                entries[key] = (name, ins, labels)
    for mod in config.get("modules", []):
        name = mod["file"]
        with open(os.path.join(ROOT, "kernels", name)) as fh:
            source = fh.read()
        for build in mod["builds"]:
            defines = module_defines(mod["command"], build["args"])
            # Builds may share a label (their entry points differ); their files may not.
            stem = f"{name}@{'_'.join(build['args'])}"
            text = sass_of(nvrtc, ptxas, nvdisasm, stem, defines + source, arch, [], workdir)
            if keep:
                with open(os.path.join(workdir, stem + ".sass"), "w") as fh:
                    fh.write(text)
            for entry, (ins, labels) in parse_sass(text).items():
                entries[f"{entry}@{build['label']}"] = (name, ins, labels)
    return entries


def module_defines(command, args):
    """The defines printed by `command` (a path from the repository root) for `args`."""
    exe = os.path.join(ROOT, command)
    if not os.path.exists(exe):
        raise FileNotFoundError(f"no {command} (it prints a per-row-count module's defines): "
                                "cargo test --release (or cargo build --release --examples) builds it")
    run = subprocess.run([exe, *args], capture_output=True, text=True)
    if run.returncode != 0:
        raise RuntimeError(f"{command} {' '.join(args)} failed:\n{run.stderr}")
    return run.stdout


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--budget", default=os.path.join(ROOT, "scripts", "sass_budget.json"))
    ap.add_argument("--arch", default="sm_90")
    ap.add_argument("--d", type=float, default=1e8)
    ap.add_argument("--update-budget", action="store_true",
                    help="rewrite the budgets as today's counts plus headroom (after checking why they grew)")
    ap.add_argument("--json", help="write every entry's counts and the predictions here")
    ap.add_argument("--keep", help="keep the PTX, cubins and SASS in this folder")
    args = ap.parse_args(argv)

    with open(args.budget) as fh:
        config = json.load(fh)
    try:
        entries = compile_all(config, args.arch, args.keep)
    except (FileNotFoundError, RuntimeError, OSError) as e:
        print(f"sass_budget: {e}", file=sys.stderr)
        return 2

    models = config.get("entries", {})
    counted = {}
    for key in sorted(entries):
        name, ins, labels = entries[key]
        model = models.get(key.split("@")[0], {})
        counts, where = count_entry(ins, labels, model)
        counted[key] = {"file": name, "counts": counts, "where": where}

    # Per entry point: counts per coordinate (outer + one row of each row loop).
    cols = PIPES + ["issue"]
    print(f"SASS for {args.arch}, instructions per coordinate (row loops: per row; see scripts/sass_budget.py)")
    print("| entry point | " + " | ".join(cols) + " | budget |")
    print("|---|" + "---:|" * len(cols) + "---|")
    budgets = config.setdefault("budgets", {})
    problems = []
    headroom = config.get("headroom", {"factor": 1.05, "plus": 2})
    for key, rec in counted.items():
        c = rec["counts"]
        unit = {p: round(c["outer"][p] + c["inner"][p], 2) for p in cols}
        rec["per_unit"] = unit
        status = "ok"
        if args.update_budget:
            budgets[key] = {p: math.ceil(v * headroom["factor"] + headroom["plus"]) for p, v in unit.items() if v > 0}
        b = budgets.get(key)
        if b is None:
            status = "NO BUDGET"
            problems.append(f"{key}: no budget in {os.path.relpath(args.budget, ROOT)}")
        else:
            over = over_budget(unit, b)
            if over:
                status = "OVER: " + ", ".join(over)
                problems.append(f"{key}: over budget: {', '.join(over)}")
        print(f"| {key} | " + " | ".join(f"{unit[p]:g}" for p in cols) + f" | {status} |")
    for key in sorted(set(budgets) - set(counted)):
        print(f"note: budget for {key}, which no kernel defines any more (remove it with --update-budget)")
        if args.update_budget:
            del budgets[key]

    # Predicted shares of the read pass beside the measured ones.
    card = config["card"]
    print()
    print(f"Predicted share of the read pass, {card['name']} model (d = {args.d:g}); measured: {config.get('measured_source', '')}")
    print("| primitive | variant | n | entry | limit | predicted | measured | measured / predicted |")
    print("|---|---|---:|---|---|---:|---:|---:|")
    predictions = []
    for prim in config.get("primitives", []):
        for n in config.get("n", [16, 32, 64]):
            entry = prim["entry"].format(n=n)
            if entry not in counted:
                problems.append(f"{prim['primitive']} ({prim.get('variant', 'default')}): no entry point {entry}")
                continue
            seconds, read_pass, limit = predict(counted[entry]["counts"], prim, card, n, args.d)
            share = read_pass / seconds
            measured = prim.get("measured_share", {}).get(str(n))
            ratio = f"{measured / share:.2f}" if measured else ""
            predictions.append({"primitive": prim["primitive"], "variant": prim.get("variant", "default"), "n": n,
                                "d": args.d, "entry": entry, "limit": limit, "predicted_share": share,
                                "measured_share": measured})
            print(f"| {prim['primitive']} | {prim.get('variant', 'default')} | {n} | {entry} | {limit} | "
                  f"{100 * share:.0f}% | {'' if measured is None else f'{100 * measured:.1f}%'} | {ratio} |")

    if args.update_budget:
        with open(args.budget, "w") as fh:
            json.dump(config, fh, indent=1)
            fh.write("\n")
        print(f"\nwrote the budgets to {args.budget}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"arch": args.arch, "entries": counted, "predictions": predictions}, fh, indent=1)
    if problems and not args.update_budget:
        print("\nsass_budget: FAILED\n  " + "\n  ".join(problems), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
