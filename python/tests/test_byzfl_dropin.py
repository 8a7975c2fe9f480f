"""byzagg.byzfl against ByzFL itself: same classes, same calls, same inputs, equal outputs.

Every class runs on the same inputs in each form ByzFL takes (a float64 array, a list of
float32 arrays, a tensor, a list of tensors) and must return the type, dtype and device ByzFL
returns, with values equal to float32 rounding. Bucketing matches under the same seed; SMEA
(ByzFL's eigenvalue is a random estimate) matches the exact search computed here. Skips with a
printed reason where ByzFL is absent, unless BYZAGG_REQUIRE names ``byzfl``.
"""

from __future__ import annotations

import itertools
from typing import Any, Callable

import numpy as np
import pytest
from conftest import skip_or_fail

import byzagg.byzfl as dropin

N, D, F = 11, 40, 2


def _byzfl() -> Any:
    try:
        import byzfl
    except ImportError:
        skip_or_fail("byzfl", "ByzFL is not installed (pip install byzfl; it needs torch)")
    return byzfl


def _batch(n: int = N, d: int = D, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, d))
    x[0] *= 50
    x[1] = -30
    return x


def _forms(x: np.ndarray) -> list[tuple[str, Callable[[], Any]]]:
    """The input forms, each made fresh per call (ByzFL's clipping writes into its input)."""
    import torch

    return [
        ("float64 array", lambda: x.copy()),
        ("list of float32 arrays", lambda: list(x.astype(np.float32))),
        ("tensor", lambda: torch.tensor(x)),
        ("list of tensors", lambda: list(torch.tensor(x, dtype=torch.float32))),
    ]


def _assert_same(got: Any, want: Any, what: str) -> None:
    import torch

    assert type(got) is type(want), f"{what}: {type(got)} against ByzFL's {type(want)}"
    if isinstance(want, torch.Tensor):
        assert got.dtype == want.dtype and got.device == want.device, what
        assert got.shape == want.shape, what
        got, want = got.cpu().numpy(), want.cpu().numpy()
    assert got.dtype == want.dtype, f"{what}: dtype {got.dtype} against {want.dtype}"
    assert got.shape == want.shape, f"{what}: shape {got.shape} against {want.shape}"
    scale = np.max(np.abs(want)) + 1.0
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-6 * scale, err_msg=what)


# (name, how to make the ByzFL-named object from a module); deterministic in ByzFL.
CASES: list[tuple[str, Callable[[Any], Any]]] = [
    ("Average", lambda m: m.Average()),
    ("Median", lambda m: m.Median()),
    ("TrMean", lambda m: m.TrMean(f=F)),
    ("TrMean(f=0)", lambda m: m.TrMean()),
    ("GeometricMedian", lambda m: m.GeometricMedian()),
    ("GeometricMedian(nu,T)", lambda m: m.GeometricMedian(nu=0.5, T=7)),
    ("Krum", lambda m: m.Krum(f=F)),
    ("MultiKrum", lambda m: m.MultiKrum(f=F)),
    ("CenteredClipping", lambda m: m.CenteredClipping(L=3, tau=4.0)),
    ("MDA", lambda m: m.MDA(f=F)),
    ("MoNNA", lambda m: m.MoNNA(f=F, idx=3)),
    ("Meamed", lambda m: m.Meamed(f=F)),
    ("NNM", lambda m: m.NNM(f=F)),
    ("Clipping", lambda m: m.Clipping(c=2.0)),
    ("ARC", lambda m: m.ARC(f=F)),
    ("ARC(f=0)", lambda m: m.ARC()),
]


@pytest.mark.parametrize("name,make", CASES, ids=[c for c, _ in CASES])
def test_dropin_equals_byzfl_in_every_input_form(name: str, make: Callable[[Any], Any]) -> None:
    b = _byzfl()
    x = _batch()
    for form, fresh in _forms(x):
        _assert_same(make(dropin)(fresh()), make(b)(fresh()), f"{name} on a {form}")


def test_chains_of_pre_aggregators_and_aggregators_equal_byzfl() -> None:
    b = _byzfl()
    x = _batch(seed=3)
    for form, fresh in _forms(x):
        for chain in (
            lambda m, fresh=fresh: m.Krum(f=F)(m.NNM(f=F)(fresh())),
            lambda m, fresh=fresh: m.Median()(m.ARC(f=F)(fresh())),
            lambda m, fresh=fresh: m.Average()(m.Clipping(c=2.0)(fresh())),
        ):
            _assert_same(chain(dropin), chain(b), f"chain on a {form}")


def test_centered_clipping_keeps_byzfls_state_across_calls() -> None:
    b = _byzfl()
    ours, theirs = dropin.CenteredClipping(L=2, tau=1.0), b.CenteredClipping(L=2, tau=1.0)
    for seed in range(3):
        x = _batch(seed=seed) + 5.0
        _assert_same(ours(x), theirs(x.copy()), f"call {seed}")


def test_bucketing_draws_byzfls_permutation() -> None:
    b = _byzfl()
    import torch

    x = _batch()
    for s in (1, 3, 4):
        np.random.seed(7)
        want = b.Bucketing(s=s)(x.copy())
        np.random.seed(7)
        _assert_same(dropin.Bucketing(s=s)(x.copy()), want, f"numpy, s = {s}")
        torch.manual_seed(7)
        want = b.Bucketing(s=s)(torch.tensor(x))
        torch.manual_seed(7)
        _assert_same(dropin.Bucketing(s=s)(torch.tensor(x)), want, f"torch, s = {s}")
    # A different draw gives different buckets: the check above can fail.
    np.random.seed(8)
    other = dropin.Bucketing(s=3)(x.copy())
    np.random.seed(7)
    assert not np.allclose(other, dropin.Bucketing(s=3)(x.copy()))


def test_smea_is_byzfls_search_with_the_exact_eigenvalue() -> None:
    # ByzFL scores each subset by one power step from a random vector; the exact top
    # eigenvalue of the subset's covariance (numpy here) is what the estimate approximates.
    b = _byzfl()
    x = _batch(n=8, d=6, seed=5)
    best = min(
        itertools.combinations(range(8), 8 - F),
        key=lambda s: np.linalg.eigvalsh(np.cov(x[list(s)].T, bias=True))[-1],
    )
    want = x[list(best)].mean(axis=0)
    got = dropin.SMEA(f=F)(x)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-6 * (np.abs(want).max() + 1))
    assert isinstance(b.SMEA(f=F)(x), np.ndarray)  # the same call convention in ByzFL


def _caf_exact(x: np.ndarray, f: int) -> np.ndarray:
    """ByzFL's CAF loop with the exact top eigenpair (numpy) instead of its random power step;
    tau's maximum runs over every row, those already at c = 0 included, as in ByzFL."""
    n = len(x)
    c = np.ones(n)
    best, best_val = None, np.inf
    while c.sum() > n - 2 * f:
        mu = (c[:, None] * x).sum(axis=0) / c.sum()
        diffs = x - mu
        vals, vecs = np.linalg.eigh((c[:, None] * diffs).T @ diffs / c.sum())
        if vals[-1] < best_val:
            best, best_val = mu, vals[-1]
        tau = (diffs @ vecs[:, -1]) ** 2
        c = c * (1 - tau / tau.max())
    return best


def test_caf_is_byzfls_loop_with_the_exact_eigenpair() -> None:
    b = _byzfl()
    import torch

    x = _batch(n=9, d=6, seed=4)
    want = _caf_exact(x, F)
    got = dropin.CAF(f=F)(x)
    assert type(got) is type(b.CAF(f=F)(x)) and got.dtype == np.float64
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-6 * (np.abs(want).max() + 1))
    on_torch = dropin.CAF(f=F)(torch.tensor(x))
    assert on_torch.dtype == torch.float32 and on_torch.shape == (6,)
    np.testing.assert_allclose(on_torch.numpy(), want, rtol=0, atol=1e-5 * np.abs(want).max())


def test_bad_arguments_fail_as_in_byzfl() -> None:
    b = _byzfl()
    x = _batch()
    for m in (dropin, b):
        with pytest.raises(ValueError, match="f must be a non-negative integer"):
            m.Krum(f=-1)
        with pytest.raises(ValueError, match="2f"):
            m.Krum(f=6)(x)
        with pytest.raises(TypeError, match="vectors"):
            m.Median()("rows")


def test_patch_runs_byzfls_robust_aggregator_on_byzagg(monkeypatch: pytest.MonkeyPatch) -> None:
    b = _byzfl()
    from byzfl.aggregators import aggregators, preaggregators

    x = _batch()
    config = ({"name": "Krum", "parameters": {"f": F}}, [{"name": "NNM", "parameters": {"f": F}}])
    want = b.RobustAggregator(*config).aggregate_vectors(x.copy())
    for module in (b, b.aggregators, aggregators, preaggregators):
        for name in dir(dropin):
            if hasattr(module, name) and name in dropin.__all__:
                monkeypatch.setattr(module, name, getattr(module, name))  # restored after
    dropin.patch()
    robust = b.RobustAggregator(*config)
    assert isinstance(robust.aggregator, dropin.Krum)
    assert isinstance(robust.pre_agg_list[0], dropin.NNM)
    _assert_same(robust.aggregate_vectors(x.copy()), want, "RobustAggregator")
