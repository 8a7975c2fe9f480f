"""The input forms of ``aggregate``, brought to what the native layer reads in place.

Three forms (see ``byzagg.aggregate``): a 2-D array, a sequence of 1-D rows, a sequence of
per-client layer collections. C-contiguous float32 passes through untouched; anything else is
converted once, here, to C-contiguous float32 (float64 values beyond float32's range become
infinities, which the rules treat as Byzantine input, not as an error).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

_NUMERIC = "fiub"  # float, signed and unsigned integer, bool


# DLPack device types (dlpack.h's DLDeviceType): host memory byzagg reads in place, and CUDA.
_DLPACK_HOST = (1, 3)  # kDLCPU, kDLCUDAHost (pinned host memory)
_DLPACK_CUDA = (2, 13)  # kDLCUDA, kDLCUDAManaged


def dlpack_device(a: Any) -> int | None:
    """The DLPack device type of ``a`` (1 host, 2 CUDA...), or None for an object that does not
    export DLPack (numpy arrays are read directly and count as None too)."""
    if isinstance(a, np.ndarray) or not (
        hasattr(a, "__dlpack__") and hasattr(a, "__dlpack_device__")
    ):
        return None
    return int(a.__dlpack_device__()[0])


def on_cuda(x: Any) -> bool:
    """Whether ``x`` (a 2-D array or a sequence of rows) is DLPack data on a CUDA device."""
    if isinstance(x, Sequence) and not isinstance(x, (str, bytes)) and len(x) > 0:
        x = x[0]
    return dlpack_device(x) in _DLPACK_CUDA


def _host_array(a: Any, name: str) -> np.ndarray:
    """``a`` as a numpy array: DLPack host memory (CuPy's pinned, JAX's and torch's CPU arrays,
    any ``__dlpack__`` producer) in place; anything else through ``np.asarray``."""
    device = dlpack_device(a)
    if device is None or not hasattr(np, "from_dlpack"):
        return np.asarray(a)
    if device not in _DLPACK_HOST:
        raise TypeError(
            f"invalid {name} = a {type(a).__name__} on DLPack device type {device}: byzagg "
            "reads host memory (type 1) and CUDA tensors (type 2) whole, not rows or layers "
            "on a device"
        )
    try:
        return np.from_dlpack(a)
    except (BufferError, TypeError, RuntimeError):
        return np.asarray(a)  # a dtype DLPack cannot carry to numpy (e.g. bfloat16)


def as_float32(a: Any, name: str) -> np.ndarray:
    """``a`` as a C-contiguous float32 array: the same memory when it already is one."""
    arr = _host_array(a, name)
    if arr.dtype == np.float32 and arr.flags.c_contiguous:
        return arr
    if arr.dtype.kind not in _NUMERIC:
        what = f"dtype = {arr.dtype}" if arr.dtype.kind != "O" else f"of type {type(a).__name__}"
        raise TypeError(
            f"invalid {name} {what}: must be an array of a real numeric dtype (numpy, a tensor, "
            "or any object with __dlpack__)"
        )
    # np.asarray with order="C", not np.ascontiguousarray, which makes a 0-dim array 1-dim:
    # a 0-dim layer (a BatchNorm's num_batches_tracked) must come back with shape ().
    with np.errstate(over="ignore", invalid="ignore"):
        return np.asarray(arr, dtype=np.float32, order="C")


def as_weights(weights: Any) -> np.ndarray | None:
    """Weights as a contiguous 1-D float64 array (the crate checks count and values)."""
    if weights is None:
        return None
    w = np.asarray(weights, dtype=np.float64, order="C")
    if w.ndim != 1:
        raise ValueError(f"invalid weights = an array of shape {w.shape}: must be 1-D, one per row")
    return w


def as_root(root: Any, layers: Layers | None) -> np.ndarray | None:
    """FLTrust's root update as a C-contiguous 1-D float32 array of the rows' length (the
    crate checks the length and that every value is finite). For layered input the root may
    come in the clients' layered form (the same layers and shapes), flattened the same way."""
    if root is None:
        return None
    if layers is not None and is_layered([root]):
        parsed = Layers([root])
        if parsed.names != layers.names or parsed.shapes != layers.shapes:
            raise ValueError(
                f"invalid root = layers {_keys(root)} of shapes {parsed.shapes}: must have "
                f"the layers of the clients, {layers.names or len(layers.shapes)} of shapes "
                f"{layers.shapes}"
            )
        return np.concatenate(parsed.clients[0]) if parsed.clients[0] else None
    g = as_float32(root, "root")
    if g.ndim != 1:
        raise ValueError(f"invalid root = an array of shape {g.shape}: must be 1-D, length d")
    return g


def is_layered(x: Any) -> bool:
    """Whether ``x`` is a sequence of clients each holding several layers (a list, tuple or
    mapping of arrays), rather than a matrix or a sequence of 1-D rows."""
    if isinstance(x, (np.ndarray, str, bytes)) or not isinstance(x, Sequence) or len(x) == 0:
        return False
    first = x[0]
    return isinstance(first, Mapping) or (
        isinstance(first, Sequence) and not isinstance(first, (str, bytes))
    )


def matrix_or_rows(x: Any) -> tuple[str, Any]:
    """``("matrix", array)`` for a 2-D array, ``("rows", [array, ...])`` for 1-D rows."""
    if isinstance(x, Sequence) and not isinstance(x, (str, bytes)):
        if len(x) == 0:
            raise ValueError("invalid n = 0: a batch needs at least one row")
        rows = [as_float32(r, "x") for r in x]
        for i, r in enumerate(rows):
            if r.ndim != 1:
                raise ValueError(f"invalid x = row {i} of shape {r.shape}: every row must be 1-D")
        return "rows", rows
    m = as_float32(x, "x")
    if m.ndim != 2:
        raise ValueError(f"invalid x = an array of shape {m.shape}: must be 2-D, (n rows, d)")
    return "matrix", m


class Layers:
    """Layered input: each client's layers flattened (views where the input is C-contiguous
    float32), with the layer names (None for sequences) and shapes of client 0."""

    def __init__(self, x: Sequence[Any]):
        first = x[0]
        self.names: list[Any] | None = list(first.keys()) if isinstance(first, Mapping) else None
        self.clients: list[list[np.ndarray]] = []
        self.shapes: list[tuple[int, ...]] = []
        for i, client in enumerate(x):
            if self.names is not None:
                if not isinstance(client, Mapping) or list(client.keys()) != self.names:
                    raise ValueError(
                        f"invalid x = client {i} with layers {_keys(client)}: every client "
                        f"must have the layers of client 0, {self.names}"
                    )
                layers = list(client.values())
            else:
                layers = list(client)
            arrays = [as_float32(a, "x") for a in layers]
            if i == 0:
                self.shapes = [a.shape for a in arrays]
            self.clients.append([a.reshape(-1) for a in arrays])
        self.d = sum(int(np.prod(s, dtype=np.int64)) for s in self.shapes)

    def split(self, flat: np.ndarray) -> Any:
        """The flat aggregate as views with the layer shapes (a dict if the input had names)."""
        parts = []
        offset = 0
        for shape in self.shapes:
            size = int(np.prod(shape, dtype=np.int64))
            parts.append(flat[offset : offset + size].reshape(shape))
            offset += size
        if self.names is not None:
            return dict(zip(self.names, parts))
        return parts


def _keys(client: Any) -> Any:
    return list(client.keys()) if isinstance(client, Mapping) else type(client).__name__


def output(out: Any, d: int) -> np.ndarray:
    """The caller's ``out`` checked (1-D float32, contiguous, writable, length d), or a new one."""
    if out is None:
        return np.empty(d, dtype=np.float32)
    if not isinstance(out, np.ndarray) or out.dtype != np.float32 or out.ndim != 1:
        raise ValueError(f"invalid out = {_describe(out)}: must be a 1-D float32 numpy array")
    if not (out.flags.c_contiguous and out.flags.writeable):
        raise ValueError(
            "invalid out = a non-contiguous or read-only array: must be contiguous and writable"
        )
    if out.shape[0] != d:
        raise ValueError(f"invalid out = length {out.shape[0]}: must have length d = {d}")
    return out


def _describe(a: Any) -> str:
    if isinstance(a, np.ndarray):
        return f"an array of dtype {a.dtype} and shape {a.shape}"
    return f"a {type(a).__name__}"
