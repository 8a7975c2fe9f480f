#!/usr/bin/env python3
"""Runs two byzagg binaries on the same grid of rules, shapes and poisons and checks that their
outputs are byte-identical (the .npy each writes, its exit status and its stderr).

    python3 scripts/compare_binaries.py OLD_BINARY NEW_BINARY [--backend cpu] [--backend reference]

For a refactor that must not change results: build the old commit's binary, copy it aside,
build the new one, run this. Needs only the Python standard library.
"""
import argparse
import os
import struct
import subprocess
import sys
import tempfile

RULES = [
    "mean", "cwmed", "cwtm(lambda=0.2)", "meamed(lambda=0.2)", "krum(f=1)",
    "multikrum(f=1,m=3)", "multikrum(f=1)", "bulyan(lambda=0.1)", "gm", "gm(preset=rfa)",
    "ctma(cwmed,lambda=0.2)", "ctma(krum(f=1),lambda=0.2)", "ctma(gm,lambda=0.2)",
    "nnm(cwmed,lambda=0.2)", "nnm(gm,lambda=0.2)", "bucketing(cwmed,s=2,seed=3)",
    "bucketing(krum(f=1),s=2,seed=0)", "cclip(tau=1,iters=3)", "cclip(cwmed,tau=0.5,iters=2)",
    "clip(mean,tau=2)", "clip(cwtm(lambda=0.2),tau=1)", "arc(mean,lambda=0.2)",
    "arc(krum(f=1),lambda=0.2)", "cge(lambda=0.2)", "monna(lambda=0.2)", "mda(lambda=0.2)",
    "smea(lambda=0.2)", "caf(lambda=0.2)", "fltrust",
]
SHAPES = [(5, 3), (11, 37), (24, 300)]
POISONS = ["none", "nan", "inf", "huge"]


def lcg(seed):
    x = seed
    while True:
        x = (x * 6364136223846793005 + 1442695040888963407) % 2**64
        yield ((x >> 11) / 2**53) * 2.0 - 1.0


def write_npy(path, values, shape):
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (%s), }" % (
        ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else ""))
    header += " " * ((64 - (10 + len(header) + 1) % 64) % 64) + "\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode())
        f.write(struct.pack("<%df" % len(values), *values))


def inputs(tmp, n, d, poison, seed):
    g = lcg(seed)
    rows = [next(g) for _ in range(n * d)]
    bad = {"none": None, "nan": float("nan"), "inf": float("inf"), "huge": 3e38}[poison]
    if bad is not None:
        for i in range(n * d):
            if (i // d) % 4 == 1 and i % 3 == 0:
                rows[i] = bad if i % 2 == 0 else -bad if poison != "nan" else bad
    weights = [1.0 + (i % 3) for i in range(n)]
    root = [next(g) for _ in range(d)]
    paths = {k: os.path.join(tmp, f"{k}-{n}-{d}-{poison}.npy") for k in ("rows", "w", "root")}
    write_npy(paths["rows"], rows, (n, d))
    write_npy(paths["w"], weights, (n,))
    write_npy(paths["root"], root, (d,))
    return paths


def run(binary, args, out):
    p = subprocess.run([binary, "aggregate", *args, "-o", out], capture_output=True)
    data = open(out, "rb").read() if os.path.exists(out) else b""
    if os.path.exists(out):
        os.remove(out)
    return p.returncode, data, p.stderr.replace(os.fsencode(binary), b"BIN")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("--backend", action="append")
    ap.add_argument("--show-errors", action="store_true")
    a = ap.parse_args()
    backends = a.backend or ["cpu", "reference"]
    cases = differ = failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        for seed, (n, d) in enumerate(SHAPES):
            for poison in POISONS:
                p = inputs(tmp, n, d, poison, seed)
                for rule in RULES:
                    for weighted in (False, True):
                        for backend in backends:
                            args = [p["rows"], "--rule", rule, "--backend", backend]
                            if weighted:
                                args += ["--weights", p["w"]]
                            if rule == "fltrust":
                                args += ["--root", p["root"]]
                            out = os.path.join(tmp, "out.npy")
                            old, new = run(a.old, args, out), run(a.new, args, out)
                            cases += 1
                            failed += old[0] != 0
                            if a.show_errors and old[0] != 0:
                                print(f"ERR {rule}: {old[2][:120]!r}")
                            if old != new:
                                differ += 1
                                print(f"DIFFER {backend} {rule} n={n} d={d} {poison} "
                                      f"weighted={weighted}: {old[0]} vs {new[0]}")
    print(f"{cases} runs ({failed} exit non-zero on the old binary), {differ} differ")
    sys.exit(1 if differ else 0)


if __name__ == "__main__":
    main()
