"""byzagg for PyTorch tensors.

>>> import torch, byzagg.torch
>>> rows = torch.randn(16, 1000)
>>> byzagg.torch.aggregate(rows, "ctma(cwmed,f=3)").shape
torch.Size([1000])

CPU tensors are read in place (float32, contiguous; anything else is converted once, as for
numpy arrays) and the result is a CPU float32 tensor sharing memory with byzagg's output. torch
is imported only when a function here is called, with a clear error where it is missing.

CUDA tensors are refused with ``NotImplementedError`` in this version: the crate can aggregate
rows resident on the GPU, but this binding does not yet pass device pointers to it, and copying
the rows to the host behind the caller's back would hide a cost the caller chose to avoid.

``byzagg.torch.distributed`` holds the collectives: ``robust_all_reduce``, ``ddp_comm_hook``
and ``sharded_aggregate``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import byzagg


def _torch() -> Any:
    try:
        import torch
    except ImportError as e:
        raise ImportError(
            "byzagg.torch needs PyTorch: pip install torch (byzagg itself needs only numpy)"
        ) from e
    return torch


def _host_view(t: Any, name: str) -> Any:
    """A CPU tensor as a numpy array sharing its memory (float32 contiguous: no copy)."""
    if t.device.type != "cpu":
        raise NotImplementedError(
            f"{name} is on {t.device}: byzagg.torch reads CPU tensors only in this version; "
            "move it with .cpu() if a host copy is acceptable"
        )
    return t.detach().numpy()


def aggregate(
    rows: Any,
    rule: str = "cwmed",
    *,
    weights: Any = None,
    f: int | None = None,
    lam: float | None = None,
    backend: str = "auto",
    strict: bool = False,
    root: Any = None,
) -> Any:
    """Aggregates tensors with a byzagg rule; returns a float32 tensor of shape ``(d,)``.

    Args:
        rows: a 2-D tensor ``(n, d)`` or a sequence of n 1-D tensors of length d (e.g.
            flattened gradients), on the CPU.
        rule, weights, f, lam, backend, strict, root: as for ``byzagg.aggregate``;
            ``weights`` and FLTrust's ``root`` update may be tensors.

    Raises:
        ImportError: torch is not installed.
        NotImplementedError: a tensor is on a GPU (see the module's documentation).
        ValueError, byzagg.NonFiniteError, byzagg.BackendUnavailable: as ``byzagg.aggregate``.
    """
    torch = _torch()
    if isinstance(rows, torch.Tensor):
        x: Any = _host_view(rows, "rows")
    elif isinstance(rows, Sequence):
        x = [_host_view(r, f"rows[{i}]") for i, r in enumerate(rows)]
    else:
        raise TypeError(
            f"rows must be a tensor or a sequence of tensors, not {type(rows).__name__}"
        )
    if isinstance(weights, torch.Tensor):
        weights = _host_view(weights, "weights")
    if isinstance(root, torch.Tensor):
        root = _host_view(root, "root")
    out = byzagg.aggregate(
        x, rule, weights=weights, f=f, lam=lam, backend=backend, strict=strict, root=root
    )
    return torch.from_numpy(out)
