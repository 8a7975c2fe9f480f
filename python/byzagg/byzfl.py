"""ByzFL's aggregators and pre-aggregators, computed by byzagg: a drop-in for ByzFL users.

One line changes (the class names, constructor parameters and call convention are ByzFL's)::

    from byzfl import Krum, NNM            # before
    from byzagg.byzfl import Krum, NNM     # after

    agg, pre = Krum(f=2), NNM(f=2)
    result = agg(pre(vectors))

or, to run ByzFL's own framework (``RobustAggregator``, its benchmark) on byzagg unchanged,
``byzagg.byzfl.patch()`` after ``import byzfl``.

Every class takes what ByzFL takes: a 2-D numpy array ``(n, d)``, a list of n 1-D numpy arrays,
a 2-D torch tensor or a list of 1-D tensors, on the CPU or on one CUDA device, and returns the
same type: a numpy array of the input's float dtype (float64 for integer input), or a float32
tensor on the input's device (ByzFL converts tensors with ``.float()``). byzagg computes in
float32 and the numbers agree with ByzFL's to float32 rounding. Host input runs on byzagg's CPU
backend and CUDA tensors in place on their GPU through its CUDA backend (on PyTorch's current
stream); ``backend=`` (keyword) picks another (``"auto"``, ``"wgpu"``, ...) for host input.

Where ByzFL's result is random, byzagg's is not, and they relate as follows:

- ``CAF`` and ``SMEA`` score by the top eigenvalue of a covariance. ByzFL estimates it with one
  power step from a random vector (a value at most the true one, different on each call);
  byzagg computes it exactly. For SMEA the outputs are equal whenever ByzFL's estimate ranks
  the candidate subsets as the exact eigenvalue does, e.g. where the covariances have one
  dominant direction; otherwise byzagg's is the exact search's answer and ByzFL's an
  approximation of it. CAF's rounds are ByzFL's (each scales the weights by
  ``1 - tau_i / max tau``, the maximum over every row, those already filtered out included),
  except that byzagg runs at most ``CAF_MAX_ROUNDS`` = 1000 of them: a filtered row far from
  the rest keeps ``max tau`` huge, and ByzFL's loop then shrinks the weights by tiny steps for
  hours (or forever, once a step rounds to nothing). The report's ``caf`` step says when the
  bound ended the rounds.
- ``Bucketing`` shuffles the rows. The drop-in draws its permutation from the same generator
  with the same call as ByzFL (``np.random.permutation`` for numpy input, ``torch.randperm``
  for tensors), so after ``np.random.seed(k)`` / ``torch.manual_seed(k)`` both return the
  same buckets; the bucket means are byzagg's.

Other differences, all on inputs where ByzFL's answer is arbitrary or broken:

- Ties (equal distances or scores) go to the lowest row index, where ByzFL's ``argpartition``
  may pick either.
- Rows holding NaN or infinities are Byzantine input that byzagg's rules survive within their
  tolerance; ByzFL's results then are often NaN. ``Clipping`` and ``ARC`` make such a row the
  zero vector (byzagg's ``clip``), where ByzFL leaves it as it is.
- ByzFL's ``Clipping`` and ``ARC`` also write the clipped rows into the caller's float array or
  tensor; the drop-ins return new ones and leave the input alone.
- ``CenteredClipping(m=...)`` takes a start vector (ByzFL's check refuses any), and keeps
  ByzFL's state: each call starts from the previous call's output.
- ``NNM`` needs f < n / 2 (byzagg's bound for a Byzantine share), where ByzFL takes f < n.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

import byzagg

__all__ = [
    "ARC",
    "CAF",
    "MDA",
    "NNM",
    "SMEA",
    "Average",
    "Bucketing",
    "CenteredClipping",
    "Clipping",
    "GeometricMedian",
    "Krum",
    "Meamed",
    "Median",
    "MoNNA",
    "MultiKrum",
    "TrMean",
    "patch",
]


class _Vectors:
    """The rows of a call in ByzFL's accepted forms, and how to hand a result back. Lists stay
    lists (each row read in place); a 2-D array or tensor is read whole in place."""

    def __init__(self, vectors: Any):
        torch = sys.modules.get("torch")
        listed = isinstance(vectors, list) and len(vectors) > 0
        first = vectors[0] if listed else None
        self.torch: Any = None
        self.device: Any = None
        if isinstance(vectors, np.ndarray) or isinstance(first, np.ndarray):
            self.kind = "numpy"
            shape = (len(vectors), *first.shape) if listed else vectors.shape
            dtype = first.dtype if listed else vectors.dtype
            self.dtype = dtype if dtype.kind == "f" else np.dtype(np.float64)
            self.rows: Any = vectors
        elif torch is not None and (
            isinstance(vectors, torch.Tensor) or isinstance(first, torch.Tensor)
        ):
            self.kind, self.torch = "torch", torch
            if listed:
                self.rows = [t.detach().reshape(-1).float() for t in vectors]
                shape = (len(vectors), *first.shape)
            else:
                self.rows = vectors.detach().float()
                shape = tuple(vectors.shape)
            self.device = (first if listed else vectors).device
        else:
            raise TypeError(
                "'vectors' should be a 'list' of ('np.ndarray' or 'torch.Tensor') or "
                f"'np.ndarray' or 'torch.Tensor', not {type(vectors).__name__}"
            )
        if len(shape) != 2:
            raise ValueError(f"vectors has shape {shape}: it must be n rows of d values")
        self.n, self.d = shape

    @property
    def on_cuda(self) -> bool:
        return self.device is not None and self.device.type == "cuda"

    def host(self, rows: Any = None) -> Any:
        """``rows`` (default: all) for byzagg's host path: numpy as given, CPU tensors as numpy
        views."""
        rows = self.rows if rows is None else rows
        if self.kind == "numpy":
            return rows
        if isinstance(rows, list):
            return [r.contiguous().numpy() for r in rows]
        return rows.contiguous().numpy()

    def select(self, indices: list[int]) -> list[Any]:
        """Some rows, as a list of 1-D views (no copy of the values)."""
        return [self.rows[i] for i in indices]

    def stacked(self) -> Any:
        """The rows as one (n, d) array or tensor of ByzFL's output type (a copy)."""
        if self.kind == "numpy":
            return np.array(self.rows, dtype=self.dtype)
        if isinstance(self.rows, list):
            return self.torch.stack(self.rows)
        return self.rows.clone()

    def vector(self, out: np.ndarray) -> Any:
        """byzagg's float32 result (host) as ByzFL returns it: the input's float dtype for
        numpy, a float32 tensor on the input's device for torch."""
        if self.kind == "numpy":
            return out.astype(self.dtype, copy=False)
        return self.torch.from_numpy(out).to(self.device)

    matrix = vector  # (k, d) results go back the same way


class _Rule:
    """A byzagg rule bound once per backend (opened engines are kept for later calls)."""

    def __init__(self, backend: str | None):
        self._backend = backend
        self._opened: dict[tuple[str, str], byzagg.Aggregator] = {}

    def _aggregator(self, rule: str, backend: str) -> byzagg.Aggregator:
        key = (rule, backend)
        if key not in self._opened:
            self._opened[key] = byzagg.Aggregator(rule, backend=backend)
        return self._opened[key]

    def _run(self, rule: str, v: _Vectors, rows: Any = None, out: np.ndarray | None = None) -> Any:
        """The rule over ``rows`` (default: every row of ``v``) into ``out`` (host float32)."""
        if out is None:
            out = np.empty(v.d, dtype=np.float32)
        if v.on_cuda:
            from byzagg.torch import _aggregate_cuda_to_host

            if self._backend not in (None, "auto", "cuda"):
                raise ValueError(
                    f"CUDA tensors run on the cuda backend, not backend={self._backend!r}"
                )
            agg = self._aggregator(rule, "cuda")
            tensors = v.rows if rows is None else rows
            return _aggregate_cuda_to_host(v.torch, tensors, agg, None, out)[0]
        agg = self._aggregator(rule, self._backend or "cpu")
        return agg.aggregate(v.host(rows), out=out)

    def _last_report(self, rule: str, v: _Vectors) -> dict[str, Any] | None:
        backend = "cuda" if v.on_cuda else (self._backend or "cpu")
        return self._aggregator(rule, backend).last_report


def _check_f(f: Any) -> None:
    if not isinstance(f, int) or f < 0:
        raise ValueError("f must be a non-negative integer")


def _check_two_f(f: int, n: int) -> None:
    if f * 2 >= n:
        raise ValueError(f"Cannot tolerate 2f ≥ n. Got f={f}, n={n}")


class _Aggregator(_Rule):
    """An aggregator: ``agg(vectors)`` returns one vector of length d."""

    _two_f = False  # whether ByzFL refuses 2f >= n for this rule

    def _rule(self, v: _Vectors) -> str:
        raise NotImplementedError

    def __call__(self, vectors: Any) -> Any:
        v = _Vectors(vectors)
        if self._two_f:
            _check_two_f(self.f, v.n)
        return v.vector(self._run(self._rule(v), v))


class Average(_Aggregator):
    """ByzFL's ``Average``: the mean (byzagg ``mean``)."""

    def __init__(self, *, backend: str | None = None):
        super().__init__(backend)

    def _rule(self, v: _Vectors) -> str:
        return "mean"


class Median(_Aggregator):
    """ByzFL's ``Median``: the coordinate-wise median (byzagg ``cwmed``)."""

    def __init__(self, *, backend: str | None = None):
        super().__init__(backend)

    def _rule(self, v: _Vectors) -> str:
        return "cwmed"


class TrMean(_Aggregator):
    """ByzFL's ``TrMean(f)``: the coordinate-wise mean without the f smallest and f largest
    values (byzagg ``cwtm(f=f)``; the mean for f = 0)."""

    _two_f = True

    def __init__(self, f: int = 0, *, backend: str | None = None):
        _check_f(f)
        self.f = f
        super().__init__(backend)

    def _rule(self, v: _Vectors) -> str:
        return f"cwtm(f={self.f})" if self.f else "mean"


class GeometricMedian(_Aggregator):
    """ByzFL's ``GeometricMedian(nu, T)``: T smoothed Weiszfeld steps from 0 (byzagg
    ``gm(init=zero,max_iter=T,tol=0,nu=nu)``, the ``rfa`` preset's form)."""

    def __init__(self, nu: float = 0.1, T: int = 3, *, backend: str | None = None):  # noqa: N803 (ByzFL's name)
        if not isinstance(nu, float):
            raise TypeError("nu must be a float")
        if not isinstance(T, int) or T < 0:
            raise ValueError("T must be a non-negative integer")
        self.nu, self.T = nu, T
        super().__init__(backend)

    def _rule(self, v: _Vectors) -> str:
        return f"gm(init=zero,max_iter={self.T},tol=0,nu={self.nu!r})"

    def __call__(self, vectors: Any) -> Any:
        if self.T == 0:  # no step: the start, 0
            v = _Vectors(vectors)
            return v.vector(np.zeros(v.d, dtype=np.float32))
        return super().__call__(vectors)


class Krum(_Aggregator):
    """ByzFL's ``Krum(f)``: the row whose n - f - 1 nearest rows are nearest (byzagg
    ``krum(f=f)``)."""

    _two_f = True
    # The byzagg rule each class of this family runs, given f.
    _rule_name = "krum"

    def __init__(self, f: int = 0, *, backend: str | None = None):
        _check_f(f)
        self.f = f
        super().__init__(backend)

    def _rule(self, v: _Vectors) -> str:
        return f"{self._rule_name}(f={self.f})"


class MultiKrum(Krum):
    """ByzFL's ``MultiKrum(f)``: the mean of the n - f rows of least Krum score (byzagg
    ``multikrum(f=f)``)."""

    _rule_name = "multikrum"


class MDA(Krum):
    """ByzFL's ``MDA(f)``: the mean of the n - f rows of least diameter, searched exactly
    (byzagg ``mda(f=f)``)."""

    _two_f = False
    _rule_name = "mda"


class Meamed(Krum):
    """ByzFL's ``Meamed(f)``: per coordinate, the mean of the n - f values nearest the median
    (byzagg ``meamed(f=f)``)."""

    _rule_name = "meamed"


class CAF(Krum):
    """ByzFL's ``CAF(f)``, with the top eigenpair exact (see the module's notes; byzagg
    ``caf(f=f)``)."""

    _rule_name = "caf"


class SMEA(Krum):
    """ByzFL's ``SMEA(f)``, with the top eigenvalue exact (see the module's notes; byzagg
    ``smea(f=f)``)."""

    _rule_name = "smea"


class MoNNA(_Aggregator):
    """ByzFL's ``MoNNA(f, idx)``: the mean of the n - f rows nearest row ``idx`` (byzagg
    ``monna(f=f,pivot=idx)``)."""

    _two_f = True

    def __init__(self, f: int = 0, idx: int = 0, *, backend: str | None = None):
        _check_f(f)
        if not isinstance(idx, int) or idx < 0:
            raise ValueError("idx must be a non-negative integer")
        self.f, self.idx = f, idx
        super().__init__(backend)

    def _rule(self, v: _Vectors) -> str:
        if self.idx >= v.n:
            raise ValueError(f"idx must be smaller than n. Got idx={self.idx}, n={v.n}")
        return f"monna(f={self.f},pivot={self.idx})"


class CenteredClipping(_Aggregator):
    """ByzFL's ``CenteredClipping(m, L, tau)``: L steps ``v += mean((x_i - v) min(1, tau /
    ||x_i - v||))`` from ``v = m`` (0 when None); like ByzFL, each call starts from the
    previous call's output. byzagg's ``cclip(tau=tau,iters=L)`` centers at 0, so a call with a
    nonzero start runs it on the rows minus the start (one copy) and adds the start back."""

    def __init__(
        self,
        m: Any = None,
        L: int = 1,  # noqa: N803 (ByzFL's name)
        tau: float = 100.0,
        *,
        backend: str | None = None,
    ):
        if not isinstance(L, int) or L < 0:
            raise ValueError("L must be a non-negative integer")
        if not isinstance(tau, float) or tau < 0.0:
            raise ValueError("tau must be a non-negative float")
        self.m, self.L, self.tau = m, L, tau
        super().__init__(backend)

    def _rule(self, v: _Vectors) -> str:
        return f"cclip(tau={self.tau!r},iters={self.L})"

    def __call__(self, vectors: Any) -> Any:
        v = _Vectors(vectors)
        start = None if self.m is None else _host_vector(self.m)
        if self.L == 0:
            result = start if start is not None else np.zeros(v.d, dtype=np.float32)
            self.m = v.vector(np.asarray(result, dtype=np.float32))
            return self.m
        if start is None or not start.any():
            out = self._run(self._rule(v), v)
        else:
            shifted = _Vectors(_shifted(v, start))
            out = self._run(self._rule(shifted), shifted) + start
        self.m = v.vector(out)
        return self.m


def _host_vector(m: Any) -> np.ndarray:
    """A start vector (numpy or tensor, any device) as a host float32 array."""
    if hasattr(m, "detach"):
        m = m.detach().cpu().numpy()
    return np.asarray(m, dtype=np.float32).reshape(-1)


def _shifted(v: _Vectors, start: np.ndarray) -> Any:
    """The rows minus ``start``, in the rows' own form and device."""
    if v.kind == "numpy":
        return np.asarray(v.rows, dtype=np.float32) - start
    rows = v.torch.stack(v.rows) if isinstance(v.rows, list) else v.rows
    return rows - v.torch.from_numpy(start).to(v.device)


# Pre-aggregators: ``pre(vectors)`` returns k rows of length d.


class NNM(_Rule):
    """ByzFL's ``NNM(f)``: each row replaced by the mean of its n - f nearest rows, itself
    included. Row i is byzagg's ``monna(f=f,pivot=i)`` (the same mean); n of them."""

    def __init__(self, f: int = 0, *, backend: str | None = None):
        _check_f(f)
        self.f = f
        super().__init__(backend)

    def __call__(self, vectors: Any) -> Any:
        v = _Vectors(vectors)
        if not self.f < v.n:
            raise ValueError(
                f"f must be smaller than len(vectors), but got f={self.f} and len(vectors)={v.n}"
            )
        out = np.empty((v.n, v.d), dtype=np.float32)
        for i in range(v.n):
            rule = f"monna(f={self.f},pivot={i})" if self.f else "mean"
            self._run(rule, v, out=out[i])
        return v.matrix(out)


class Bucketing(_Rule):
    """ByzFL's ``Bucketing(s)``: the rows shuffled, then the mean of each bucket of s rows (a
    last, smaller bucket for the rest). The permutation is ByzFL's draw (see the module's
    notes); the means are byzagg's ``mean`` over each bucket's rows, read in place."""

    def __init__(self, s: int = 1, *, backend: str | None = None):
        if not isinstance(s, int) or s <= 0:
            raise ValueError("s must be a positive integer")
        self.s = s
        super().__init__(backend)

    def __call__(self, vectors: Any) -> Any:
        v = _Vectors(vectors)
        if v.kind == "numpy":
            order = [int(i) for i in np.random.permutation(v.n)]
        else:
            order = [int(i) for i in v.torch.randperm(v.n)]
        buckets = [order[k : k + self.s] for k in range(0, v.n, self.s)]
        out = np.empty((len(buckets), v.d), dtype=np.float32)
        for b, rows in enumerate(buckets):
            self._run("mean", v, v.select(rows), out=out[b])
        return v.matrix(out)


class Clipping(_Rule):
    """ByzFL's ``Clipping(c)``: each row scaled by min(1, c / ||x_i||). byzagg's
    ``clip(mean,tau=c)`` finds the rows above c (its report's clip step); those are clipped by
    byzagg one by one, the others copied as they are."""

    def __init__(self, c: float = 2.0, *, backend: str | None = None):
        if not isinstance(c, float) or c < 0:
            raise ValueError("c must be a non-negative float")
        self.c = c
        super().__init__(backend)

    def __call__(self, vectors: Any) -> Any:
        v = _Vectors(vectors)
        return _clip_step(self, v, f"clip(mean,tau={self.c!r})")


class ARC(_Rule):
    """ByzFL's ``ARC(f)``: the floor(2 (f/n)(n - f)) rows of largest norm clipped to the norm
    of the next one. byzagg's ``arc(mean,f=f)`` finds that radius and those rows (its report's
    clip step); they are clipped by byzagg one by one, the others copied as they are."""

    def __init__(self, f: int = 0, *, backend: str | None = None):
        _check_f(f)
        self.f = f
        super().__init__(backend)

    def __call__(self, vectors: Any) -> Any:
        v = _Vectors(vectors)
        if not self.f < v.n + 1:
            raise ValueError(
                f"f must be smaller than len(vectors)+1, but got f={self.f} and len(vectors)={v.n}"
            )
        return _clip_step(self, v, f"arc(mean,f={self.f})")


def _clip_step(rule: _Rule, v: _Vectors, text: str) -> Any:
    """The rows after a clipping rule's step: ``text`` (a ``clip`` or ``arc`` over ``mean``)
    runs once for its report (the radius and the rows above it), then each of those rows is
    clipped to the radius by byzagg's ``clip`` on that row alone; the other rows are copied."""
    rule._run(text, v)
    report = rule._last_report(text, v) or {}
    step = next((s for s in report.get("steps", []) if s["step"] == "clip"), None)
    if step is None or not step["clipped"]:
        return v.stacked()  # no row above the radius (ARC with f = 0, say)
    out = _host_copy(v)
    clip = f"clip(mean,tau={float(step['threshold'])!r})"
    for i in step["clipped"]:
        rule._run(clip, v, v.select([i]), out=out[i])
    return v.matrix(out)


def _host_copy(v: _Vectors) -> np.ndarray:
    """Every row as one host float32 (n, d) array (a copy)."""
    if v.kind == "numpy":
        return np.array(v.rows, dtype=np.float32)
    rows = v.torch.stack(v.rows) if isinstance(v.rows, list) else v.rows
    return rows.detach().cpu().numpy().astype(np.float32, copy=True)


_CLASSES = [name for name in __all__ if name != "patch"]
_PRE = {"NNM", "Bucketing", "Clipping", "ARC"}


def patch() -> None:
    """Replaces ByzFL's classes with these in an imported ``byzfl`` (its package, its
    ``aggregators`` modules), so code that names them there, ByzFL's ``RobustAggregator`` and
    benchmark included, runs on byzagg unchanged. Call it after ``import byzfl``."""
    import byzfl
    from byzfl.aggregators import aggregators, preaggregators

    here = sys.modules[__name__]
    for name in _CLASSES:
        ours = getattr(here, name)
        for module in (byzfl, byzfl.aggregators, preaggregators if name in _PRE else aggregators):
            setattr(module, name, ours)
