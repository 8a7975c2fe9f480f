"""Shared helpers: optional parts skip with a printed reason unless BYZAGG_REQUIRE names them."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]


def required(part: str) -> bool:
    """Whether BYZAGG_REQUIRE (comma-separated) names ``part``: then it must not skip."""
    names = {p.strip() for p in os.environ.get("BYZAGG_REQUIRE", "").split(",")}
    return part in names


def skip_or_fail(part: str, reason: str) -> None:
    """Skips with ``reason`` (printed in pytest's summary), or fails if ``part`` is required."""
    if required(part):
        pytest.fail(f"{part} is required by BYZAGG_REQUIRE but {reason}")
    print(f"skipping: {reason}")
    pytest.skip(reason)


def cli() -> str:
    """The byzagg CLI: $BYZAGG_CLI, else target/release/byzagg, else `byzagg` on PATH."""
    for candidate in (os.environ.get("BYZAGG_CLI"), REPO / "target/release/byzagg"):
        if candidate and Path(candidate).is_file():
            return str(candidate)
    found = shutil.which("byzagg")
    if found is None:
        skip_or_fail(
            "cli", "no byzagg CLI (build it with `cargo build --release` or set BYZAGG_CLI)"
        )
    return found


def batch(n: int, d: int, seed: int = 0) -> np.ndarray:
    """A reproducible (n, d) float32 batch, C-contiguous."""
    return np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)
