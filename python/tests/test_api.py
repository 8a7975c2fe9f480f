"""Errors, threads, devices, verify and the documentation of the public API."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from conftest import batch

import byzagg


@pytest.mark.parametrize(
    ("call", "words"),
    [
        (lambda: byzagg.aggregate(batch(7, 3), "krum(f=5)", backend="cpu"), "f = 5"),
        (lambda: byzagg.aggregate(batch(7, 3), "krum(q=2)", backend="cpu"), "q"),
        (lambda: byzagg.aggregate(batch(7, 3), "cwtm", backend="cpu"), "lambda"),
        (lambda: byzagg.aggregate(batch(7, 3), "cwmed", backend="tpu"), "backend"),
        (lambda: byzagg.aggregate(batch(7, 3), "cwmed", f=-1, backend="cpu"), "f = -1"),
        (lambda: byzagg.aggregate(batch(7, 3), "cwtm", lam=0.5, backend="cpu"), "lam = 0.5"),
        (lambda: byzagg.aggregate(batch(7, 3), "cwtm", f=1, lam=0.1, backend="cpu"), "not both"),
        (lambda: byzagg.aggregate(batch(7, 3), weights=[1, 2], backend="cpu"), "weights"),
        (lambda: byzagg.aggregate(batch(3, 3), weights=[1, -1, 1], backend="cpu"), "weights[1]"),
        (lambda: byzagg.aggregate(batch(3, 3), weights=[0, 0, 0], backend="cpu"), "all zero"),
        (lambda: byzagg.aggregate(batch(3, 3), weights=[1, np.nan, 1], backend="cpu"), "finite"),
        (lambda: byzagg.aggregate(np.zeros((0, 3), np.float32), backend="cpu"), "n = 0"),
        (lambda: byzagg.aggregate(np.zeros((3, 0), np.float32), backend="cpu"), "d = 0"),
        (lambda: byzagg.aggregate(np.zeros(3, np.float32), backend="cpu"), "2-D"),
        (lambda: byzagg.aggregate([], backend="cpu"), "n = 0"),
        (lambda: byzagg.aggregate([np.zeros(3), np.zeros(4)], backend="cpu"), "row 1"),
        (lambda: byzagg.aggregate([[np.zeros(3)], [np.zeros(4)]], backend="cpu"), "layer 0"),
        (lambda: byzagg.aggregate([[np.zeros(3)], [np.zeros(3)] * 2], backend="cpu"), "layers"),
        (lambda: byzagg.aggregate(batch(3, 3), out=np.zeros(4, np.float32), backend="cpu"), "out"),
        (lambda: byzagg.aggregate(batch(3, 3), out=np.zeros(3), backend="cpu"), "float32"),
    ],
)
def test_bad_input_is_a_value_error_naming_the_parameter(call, words):
    with pytest.raises(ValueError, match=None) as err:
        call()
    assert words in str(err.value), str(err.value)


def test_non_numeric_dtype_is_a_type_error():
    with pytest.raises(TypeError, match="dtype"):
        byzagg.aggregate(np.array([["a", "b"], ["c", "d"]]), backend="cpu")


def test_strict_mode_raises_non_finite_error():
    x = batch(5, 8)
    x[3, 2] = np.inf
    with pytest.raises(byzagg.NonFiniteError, match="row 3") as err:
        byzagg.aggregate(x, "cwmed", backend="cpu", strict=True)
    assert isinstance(err.value, ValueError)
    assert np.isfinite(byzagg.aggregate(x, "cwmed", backend="cpu")).all()


def test_an_unavailable_backend_raises_backend_unavailable():
    absent = [d for d in byzagg.devices() if not d["available"]]
    if not absent:
        pytest.skip("every backend is available on this machine")
    with pytest.raises(byzagg.BackendUnavailable, match=absent[0]["backend"]) as err:
        byzagg.Aggregator("cwmed", backend=absent[0]["backend"])
    assert isinstance(err.value, RuntimeError)


def test_two_threads_aggregate_at_once_and_agree():
    agg = byzagg.Aggregator("gm", backend="reference")  # slow: long enough to overlap
    xs = [batch(16, 20000, seed=s) for s in (1, 2)]
    alone = [agg.aggregate(x) for x in xs]
    results: list[np.ndarray | None] = [None, None]
    spans: list[tuple[float, float]] = [(0.0, 0.0), (0.0, 0.0)]

    def work(i: int) -> None:
        start = time.perf_counter()
        results[i] = agg.aggregate(xs[i])
        spans[i] = (start, time.perf_counter())

    threads = [threading.Thread(target=work, args=(i,)) for i in (0, 1)]
    for t in threads:
        t.start()
    ticks = []  # the main thread runs Python while both work: the GIL is free
    while any(t.is_alive() for t in threads):
        ticks.append(time.perf_counter())
        time.sleep(0.001)
    for t in threads:
        t.join()
    for got, want in zip(results, alone):
        np.testing.assert_array_equal(got, want)
    (a0, a1), (b0, b1) = spans
    overlap = (max(a0, b0), min(a1, b1))
    assert overlap[1] - overlap[0] > 0.5 * min(a1 - a0, b1 - b0), f"calls did not overlap: {spans}"
    inside = [t for t in ticks if overlap[0] < t < overlap[1]]
    assert len(inside) >= 5, "the main thread could not run while both calls were in Rust"


def test_devices_lists_every_backend():
    found = {d["backend"]: d for d in byzagg.devices()}
    assert set(found) == {"reference", "cpu", "wgpu", "cuda"}
    assert found["cpu"]["available"] and found["cpu"]["reason"] is None
    for d in found.values():
        assert isinstance(d["details"], list)
        assert d["available"] or d["reason"]


def test_verify_reports_every_rule_on_the_cpu():
    results = byzagg.verify("cpu")
    assert len(results) >= 9
    for r in results:
        assert r["backend"] == "cpu" and r["cases"] > 0
        assert r["passed"], r["failures"][:3]


def test_verify_reports_unavailable_backends_without_raising():
    for r in byzagg.verify("all"):
        if r["rule"] is None:
            assert r["passed"] is None and r["reason"]


def test_help_and_docstrings():
    for obj in (
        byzagg,
        byzagg.aggregate,
        byzagg.Aggregator,
        byzagg.Aggregator.aggregate,
        byzagg.devices,
        byzagg.verify,
        byzagg.NonFiniteError,
        byzagg.BackendUnavailable,
    ):
        assert obj.__doc__ and len(obj.__doc__) > 40, obj
    agg = byzagg.Aggregator("krum(f=1)", backend="cpu")
    assert (agg.rule, agg.backend) == ("krum(f=1)", "cpu")
    assert "krum" in repr(agg)


def test_auto_runs_host_arrays_on_the_cpu_and_prints_nothing(capfd):
    # A numpy array lives in host memory: auto reads it in place on the CPU, probes no driver
    # (no Vulkan instance, so no Mesa lines) and writes nothing to stderr.
    out = byzagg.aggregate(batch(5, 3), "cwmed")
    assert out.shape == (3,)
    assert byzagg.Aggregator("cwmed").backend == "cpu"
    captured = capfd.readouterr()
    assert captured.err == "", captured.err
