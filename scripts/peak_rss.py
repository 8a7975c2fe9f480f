#!/usr/bin/env python3
"""Peak resident memory of `byzagg aggregate`, rule by rule, at a size where n x d dominates.

    scripts/peak_rss.py [--n 16] [--d 2000000] [--bin target/release/byzagg] [--out FILE.md]

Writes one (n, d) float32 batch (and a root update for fltrust) to a temporary folder, runs
`byzagg aggregate --backend cpu --f F` once per rule, and reads each process's peak resident
set size from getrusage (the kernel's ru_maxrss of the child, the figure `/usr/bin/time -v`
prints). The CLI reads the whole batch into memory, so a rule's own working memory is the
peak less the batch (n d 4 bytes) and less the process's baseline (the same command on a 1 x 1
batch); the table gives it in d-vectors (d 4 bytes each) and as a share of the batch.
Memory does not depend on the machine's load, so one run per rule suffices.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np

# Nested rules whose memory differs from their parts' (a pre-aggregator over a distance rule, a
# centre that is itself a rule), measured beside the conformance suite's rules.
NESTED = [
    "nnm(krum)",
    "bucketing(krum(f=1),s=2)",
    "cclip(cwmed,tau=1,iters=3)",
]


def suite_rules(binary: str) -> list[str]:
    """The conformance suite's rules (`byzagg verify --list-rules`), so a new rule is measured
    as soon as the suite has it."""
    out = subprocess.run(
        [binary, "verify", "--list-rules"], check=True, capture_output=True, text=True
    )
    return [line for line in out.stdout.splitlines() if line.strip()]


def peak_rss_bytes(cmd: list[str]) -> int:
    """Runs cmd to completion and returns its peak RSS in bytes (Linux reports KiB)."""
    pid = os.fork()
    if pid == 0:
        os.close(1)
        os.open(os.devnull, os.O_WRONLY)
        try:
            os.execv(cmd[0], cmd)
        finally:
            os._exit(127)
    _, status, usage = os.wait4(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"failed ({status}): {' '.join(cmd)}")
    return usage.ru_maxrss * 1024


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=16)
    p.add_argument("--d", type=float, default=2e6)
    p.add_argument("--f", type=int, default=3)
    p.add_argument("--bin", default="target/release/byzagg")
    p.add_argument("--out", help="write the Markdown table here too")
    a = p.parse_args()
    n, d = a.n, int(a.d)
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        rows = os.path.join(tmp, "rows.npy")
        root = os.path.join(tmp, "root.npy")
        tiny = os.path.join(tmp, "tiny.npy")
        out = os.path.join(tmp, "out.npy")
        np.save(rows, rng.standard_normal((n, d), dtype=np.float32))
        np.save(root, rng.standard_normal(d, dtype=np.float32))
        np.save(tiny, np.ones((1, 1), dtype=np.float32))
        base = [a.bin, "aggregate", "--backend", "cpu", "-o", out]
        baseline = peak_rss_bytes([*base, "--rule", "mean", tiny])
        batch = n * d * 4
        lines = [
            f"Peak RSS of `byzagg aggregate --backend cpu --f {a.f}` on a {n} x {d} float32 "
            f"batch ({batch / 2**20:.0f} MiB); process baseline (1 x 1 batch) "
            f"{baseline / 2**20:.1f} MiB.",
            "",
            "| rule | peak RSS (MiB) | beyond batch + baseline (MiB) | in d-vectors "
            "| share of the batch |",
            "|---|---:|---:|---:|---:|",
        ]
        for rule in [*suite_rules(a.bin), *NESTED]:
            cmd = [*base, "--rule", rule, "--f", str(a.f), rows]
            if rule == "fltrust":
                cmd += ["--root", root]
            peak = peak_rss_bytes(cmd)
            extra = peak - batch - baseline
            lines.append(
                f"| `{rule}` | {peak / 2**20:.0f} | {extra / 2**20:.0f} | {extra / (4 * d):.1f} "
                f"| {extra / batch:.2f} |"
            )
            print(lines[-1], flush=True)
        # FLTrust's cosines come from distances to the root rescaled per norm group (factors
        # of 4); rows spread over more groups than it serves that way take the unit-row route.
        spread = os.path.join(tmp, "spread.npy")
        x = rng.standard_normal((n, d), dtype=np.float32)
        x *= (4.0 ** np.arange(n, dtype=np.float32))[:, None] / 4.0 ** (n // 2)
        np.save(spread, x)
        del x
        cmd = [*base, "--rule", "fltrust", "--root", root, spread]
        peak = peak_rss_bytes(cmd)
        extra = peak - batch - baseline
        lines.append(
            f"| `fltrust`, row norms 4^i apart ({n} norm groups) | {peak / 2**20:.0f} "
            f"| {extra / 2**20:.0f} | {extra / (4 * d):.1f} | {extra / batch:.2f} |"
        )
        print(lines[-1], flush=True)
        text = "\n".join(lines) + "\n"
        print(text)
        if a.out:
            with open(a.out, "w") as fh:
                fh.write(text)


if __name__ == "__main__":
    main()
