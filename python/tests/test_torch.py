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


def test_cuda_tensors_are_refused_clearly():
    torch = torch_or_skip()
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device for torch")
    with pytest.raises(NotImplementedError, match="cuda"):
        byzagg.torch.aggregate(torch.zeros(5, 3, device="cuda"), "cwmed")
