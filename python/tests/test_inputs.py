"""The three input forms agree, float32 C-contiguous input is read in place, and `out` works."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import textwrap
import tracemalloc

import numpy as np
import pytest
from conftest import batch

import byzagg

RULES = ["mean", "cwmed", "cwtm(f=1)", "krum(f=1)", "gm", "ctma(cwmed,f=1)", "nnm(gm,f=1)"]


@pytest.mark.parametrize("rule", RULES)
def test_matrix_rows_and_layers_give_identical_results(rule):
    x = batch(7, 2 * 3 + 5 + 4, seed=11)
    x[3] = np.nan
    w = [1, 2, 1, 3, 1, 1, 2]
    matrix = byzagg.aggregate(x, rule, weights=w, backend="cpu")
    rows = byzagg.aggregate(list(x), rule, weights=w, backend="cpu")
    layered = [[r[:6].reshape(2, 3), r[6:11], r[11:].reshape(2, 2)] for r in x]
    layers = byzagg.aggregate(layered, rule, weights=w, backend="cpu")
    np.testing.assert_array_equal(rows, matrix)
    assert [a.shape for a in layers] == [(2, 3), (5,), (2, 2)]
    assert all(a.dtype == np.float32 for a in layers)
    np.testing.assert_array_equal(np.concatenate([a.ravel() for a in layers]), matrix)


def test_layers_as_dicts_come_back_as_dicts():
    clients = [
        {"w": np.full((2, 2), i, np.float32), "b": np.full(3, -i, np.float32)} for i in range(5)
    ]
    out = byzagg.aggregate(clients, "cwmed", backend="cpu")
    assert list(out) == ["w", "b"]
    np.testing.assert_array_equal(out["w"], np.full((2, 2), 2.0))
    np.testing.assert_array_equal(out["b"], np.full(3, -2.0))


ZERO_DIM_DTYPES = [
    "float16",
    "float32",
    "float64",
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint64",
    "bool",
]


@pytest.mark.parametrize("dtype", ZERO_DIM_DTYPES)
@pytest.mark.parametrize("rule", ["cwmed", "krum(f=1)"])
def test_zero_dim_layers_keep_shape_for_every_dtype(dtype, rule):
    # A 0-dim layer (a BatchNorm's num_batches_tracked, int64) must come back with shape (),
    # not (1,), or the aggregate would not load back into the model; in place (cwmed, layer
    # by layer) and stacked (krum) alike, with its value aggregated with the others.
    clients = [
        {"w": np.full((2, 2), v, np.float32), "steps": np.array(v, dtype=dtype)}
        for v in (1, 0, 1, 1, 0)
    ]
    out = byzagg.aggregate(clients, rule, backend="cpu")
    assert out["w"].shape == (2, 2)
    assert out["steps"].shape == ()
    assert out["steps"] == 1
    flat = byzagg.aggregate([[c["steps"]] for c in clients], rule, backend="cpu")
    assert [a.shape for a in flat] == [()]


def test_a_scalar_weight_is_not_taken_for_one_weight_per_row():
    with pytest.raises(ValueError, match="weights"):
        byzagg.aggregate(batch(3, 4), "cwmed", weights=2.0, backend="cpu")


def test_float64_and_non_contiguous_input_are_converted_once():
    x = batch(9, 100, seed=1)
    expected = byzagg.aggregate(x, "cwmed", backend="cpu")
    np.testing.assert_array_equal(
        byzagg.aggregate(x.astype(np.float64), "cwmed", backend="cpu"), expected
    )
    np.testing.assert_array_equal(
        byzagg.aggregate(np.asfortranarray(x), "cwmed", backend="cpu"), expected
    )
    wide = np.zeros((9, 200), np.float32)
    wide[:, ::2] = x
    np.testing.assert_array_equal(byzagg.aggregate(wide[:, ::2], "cwmed", backend="cpu"), expected)


def test_float64_beyond_float32_range_is_byzantine_input_not_an_error():
    x = batch(5, 10).astype(np.float64)
    x[0] = 1e300
    assert np.isfinite(byzagg.aggregate(x, "cwmed", backend="cpu")).all()


def test_out_receives_the_result():
    x = batch(5, 64)
    out = np.full(64, np.nan, np.float32)
    result = byzagg.aggregate(x, "cwmed", backend="cpu", out=out)
    assert result is out
    np.testing.assert_array_equal(out, np.median(x, axis=0))


def test_float32_c_contiguous_input_makes_no_python_allocation():
    # numpy reports its buffers to tracemalloc: a converted copy of x would show as ~4 MB.
    x = batch(16, 65536)
    agg = byzagg.Aggregator("cwmed", backend="cpu")
    out = np.empty(65536, np.float32)
    agg.aggregate(x, out=out)
    tracemalloc.start()
    agg.aggregate(x, out=out)
    _, peak = tracemalloc.get_traced_memory()
    agg.aggregate(x.astype(np.float64), out=out)
    _, peak_converted = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 64 * 1024, f"{peak} bytes allocated for a float32 C-contiguous batch"
    assert peak_converted >= x.nbytes, "the float64 batch was not converted: the check is blind"


PEAK_MEMORY = textwrap.dedent(
    """
    import resource, sys
    import numpy as np, byzagg

    def peak_kib():
        # This process's own high-water mark. ru_maxrss is not: Linux carries it across
        # fork and exec, so a child of a large parent (pytest with torch loaded) starts at
        # the parent's size and a 256 MB growth can hide under it.
        try:
            with open("/proc/self/status") as status:
                for line in status:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1])
        except OSError:
            pass
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    n, d = 16, 4_000_000
    x = np.ones((n, d), dtype=sys.argv[1])  # 256 MB as float32, written so it is resident
    agg = byzagg.Aggregator("cwmed", backend="cpu")
    agg.aggregate(x[:, :1000])  # load the library, start the thread pool
    before = peak_kib()
    agg.aggregate(x)
    after = peak_kib()
    print((after - before) * 1024)
    """
)


def peak_growth(dtype: str) -> int:
    """How much a cwmed of a 16 x 4e6 batch raised the process's peak memory, in bytes."""
    # Run outside the source tree: `python -c` puts the working directory first on sys.path,
    # and python/byzagg there has no compiled module (the installed package has).
    run = subprocess.run(
        [sys.executable, "-c", PEAK_MEMORY, dtype],
        capture_output=True,
        text=True,
        check=True,
        cwd=tempfile.gettempdir(),
    )
    return int(run.stdout.split()[-1])


def test_float32_c_contiguous_input_is_read_in_place():
    # Counts every allocation, Rust's included: a copy of the 256 MB batch anywhere between
    # Python and the kernels would raise the peak by 256 MB; the result is 16 MB.
    growth = peak_growth("float32")
    assert growth < 64 * 2**20, (
        f"peak memory grew by {growth / 2**20:.0f} MiB: the batch was copied"
    )
    # The same measurement sees the one conversion of a float64 batch (256 MB of float32).
    converted = peak_growth("float64")
    assert converted > 200 * 2**20, f"float64 conversion raised the peak by only {converted} bytes"
