"""byzagg.torch: tensors in, tensors out; runs where torch is installed, else skips."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from conftest import batch, skip_or_fail

import byzagg
import byzagg.torch


def torch_or_skip():
    try:
        import torch
    except ImportError:
        skip_or_fail("torch", "torch is not installed (pip install torch to run these tests)")
    return torch


def test_without_torch_the_error_says_how_to_get_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # makes `import torch` raise ImportError
    with pytest.raises(ImportError, match="pip install torch"):
        byzagg.torch.aggregate([[1.0]], "cwmed")


@pytest.mark.parametrize("rule", ["cwmed", "krum(f=2)", "ctma(gm,f=2)"])
def test_tensor_forms_equal_the_numpy_result(rule):
    torch = torch_or_skip()
    x = batch(9, 500, seed=8)
    x[2] = np.nan
    expected = byzagg.aggregate(x, rule, backend="cpu")
    matrix = byzagg.torch.aggregate(torch.from_numpy(x), rule, backend="cpu")
    rows = byzagg.torch.aggregate(list(torch.from_numpy(x)), rule, backend="cpu")
    assert isinstance(matrix, torch.Tensor) and matrix.dtype == torch.float32
    np.testing.assert_array_equal(matrix.numpy(), expected)
    np.testing.assert_array_equal(rows.numpy(), expected)


def test_weights_as_a_tensor_and_float64_rows():
    torch = torch_or_skip()
    x = batch(5, 100, seed=3)
    w = [1.0, 3.0, 1.0, 2.0, 1.0]
    expected = byzagg.aggregate(x, "cwmed", weights=w, backend="cpu")
    got = byzagg.torch.aggregate(
        torch.from_numpy(x).double(), "cwmed", weights=torch.tensor(w), backend="cpu"
    )
    np.testing.assert_array_equal(got.numpy(), expected)


def test_cuda_tensors_are_read_on_their_gpu():
    # Needs a CUDA device (the GPU machine's check runs it); skipped elsewhere.
    torch = torch_or_skip()
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device for torch")
    x = batch(9, 1001, seed=5)
    x[2] = np.nan
    w = np.arange(1.0, 10.0)
    rows = torch.from_numpy(x).cuda()
    for rule in ("cwmed", "ctma(cwmed,f=2)", "krum(f=2)"):
        got = byzagg.torch.aggregate(rows, rule, weights=w)
        assert got.device == rows.device
        want = byzagg.aggregate(x, rule, weights=w, backend="cpu")
        np.testing.assert_allclose(got.cpu().numpy(), want, rtol=1e-5, atol=1e-6, err_msg=rule)
    listed = byzagg.torch.aggregate(list(rows), "cwmed")
    np.testing.assert_array_equal(listed.cpu().numpy(), byzagg.aggregate(x, "cwmed"))
    with pytest.raises(ValueError, match="backend"):
        byzagg.torch.aggregate(rows, "cwmed", backend="cpu")


def test_the_device_path_says_when_cuda_is_missing():
    # The native entry point of CUDA tensors, called with a dummy pointer where no CUDA driver
    # exists: a clear BackendUnavailable, never a crash.
    from byzagg import _byzagg

    if any(dev.get("backend") == "cuda" and dev.get("available") for dev in byzagg.devices()):
        pytest.skip("a CUDA device is present: the GPU test above covers the device path")
    agg = byzagg.Aggregator("cwmed", backend="cpu")
    out = np.empty(4, dtype=np.float32)
    with pytest.raises(byzagg.BackendUnavailable):
        _byzagg.aggregate_cuda(agg._native, [256], 4, 0, 0, None, out)


def test_the_collectives_take_the_host_path_for_cpu_tensors():
    # backend="auto" (the collectives' default) sends only CUDA rows to the device path; CPU
    # rows (gloo) stay on the host backend, which every rank has. The device path runs in
    # scripts/ddp_cuda_check.py on a GPU.
    torch = torch_or_skip()
    from byzagg.torch.distributed import _Reducer

    x = batch(7, 64, seed=9)
    rows = list(torch.from_numpy(x))
    for backend in ("auto", "cpu"):
        reducer = _Reducer("krum(f=2)", None, None, backend)
        assert reducer.path(rows) == "host" and reducer.host.backend == "cpu"
        got = reducer(torch, rows)
        np.testing.assert_array_equal(got.numpy(), byzagg.aggregate(x, "krum(f=2)", backend="cpu"))
    assert _Reducer("cwmed", None, None, "cpu")._cuda() is None  # "cpu" never opens CUDA
