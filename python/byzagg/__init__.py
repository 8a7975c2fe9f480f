"""byzagg: Byzantine-robust aggregation, weighted, NaN-proof, on the CPU and GPUs.

Robust rules (coordinate-wise median ``cwmed``, trimmed mean ``cwtm``, ``krum``/``multikrum``,
geometric median ``gm``, ``ctma``, ``nnm``, ``bucketing``, centered clipping ``cclip``), all
weighted, computed by the Rust crate byzagg; rows of NaN, infinities or huge values are
Byzantine input that the rules survive within their tolerance, not errors.

>>> import numpy as np, byzagg
>>> x = np.array([[1, 2], [3, 4], [5, 6], [np.nan, 1e30]], dtype=np.float32)
>>> byzagg.aggregate(x, "ctma(cwmed,f=1)")
array([3., 4.], dtype=float32)

Rule text is the crate's: ``"cwmed"``, ``"cwtm(lambda=0.2)"``, ``"krum(f=2)"``,
``"multikrum(f=2,m=4)"``, ``"gm"``, ``"ctma(cwmed,lambda=0.2)"``, ``"nnm(krum,f=1)"``,
``"bucketing(cwmed,s=2,seed=1)"``, ``"cclip(tau=1,iters=3)"``. A rule that needs lambda or f
and leaves it out takes the ``f=`` or ``lam=`` keyword.

Adapters: ``byzagg.torch`` (CPU tensors, read in place), ``byzagg.torch.distributed``
(robust all-reduce, a DDP communication hook and sharded aggregation over
``torch.distributed``) and ``byzagg.flwr`` (a Flower strategy); each imports its framework
only when used.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from . import _byzagg, _inputs
from ._byzagg import BackendUnavailable, NonFiniteError, __version__, devices, verify

__all__ = [
    "Aggregator",
    "BackendUnavailable",
    "NonFiniteError",
    "__version__",
    "aggregate",
    "devices",
    "verify",
]


class Aggregator:
    """A rule bound to a backend, opened once and reused for many batches.

    Args:
        rule: the rule's text, e.g. ``"cwmed"``, ``"krum(f=2)"``, ``"ctma(cwmed,lambda=0.2)"``.
        backend: ``"auto"`` (where the rows live: numpy arrays and CPU tensors on the CPU,
            which reads them in place; ``byzagg.torch`` sends CUDA tensors to ``"cuda"``),
            ``"cpu"``, ``"cuda"``, ``"wgpu"`` or ``"reference"`` (the slow f64 oracle).
        f: the number of Byzantine rows, for rules that leave it out of their text.
        lam: the Byzantine share of the total weight, in [0, 0.5), instead of ``f``.
        strict: raise ``NonFiniteError`` on a row holding NaN or infinity instead of
            treating it as Byzantine input.
        report_non_finite: also find the rows holding NaN or infinity for ``last_report``
            (``non_finite_rows``, ``tolerance_held``); one more read of the batch, about the
            time of a whole median on the CPU, hence off by default.

    Raises:
        ValueError: bad rule text, or ``f``/``lam`` out of bounds (the crate's message).
        BackendUnavailable: the backend cannot run on this machine.

    One instance may be used from several threads at once: the GIL is released while a rule
    runs, so calls proceed in parallel. ``last_report`` is then the report of whichever call
    finished last.
    """

    def __init__(
        self,
        rule: str = "cwmed",
        *,
        backend: str = "auto",
        f: int | None = None,
        lam: float | None = None,
        strict: bool = False,
        report_non_finite: bool = False,
    ) -> None:
        self._native = _byzagg.Aggregator(
            rule,
            backend=backend,
            f=f,
            lam=lam,
            strict=strict,
            report_non_finite=report_non_finite,
        )

    @property
    def backend(self) -> str:
        """The concrete backend that runs the rule (``"auto"`` resolved)."""
        return self._native.backend

    @property
    def rule(self) -> str:
        """The rule, in the crate's text form."""
        return self._native.rule

    @property
    def coordinatewise(self) -> bool:
        """Whether each coordinate of the result depends on that coordinate alone (``mean``,
        ``cwmed``, ``cwtm``...): then any split of the coordinates gives the same result."""
        return self._native.coordinatewise

    @property
    def last_report(self) -> dict[str, Any] | None:
        """What the last call reported, or None before the first call.

        Keys: ``rule``, ``backend``, ``n``, ``d``; ``steps``, one dict per step of a composed
        rule, innermost first (``{"step": "krum", "scores", "selected"}``, ``{"step": "gm",
        "iterations", "converged"}``, ``{"step": "caf", "rounds", "finished"}``,
        ``{"step": "ctma", "kept", "rejected"}``,
        ``{"step": "clip", "threshold", "clipped"}``, ``{"step": "fltrust", "trust"}``);
        ``non_finite_rows``, the rows holding NaN or infinity, and ``tolerance_held``, whether
        the rule's tolerance covers those rows (so the output is finite): both None unless
        the aggregator was made with ``report_non_finite=True``.
        """
        return self._native.last_report

    def aggregate(
        self, x: Any, weights: Any = None, out: np.ndarray | None = None, root: Any = None
    ) -> Any:
        """Aggregates the rows of ``x``; returns a float32 array of shape ``(d,)``.

        Args:
            x: the n rows, in one of three forms:

                - a 2-D array ``(n, d)``: C-contiguous float32 is read in place, without a
                  copy; any other dtype or layout is converted once to C-contiguous float32;
                - a sequence of n 1-D arrays of length d: each row read in place (converted
                  alone if it is not C-contiguous float32), never stacked;
                - a sequence of n clients, each a list (or dict) of arrays of any shapes, the
                  same for every client (model layers, as in a ``state_dict`` or Flower's
                  parameters): each client's layers, end to end, form its row. The result is
                  then a list (or dict) of float32 arrays with the layer shapes. Mean, cwmed
                  and cwtm run layer by layer in place; the other rules need whole rows, so
                  the layers are first stacked into one ``(n, d)`` buffer (one copy).

            weights: n finite weights >= 0, not all 0 (e.g. the number of updates or of
                examples behind each row); None means equal weights.
            out: a 1-D C-contiguous float32 array of length d to write the result into
                (for layered input the result's layer arrays are views of it).
            root: the server's root update g0 that ``fltrust`` scores the rows against: a
                1-D array of length d (finite values), or for layered input the layers of
                one client; other rules ignore it.

        Raises:
            ValueError: bad shapes, weights, or a rule bound the batch breaks (e.g.
                ``krum(f=5)`` on 7 rows), with the crate's message.
            NonFiniteError: strict mode and a row holds NaN or infinity.
            RuntimeError: the backend failed (device lost, out of memory).
        """
        if _inputs.on_cuda(x):
            return self._aggregate_cuda(x, weights, out, root)
        w = _inputs.as_weights(weights)
        if _inputs.is_layered(x):
            layers = _inputs.Layers(x)
            flat = _inputs.output(out, layers.d)
            g = _inputs.as_root(root, layers)
            self._native.aggregate_layers(layers.clients, w, flat, g)
            return layers.split(flat)
        form, data = _inputs.matrix_or_rows(x)
        g = _inputs.as_root(root, None)
        if form == "matrix":
            result = _inputs.output(out, data.shape[1])
            self._native.aggregate_matrix(data, w, result, g)
        else:
            result = _inputs.output(out, data[0].shape[0])
            self._native.aggregate_rows(data, w, result, g)
        return result

    def _aggregate_cuda(self, x: Any, weights: Any, out: np.ndarray | None, root: Any) -> Any:
        """DLPack CUDA input (CuPy, JAX, torch...): imported by PyTorch's ``from_dlpack`` (no
        copy; the producer orders its pending work before PyTorch's current stream, as the
        DLPack protocol asks of it) and aggregated in place on the GPU on that stream by the
        CUDA backend, as ``byzagg.torch`` does; the ``d`` values come back to the host."""
        if root is not None or self._native.backend != "cuda":
            raise ValueError(
                f"invalid x = CUDA data with backend {self._native.backend!r}"
                f"{' and root' if root is not None else ''}: CUDA input runs on the cuda "
                "backend, without root; copy it to the host for the others"
            )
        try:
            import torch
        except ImportError as e:
            raise ImportError(
                f"x is a {type(x).__name__} on a CUDA device: byzagg reads CUDA DLPack data "
                "through PyTorch's from_dlpack (pip install torch), or copy it to the host"
            ) from e
        from .torch import _aggregate_cuda_to_host

        rows = (
            torch.from_dlpack(x)
            if not isinstance(x, Sequence)
            else [torch.from_dlpack(r) for r in x]
        )
        if out is not None:
            d = rows.shape[-1] if not isinstance(rows, list) else rows[0].numel()
            out = _inputs.output(out, d)
        return _aggregate_cuda_to_host(torch, rows, self, weights, out)[0]

    def __repr__(self) -> str:
        return f"byzagg.Aggregator(rule={self.rule!r}, backend={self.backend!r})"


def aggregate(
    x: Any,
    rule: str = "cwmed",
    *,
    weights: Any = None,
    f: int | None = None,
    lam: float | None = None,
    backend: str = "auto",
    strict: bool = False,
    out: np.ndarray | None = None,
    root: Any = None,
) -> Any:
    """Aggregates the rows of ``x`` with ``rule``; returns a float32 array of shape ``(d,)``.

    One call of ``Aggregator(rule, backend=backend, f=f, lam=lam, strict=strict)
    .aggregate(x, weights, out, root)``: see ``Aggregator`` and ``Aggregator.aggregate`` for
    the input forms (2-D array, sequence of rows, sequence of per-client layers), the weights,
    FLTrust's ``root`` update and the errors. Reuse an ``Aggregator`` to read the report of a call.

    >>> import numpy as np, byzagg
    >>> byzagg.aggregate(np.array([[1.0, 5.0], [2.0, 6.0], [9.0, np.inf]]), "cwmed")
    array([2., 6.], dtype=float32)
    """
    # "auto" follows the data: CUDA input stays on its device (the cuda backend), host input
    # runs on the cpu backend (an upload costs more than the rule, docs/PERFORMANCE.md).
    if backend == "auto" and _inputs.on_cuda(x):
        backend = "cuda"
    agg = Aggregator(rule, backend=backend, f=f, lam=lam, strict=strict)
    return agg.aggregate(x, weights=weights, out=out, root=root)
