"""Any object with ``__dlpack__`` / ``__dlpack_device__`` is input: host memory read in place,
CUDA data sent to the CUDA backend, anything else a TypeError naming what was given."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from conftest import batch

import byzagg
from byzagg import _inputs


class OnlyDLPack:
    """A producer that exports DLPack and nothing else (no __array__, no buffer protocol):
    what a library numpy does not know looks like to byzagg."""

    def __init__(self, a: Any, device: tuple[int, int] = (1, 0)):
        self._a = a
        self._device = device

    def __dlpack__(self, stream: Any = None, **kwargs: Any) -> Any:
        return self._a.__dlpack__()

    def __dlpack_device__(self) -> tuple[int, int]:
        return self._device


needs_from_dlpack = pytest.mark.skipif(
    not hasattr(np, "from_dlpack"), reason="numpy < 1.22 has no from_dlpack"
)


@needs_from_dlpack
def test_a_host_dlpack_matrix_is_read_in_place():
    x = batch(9, 33, seed=2)
    wrapped = OnlyDLPack(x)
    assert np.shares_memory(_inputs.as_float32(wrapped, "x"), x)
    np.testing.assert_array_equal(
        byzagg.aggregate(wrapped, "cwmed", backend="cpu"), np.median(x, axis=0)
    )


@needs_from_dlpack
def test_host_dlpack_rows_and_other_dtypes():
    x = batch(7, 16, seed=4)
    rows = [OnlyDLPack(r) for r in x]
    np.testing.assert_array_equal(
        byzagg.aggregate(rows, "krum(f=2)", backend="cpu"),
        byzagg.aggregate(x, "krum(f=2)", backend="cpu"),
    )
    as64 = OnlyDLPack(x.astype(np.float64))
    np.testing.assert_array_equal(
        byzagg.aggregate(as64, "cwmed", backend="cpu"), np.median(x, axis=0)
    )


def test_torch_cpu_tensors_are_read_in_place_through_dlpack():
    torch = pytest.importorskip("torch")
    t = torch.randn(6, 10)
    assert np.shares_memory(_inputs.as_float32(t, "x"), t.numpy())
    np.testing.assert_array_equal(
        byzagg.aggregate(OnlyDLPack(t), "cwmed", backend="cpu"),
        np.median(t.numpy(), axis=0),
    )


def test_cuda_dlpack_data_goes_to_the_cuda_backend():
    # A producer on CUDA (device type 2): a host backend refuses it by name instead of reading
    # device memory as host memory.
    fake = OnlyDLPack(batch(3, 4), device=(2, 0))
    assert _inputs.on_cuda(fake) and _inputs.on_cuda([fake])
    with pytest.raises(ValueError, match="cuda"):
        byzagg.aggregate(fake, "cwmed", backend="cpu")


def test_auto_sends_cuda_dlpack_data_to_the_cuda_backend(monkeypatch):
    # backend="auto" follows the data: the Aggregator it opens for CUDA rows is a cuda one
    # (where no GPU is, opening it fails; the choice is what this test checks).
    opened = []

    class Recording(byzagg.Aggregator):
        def __init__(self, rule, backend="auto", **kw):
            opened.append(backend)
            raise RuntimeError("stop before opening a backend")

    monkeypatch.setattr(byzagg, "Aggregator", Recording)
    fake = OnlyDLPack(batch(3, 4), device=(2, 0))
    for x in (fake, [fake]):
        with pytest.raises(RuntimeError, match="stop before"):
            byzagg.aggregate(x, "cwmed")
    with pytest.raises(RuntimeError, match="stop before"):
        byzagg.aggregate(batch(3, 4), "cwmed")
    assert opened == ["cuda", "cuda", "auto"]


def test_other_devices_and_objects_are_type_errors_naming_them():
    with pytest.raises(TypeError, match="OnlyDLPack on DLPack device type 4"):
        byzagg.aggregate(OnlyDLPack(batch(3, 4), device=(4, 0)), backend="cpu")
    with pytest.raises(TypeError, match="of type dict"):
        byzagg.aggregate({"rows": 1}, backend="cpu")
    with pytest.raises(TypeError, match="of type object"):
        byzagg.aggregate(object(), backend="cpu")


@pytest.mark.parametrize("module", ["jax.numpy", "cupy"])
def test_other_producers_where_installed(module):
    xp = pytest.importorskip(module)
    x = batch(5, 8, seed=1)
    arr = xp.asarray(x)
    got = byzagg.aggregate(arr, "cwmed")
    np.testing.assert_allclose(got, np.median(x, axis=0), rtol=0, atol=0)
