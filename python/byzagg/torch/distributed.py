"""Byzantine-robust collectives over ``torch.distributed``.

Three entry points, for two trust models:

- :func:`robust_all_reduce` and :func:`ddp_comm_hook` (**replicated**): every rank sends its
  tensor to every other rank (an ``all_gather``) and computes the robust aggregate itself, so
  an honest rank gets the right answer whatever the Byzantine ranks send. The cost: each rank
  receives ``n x d`` values (``n`` ranks, ``d`` values each), against about ``2 d`` for a plain
  ring all-reduce, and every rank runs the rule once.
- :func:`sharded_aggregate` (**sharded**, parameter-server style): the ranks of ``group`` each
  hold some rows; an ``all_to_all`` gives each rank one coordinate range of every row, each
  runs byzagg's shard protocol on its range (distance rules exchange ``n x n`` or ``n``
  doubles per round, whatever ``d``), and an ``all_gather`` assembles the result. Each rank
  receives about ``2 d`` values in all. **Every rank of the group must be trusted**: a rank
  controls its partial distances and its range of the result, so a Byzantine rank there can
  move both. Robustness is against Byzantine *rows*, not Byzantine aggregation ranks.

In a DDP job, one line makes the gradient all-reduce robust::

    model = torch.nn.parallel.DistributedDataParallel(net)
    model.register_comm_hook(None, byzagg.torch.distributed.ddp_comm_hook("cwmed"))

Tensors may live on any device the process group's backend serves (gloo: CPU; NCCL: CUDA).
Which path a job gets, for the replicated collectives:

- CUDA tensors with ``backend="auto"`` (the default) where byzagg's CUDA backend opens (an
  NVIDIA driver and NVRTC, which PyTorch's CUDA wheels bring): the gathered rows stay on the
  GPU and the rule runs on them in place, on PyTorch's current stream; only the ``d`` values
  of the result cross to the host and back (``byzagg.torch``'s device path).
- CUDA tensors otherwise (``backend="cpu"``, or no CUDA backend): the gathered rows are
  copied once to the host (``n x d`` values), aggregated there, and the result copied back.
- CPU tensors (gloo): read in place on the host by the CPU backend.

The sharded collective always aggregates its range on the host (its rank's ``n x d / world``
values cross).

Every rank must call these functions with the same rule and parameters, in the same order, as
with any collective. Ranks running the same backend on the same kind of machine (the same
CPU kind, or the same GPU model for the device path) compute the same bits, so DDP replicas
stay identical; keep ``backend`` the same on every rank, and on a mixed fleet of GPUs pass
``backend="cpu"``.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

import byzagg
from byzagg import _byzagg

from . import _torch

__all__ = ["ddp_comm_hook", "robust_all_reduce", "sharded_aggregate"]


def _dist() -> tuple[Any, Any]:
    """torch and torch.distributed, with a process group initialized."""
    torch = _torch()
    import torch.distributed as dist

    if not dist.is_available():
        raise RuntimeError("this PyTorch build has no torch.distributed")
    if not dist.is_initialized():
        raise RuntimeError(
            "torch.distributed is not initialized: call torch.distributed.init_process_group first"
        )
    return torch, dist


class _Reducer:
    """The rule on gathered rows, by the path the module's documentation describes: host
    rows on the host backend; CUDA rows in place on the CUDA backend when ``backend`` is
    "auto" and that backend opens (opened once, on first use), else through the host."""

    def __init__(
        self, rule: str | byzagg.Aggregator, f: int | None, lam: float | None, backend: str
    ):
        if isinstance(rule, byzagg.Aggregator):
            if f is not None or lam is not None:
                raise ValueError("f and lam belong to the Aggregator when rule is an Aggregator")
            self.host, self._text = rule, None
            self._device_ok = rule.backend == "cuda"
            self.cuda: byzagg.Aggregator | None = rule if self._device_ok else None
        else:
            host_backend = "cpu" if backend == "auto" else backend
            self.host = byzagg.Aggregator(rule, backend=host_backend, f=f, lam=lam)
            self._text, self._share = rule, (f, lam)
            self._device_ok = backend in ("auto", "cuda")
            self.cuda = None

    @property
    def coordinatewise(self) -> bool:
        return self.host.coordinatewise

    def _cuda(self) -> byzagg.Aggregator | None:
        if self.cuda is None and self._device_ok and self._text is not None:
            try:
                f, lam = self._share
                self.cuda = byzagg.Aggregator(self._text, backend="cuda", f=f, lam=lam)
            except byzagg.BackendUnavailable:
                self._device_ok = False  # the host path from now on, on every call alike
        return self.cuda

    def path(self, rows: list[Any]) -> str:
        """``"device"`` or ``"host"``: where these rows would be aggregated."""
        on_gpu = rows[0].device.type == "cuda"
        return "device" if on_gpu and self._cuda() is not None else "host"

    def __call__(self, torch: Any, rows: list[Any], weights: Any = None) -> Any:
        """The aggregate of ``rows`` (1-D tensors) as a float32 tensor on their device."""
        if self.path(rows) == "device":
            from . import _aggregate_cuda

            return _aggregate_cuda(torch, rows, self.cuda, weights)
        result = torch.from_numpy(self.host.aggregate(_host_rows(torch, rows), weights=weights))
        return result.to(rows[0].device)


def _gather(dist: Any, torch: Any, t: Any, group: Any) -> list[Any]:
    """Every rank's copy of ``t`` (same shape on every rank), in rank order."""
    out = [torch.empty_like(t) for _ in range(dist.get_world_size(group))]
    dist.all_gather(out, t.contiguous(), group=group)
    return out


def _rank_weights(dist: Any, torch: Any, weights: Any, n: int, device: Any, group: Any) -> Any:
    """``weights`` as n float64 values on the host: None; one number (this rank's own weight,
    gathered from every rank); or a sequence or tensor of n values, the same on every rank."""
    if weights is None:
        return None
    if isinstance(weights, (int, float)) or (
        isinstance(weights, torch.Tensor) and weights.dim() == 0
    ):
        own = torch.tensor([float(weights)], dtype=torch.float64, device=device)
        return torch.cat(_gather(dist, torch, own, group)).cpu().numpy()
    if isinstance(weights, torch.Tensor):
        weights = weights.detach().cpu().numpy()
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (n,):
        raise ValueError(
            f"weights has shape {w.shape}: it must be one number (this rank's weight) or "
            f"n = {n} values (one per rank)"
        )
    return w


def _host_rows(torch: Any, rows: list[Any]) -> Any:
    """Gathered rows as something byzagg reads: CPU float32 rows in place, others copied once."""
    if rows[0].device.type == "cpu":
        return [r.float().numpy() for r in rows]
    return torch.stack(rows).float().cpu().numpy()


def robust_all_reduce(
    tensor: Any,
    rule: str | byzagg.Aggregator = "cwmed",
    *,
    group: Any = None,
    weights: Any = None,
    f: int | None = None,
    lam: float | None = None,
    backend: str = "auto",
) -> Any:
    """Replaces ``tensor``, on every rank, by the robust aggregate of every rank's ``tensor``.

    The drop-in robust counterpart of ``torch.distributed.all_reduce`` followed by a division by
    the world size: in place, and the tensor is returned. Each rank gathers every rank's tensor
    and aggregates them itself (see the module's documentation for the cost), so a Byzantine
    rank cannot change what an honest rank computes beyond what the rule tolerates.

    Args:
        tensor: any shape, a floating dtype; the same shape on every rank.
        rule: the rule's text (``"cwmed"``, ``"krum(f=1)"``, ``"ctma(cwmed,f=1)"``...) or a
            ``byzagg.Aggregator`` to reuse.
        group: the process group (None: the default group).
        weights: None (equal weights); one number, this rank's own weight (e.g. how many
            updates it delivered), gathered from every rank; or n numbers, the same on every
            rank. A weight a rank reports for itself is only as trustworthy as that rank.
        f, lam: the Byzantine share, for rules whose text leaves it out.
        backend: byzagg's backend on this rank: ``"auto"`` (default; CUDA tensors on the GPU
            where byzagg's CUDA backend opens, everything else on the CPU, which every rank
            has), ``"cpu"`` (always the host path), or another backend for host rows.

    Raises:
        RuntimeError: torch.distributed is not initialized.
        ValueError: bad rule, weights or shapes, with byzagg's message.

    >>> # on every rank of an initialized group:
    >>> # g = robust_all_reduce(grad, "ctma(cwmed,f=1)")
    """
    torch, dist = _dist()
    return _all_reduce(torch, dist, tensor, _Reducer(rule, f, lam, backend), group, weights)


def _all_reduce(torch: Any, dist: Any, tensor: Any, agg: _Reducer, group: Any, weights: Any) -> Any:
    """robust_all_reduce with the rule already bound."""
    flat = tensor.detach().reshape(-1).float()
    rows = _gather(dist, torch, flat, group)
    w = _rank_weights(dist, torch, weights, len(rows), tensor.device, group)
    result = agg(torch, rows, w)
    with torch.no_grad():
        tensor.copy_(result.view(tensor.shape))
    return tensor


def ddp_comm_hook(
    rule: str | byzagg.Aggregator = "cwmed",
    *,
    group: Any = None,
    f: int | None = None,
    lam: float | None = None,
    backend: str = "auto",
    whole_model: bool | None = None,
) -> Callable[[Any, Any], Any]:
    """A ``DistributedDataParallel`` communication hook that aggregates gradients robustly.

    ``model.register_comm_hook(None, ddp_comm_hook("cwmed"))`` replaces DDP's averaging
    all-reduce by :func:`robust_all_reduce` semantics (the state argument is not used; pass
    None).

    DDP hands gradients over in buckets. A coordinate-wise rule (``mean``, ``cwmed``,
    ``cwtm``) gives the same result bucket by bucket, so each bucket is aggregated as it comes.
    Any other rule (Krum, GM, CTMA, NNM...) needs whole gradients: each bucket is gathered as
    it comes and the whole gradient is aggregated once, when DDP hands over its last bucket.
    ``whole_model`` forces one or the other (None: chosen from the rule).
    """
    agg = _Reducer(rule, f, lam, backend)
    whole = not agg.coordinatewise if whole_model is None else whole_model
    pending: dict[int, tuple[Any, list[Any], Any]] = {}

    # Unannotated on purpose: DDP checks a hook's annotations against its own classes.
    def hook(state, bucket):
        torch, dist = _dist()
        buf = bucket.buffer()
        fut = torch.futures.Future()
        if not whole:
            _all_reduce(torch, dist, buf, agg, group, None)
            fut.set_result(buf)
            return fut
        pending[bucket.index()] = (buf, _gather(dist, torch, buf.detach().float(), group), fut)
        if bucket.is_last():
            order = sorted(pending)
            world = len(pending[order[0]][1])
            rows = [torch.cat([pending[i][1][r] for i in order]) for r in range(world)]
            result = agg(torch, rows)
            offset = 0
            for i in order:
                b, _, fb = pending[i]
                b.copy_(result[offset : offset + b.numel()].view(b.shape))
                offset += b.numel()
                fb.set_result(b)
            pending.clear()
        return fut

    return hook


def _ranges(d: int, world: int) -> list[tuple[int, int]]:
    """The coordinate range of each rank: contiguous, sizes differing by at most one."""
    return [(s * d // world, (s + 1) * d // world) for s in range(world)]


def sharded_aggregate(
    rows: Any,
    rule: str = "cwmed",
    *,
    group: Any = None,
    weights: Any = None,
    f: int | None = None,
    lam: float | None = None,
) -> Any:
    """The robust aggregate of every rank's rows, computed by the ranks together, each on one
    coordinate range: returns the whole result, shape ``(d,)``, on every rank.

    The ranks of ``group`` must be trusted (see the module's documentation). Each rank passes
    the rows it holds (``(k, d)``, ``k`` may differ between ranks and may be 0); the batch is
    every rank's rows in rank order. byzagg's shard protocol runs on the CPU of each rank:
    ``cwmed``/``cwtm``/``mean`` exchange nothing but the rows and the result; ``krum`` one
    round of ``n x n`` doubles; ``ctma(cwmed)`` one of ``n``; ``gm`` one per iteration.

    Args:
        rows: a 2-D floating tensor ``(k, d)``; ``d`` the same on every rank and at least the
            group's size.
        rule, f, lam: the rule, as for :func:`robust_all_reduce` (text only).
        group: the process group of aggregation ranks (None: the default group).
        weights: None, or ``k`` weights for this rank's rows (a sequence or tensor).

    Raises:
        ValueError: shapes or weights that disagree between ranks (raised on every rank), a
            bad rule, or ``d`` smaller than the group.
    """
    torch, dist = _dist()
    world, rank = dist.get_world_size(group), dist.get_rank(group)
    if rows.dim() != 2:
        raise ValueError(f"rows has {rows.dim()} dimensions: it must be (k, d)")
    dev = rows.device
    k, d = rows.shape
    shapes = _gather(dist, torch, torch.tensor([k, d], dtype=torch.int64, device=dev), group)
    counts = [int(s[0]) for s in shapes]
    if any(int(s[1]) != d for s in shapes):
        raise ValueError(f"rows must have the same d on every rank: {[int(s[1]) for s in shapes]}")
    n = sum(counts)
    if n == 0:
        raise ValueError("no rank holds a row: the batch needs at least one")
    if d < world:
        raise ValueError(f"d = {d}: sharding needs at least one coordinate per rank ({world})")
    ranges = _ranges(d, world)
    lo, hi = ranges[rank]

    # Coordinate slices: rank s receives every rank's rows restricted to ranges[s].
    x = rows.detach().float()
    send = torch.cat([x[:, a:b].reshape(-1) for a, b in ranges])
    recv = torch.empty(n * (hi - lo), dtype=torch.float32, device=dev)
    dist.all_to_all_single(
        recv,
        send,
        output_split_sizes=[c * (hi - lo) for c in counts],
        input_split_sizes=[k * (b - a) for a, b in ranges],
        group=group,
    )
    local = recv.view(n, hi - lo).cpu().numpy()

    w = None
    if weights is not None:
        own = torch.as_tensor(weights, dtype=torch.float64).reshape(-1).to(dev)
        if own.numel() != k:
            raise ValueError(f"weights has {own.numel()} values: it must have k = {k}")
        wk = max(counts)
        padded = torch.zeros(wk, dtype=torch.float64, device=dev)
        padded[:k] = own
        gathered = _gather(dist, torch, padded, group)
        w = torch.cat([g[:c] for g, c in zip(gathered, counts)]).cpu().numpy()

    session = _byzagg.ShardSession(rule, np.ascontiguousarray(local), w, f=f, lam=lam)
    while True:
        step = session.step()
        if step[0] == "done":
            part = torch.from_numpy(step[1]).to(dev)
            break
        partial = torch.from_numpy(step[1]).to(dev)
        parts = [p.cpu().numpy() for p in _gather(dist, torch, partial, group)]
        session.deliver(_byzagg.sum_in_order(parts))

    # Ranges differ by at most one coordinate: pad to the largest for the gather.
    width = max(b - a for a, b in ranges)
    padded = torch.zeros(width, dtype=torch.float32, device=dev)
    padded[: hi - lo] = part
    pieces = _gather(dist, torch, padded, group)
    return torch.cat([p[: b - a] for p, (a, b) in zip(pieces, ranges)])
