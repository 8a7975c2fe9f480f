"""The rules give what numpy, hand-written formulas and the byzagg CLI give on the same rows."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest
from conftest import batch, cli

import byzagg


@pytest.mark.parametrize("n", [5, 8, 16, 33])
def test_cwmed_equals_numpy_median(n):
    x = batch(n, 1000, seed=n)
    np.testing.assert_array_equal(
        byzagg.aggregate(x, "cwmed", backend="cpu"), np.median(x, axis=0).astype(np.float32)
    )


def test_mean_equals_numpy_mean():
    x = batch(12, 5000)
    np.testing.assert_allclose(
        byzagg.aggregate(x, "mean", backend="cpu"), x.astype(np.float64).mean(axis=0), rtol=1e-5
    )


@pytest.mark.parametrize("f", [0, 1, 3])
def test_cwtm_equals_a_hand_written_trimmed_mean(f):
    x = batch(10, 3000, seed=f)
    s = np.sort(x.astype(np.float64), axis=0)
    expected = s[f : len(s) - f].mean(axis=0)
    out = byzagg.aggregate(x, "cwtm", f=f, backend="cpu")
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)


def test_krum_picks_the_row_of_least_score():
    n, f = 9, 2
    x = batch(n, 200, seed=3)
    x[7] += 5.0  # an outlier
    d2 = ((x[:, None, :].astype(np.float64) - x[None, :, :]) ** 2).sum(-1)
    scores = [np.sort(np.delete(d2[i], i))[: n - f - 2].sum() for i in range(n)]
    agg = byzagg.Aggregator(f"krum(f={f})", backend="cpu")
    np.testing.assert_array_equal(agg.aggregate(x), x[int(np.argmin(scores))])
    step = agg.last_report["steps"][0]
    assert step["step"] == "krum" and step["selected"] == [int(np.argmin(scores))]
    np.testing.assert_allclose(step["scores"], scores, rtol=1e-5)


@pytest.mark.parametrize(
    "rule", ["cwmed", "cwtm(f=2)", "krum(f=2)", "gm", "ctma(cwmed,f=2)", "nnm(cwmed,f=2)"]
)
def test_equals_the_cli(tmp_path, rule):
    exe = cli()
    x = batch(11, 777, seed=5)
    x[4] = np.nan
    w = np.arange(1, 12, dtype=np.float64)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "w.npy", w)
    subprocess.run(
        [
            exe,
            "aggregate",
            "--rule",
            rule,
            "--backend",
            "cpu",
            "--weights",
            tmp_path / "w.npy",
            "-o",
            tmp_path / "out.npy",
            tmp_path / "x.npy",
        ],
        check=True,
        capture_output=True,
    )
    expected = np.load(tmp_path / "out.npy")
    np.testing.assert_array_equal(byzagg.aggregate(x, rule, weights=w, backend="cpu"), expected)


def test_weighted_median_counts_weights_as_multiplicities():
    x = batch(4, 500, seed=9)
    w = [1, 3, 2, 1]
    repeated = np.repeat(x, w, axis=0)
    np.testing.assert_array_equal(
        byzagg.aggregate(x, "cwmed", weights=w, backend="cpu"),
        np.median(repeated, axis=0).astype(np.float32),
    )


def test_a_row_of_weight_zero_takes_no_part():
    x = batch(6, 100, seed=2)
    x[2] = np.nan
    w = [1, 1, 0, 1, 1, 1]
    out = byzagg.aggregate(x, "mean", weights=w, backend="cpu")
    np.testing.assert_allclose(out, np.delete(x, 2, axis=0).mean(axis=0), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "rule",
    [
        "cwmed",
        "cwtm(f=2)",
        "krum(f=2)",
        "gm",
        "ctma(cwmed,f=2)",
        "nnm(krum(f=2),f=2)",
        "cclip(tau=1,iters=3)",
    ],
)
def test_non_finite_rows_within_tolerance_give_a_finite_result(rule):
    x = batch(9, 400, seed=4)
    x[1] = np.nan
    x[6, ::2] = np.inf
    x[6, 1::2] = -3e38
    agg = byzagg.Aggregator(rule, backend="cpu", report_non_finite=True)
    out = agg.aggregate(x)
    assert np.isfinite(out).all()
    report = agg.last_report
    assert report["non_finite_rows"] == [1, 6]
    assert report["tolerance_held"] is True


def test_the_report_says_when_the_tolerance_did_not_hold():
    x = batch(5, 10)
    x[:3] = np.nan
    agg = byzagg.Aggregator("cwmed", backend="cpu", report_non_finite=True)
    agg.aggregate(x)
    assert agg.last_report["non_finite_rows"] == [0, 1, 2]
    assert agg.last_report["tolerance_held"] is False


def test_the_report_of_composed_rules():
    x = batch(8, 300, seed=6)
    agg = byzagg.Aggregator("ctma(gm,f=2)", backend="cpu")
    assert agg.last_report is None
    agg.aggregate(x)
    report = agg.last_report
    assert (report["n"], report["d"], report["rule"]) == (8, 300, "ctma(gm,f=2)")
    gm, ctma = report["steps"]
    assert gm["step"] == "gm" and gm["converged"] and gm["iterations"] >= 1
    assert ctma["step"] == "ctma" and len(ctma["kept"]) == 6 and len(ctma["rejected"]) == 2
    assert report["non_finite_rows"] is None and report["tolerance_held"] is None


def _clipped(x, tau):
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x * np.minimum(1.0, tau / norms)


def test_clip_and_arc_equal_hand_written_clipping():
    x = batch(9, 500, seed=4).astype(np.float64)
    np.testing.assert_allclose(
        byzagg.aggregate(x, "clip(mean,tau=3)", backend="cpu"),
        _clipped(x, 3.0).mean(axis=0),
        rtol=1e-5,
        atol=1e-6,
    )
    # ARC, f = 2 of 9: floor(2 * 2/9 * 7) = 3 rows of largest norm clipped to the 4th largest.
    norms = np.sort(np.linalg.norm(x, axis=1))
    np.testing.assert_allclose(
        byzagg.aggregate(x, "arc(mean)", f=2, backend="cpu"),
        _clipped(x, norms[-4]).mean(axis=0),
        rtol=1e-5,
        atol=1e-6,
    )


def test_fltrust_takes_the_root_update():
    x = batch(8, 300, seed=5).astype(np.float64)
    root = x.mean(axis=0) + 0.1
    cos = x @ root / (np.linalg.norm(x, axis=1) * np.linalg.norm(root))
    trust = np.maximum(cos, 0.0)
    rescaled = x * (np.linalg.norm(root) / np.linalg.norm(x, axis=1))[:, None]
    expected = (trust[:, None] * rescaled).sum(axis=0) / trust.sum()
    out = byzagg.aggregate(x, "fltrust", root=root, backend="cpu")
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)
    # Rows as a sequence of arrays take the root too.
    out = byzagg.aggregate(list(x), "fltrust", root=root, backend="cpu")
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="root"):
        byzagg.aggregate(x, "fltrust", backend="cpu")
    with pytest.raises(ValueError, match="root"):
        byzagg.aggregate(x, "fltrust", root=root[:-1], backend="cpu")


def test_fltrust_root_in_the_clients_layered_form():
    x = batch(6, 40, seed=6)
    root = x.mean(axis=0) + 0.05
    clients = [{"w": r[:30].reshape(5, 6), "b": r[30:]} for r in x]
    layered_root = {"w": root[:30].reshape(5, 6), "b": root[30:]}
    out = byzagg.aggregate(clients, "fltrust", root=layered_root, backend="cpu")
    flat = byzagg.aggregate(x, "fltrust", root=root, backend="cpu")
    np.testing.assert_array_equal(np.concatenate([out["w"].ravel(), out["b"]]), flat)
    with pytest.raises(ValueError, match="root"):
        byzagg.aggregate(clients, "fltrust", root={"w": root[:30]}, backend="cpu")


def test_the_report_of_clipping_and_trust():
    x = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]], dtype=np.float32)
    agg = byzagg.Aggregator("arc(mean,f=1)", backend="cpu")
    agg.aggregate(x)
    step = agg.last_report["steps"][0]
    assert step["step"] == "clip" and step["clipped"] == [2]
    assert step["threshold"] == pytest.approx(77**0.5, rel=1e-6)
    agg = byzagg.Aggregator("fltrust", backend="cpu")
    agg.aggregate(x, root=np.array([1.0, 0.0, 0.0]))
    trust = agg.last_report["steps"][0]["trust"]
    np.testing.assert_allclose(trust, x[:, 0] / np.linalg.norm(x, axis=1), rtol=1e-6)
