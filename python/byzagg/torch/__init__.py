"""byzagg for PyTorch tensors.

>>> import torch, byzagg.torch
>>> rows = torch.randn(16, 1000)
>>> byzagg.torch.aggregate(rows, "ctma(cwmed,f=3)").shape
torch.Size([1000])

CPU tensors are read in place (float32, contiguous; anything else is converted once, as for
numpy arrays) and the result is a CPU float32 tensor sharing memory with byzagg's output. torch
is imported only when a function here is called, with a clear error where it is missing.

CUDA tensors are read in place on their GPU: byzagg's CUDA backend takes the rows' device
addresses and runs on PyTorch's current stream of that device (no device-wide synchronize),
and the ``d`` values of the result come back as a float32 tensor on the same device (through
the host: ``d`` values, against the ``n x d`` of the rows). Rows that are not float32 and
contiguous are converted once on the GPU. ``backend`` must then be ``"auto"`` or ``"cuda"``
(a CPU backend would need the rows on the host: move them with ``.cpu()`` to say so), and
``strict`` and ``root`` are host-side options the device path does not take.

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


def _cuda_rows(torch: Any, rows: Any) -> tuple[list[Any], Any]:
    """CUDA rows as float32 contiguous 1-D tensors (views where they already are), and their
    device; every row on one device."""
    if isinstance(rows, torch.Tensor):
        if rows.dim() != 2:
            raise ValueError(f"rows has {rows.dim()} dimensions: it must be (n, d)")
        rows = list(rows.detach().float().contiguous())
    else:
        rows = [r.detach().reshape(-1).float().contiguous() for r in rows]
    if not rows:
        raise ValueError("rows is empty: at least one row is needed")
    device = rows[0].device
    for i, r in enumerate(rows):
        if r.device != device:
            raise ValueError(f"rows[{i}] is on {r.device}: every row must be on {device}")
        if r.numel() != rows[0].numel():
            raise ValueError(f"rows[{i}] has {r.numel()} values: row 0 has {rows[0].numel()}")
    return rows, device


def _aggregate_cuda(torch: Any, rows: Any, agg: byzagg.Aggregator, weights: Any) -> Any:
    """The device path: rows read in place on their GPU, on its current stream; the result
    as a float32 tensor on that GPU."""
    out, device = _aggregate_cuda_to_host(torch, rows, agg, weights)
    return torch.from_numpy(out).to(device)


def _aggregate_cuda_to_host(
    torch: Any, rows: Any, agg: byzagg.Aggregator, weights: Any, out: Any = None
) -> tuple[Any, Any]:
    """The device path with the ``d`` values of the result left on the host (in ``out``, a
    float32 numpy array of length d, when given); returns them and the rows' device."""
    import numpy as np

    from byzagg import _byzagg

    tensors, device = _cuda_rows(torch, rows)
    d = tensors[0].numel()
    w = None
    if weights is not None:
        if isinstance(weights, torch.Tensor):
            weights = weights.detach().cpu().numpy()
        w = np.ascontiguousarray(weights, dtype=np.float64)
    if out is None:
        out = np.empty(d, dtype=np.float32)
    stream = torch.cuda.current_stream(device).cuda_stream
    ptrs = [t.data_ptr() for t in tensors]
    _byzagg.aggregate_cuda(agg._native, ptrs, d, device.index, stream, w, out)
    return out, device


def _on_cuda(torch: Any, rows: Any) -> bool:
    if isinstance(rows, torch.Tensor):
        return rows.device.type == "cuda"
    return bool(rows) and isinstance(rows[0], torch.Tensor) and rows[0].device.type == "cuda"


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
            flattened gradients), on the CPU or on one CUDA device.
        rule, weights, f, lam, backend, strict, root: as for ``byzagg.aggregate``;
            ``weights`` and FLTrust's ``root`` update may be tensors.

    Raises:
        ImportError: torch is not installed.
        ValueError: as ``byzagg.aggregate``; also CUDA rows with a CPU backend, ``strict`` or
            ``root`` (see the module's documentation).
        byzagg.NonFiniteError, byzagg.BackendUnavailable: as ``byzagg.aggregate``.
    """
    torch = _torch()
    if _on_cuda(torch, rows):
        if not (backend == "auto" or backend.startswith("cuda")) or strict or root is not None:
            raise ValueError(
                f"CUDA rows run on the cuda backend without strict or root (backend={backend!r}, "
                f"strict={strict}, root given: {root is not None}); move the rows with .cpu() "
                "for the host path"
            )
        agg = byzagg.Aggregator(rule, backend="cuda", f=f, lam=lam)
        return _aggregate_cuda(torch, rows, agg, weights)
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
