"""The model and data both sides share: numpy logistic regression on the shipped MNIST split."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

CLASSES = 10
PIXELS = 28 * 28
# The shipped test split (10,000 images), split seeded as `byzagg train --task mnist` does it:
# the first HELD_OUT images of the permutation are the server's test set, the rest train.
HELD_OUT = 2000
SEED = 0


def load(data_dir: str) -> tuple[np.ndarray, np.ndarray]:
    """MNIST's t10k images (float32 in [0, 1], shape (10000, 784)) and labels (int64)."""
    folder = Path(data_dir)
    with gzip.open(folder / "t10k-images-idx3-ubyte.gz") as f:
        images = np.frombuffer(f.read(), np.uint8, offset=16)
    with gzip.open(folder / "t10k-labels-idx1-ubyte.gz") as f:
        labels = np.frombuffer(f.read(), np.uint8, offset=8)
    x = images.reshape(-1, PIXELS).astype(np.float32) / 255.0
    return x, labels.astype(np.int64)


def split(data_dir: str) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """(train, held-out) pairs of images and labels, the same on every node."""
    x, y = load(data_dir)
    order = np.random.default_rng(SEED).permutation(len(y))
    test, train = order[:HELD_OUT], order[HELD_OUT:]
    return (x[train], y[train]), (x[test], y[test])


def partition(data_dir: str, index: int, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Client ``index`` of ``count``: its contiguous share of the training images."""
    (x, y), _ = split(data_dir)
    parts = np.array_split(np.arange(len(y)), count)
    return x[parts[index]], y[parts[index]]


def initial_model() -> dict[str, np.ndarray]:
    """Zero weights: every run starts from the same model."""
    return {
        "w": np.zeros((PIXELS, CLASSES), np.float32),
        "b": np.zeros(CLASSES, np.float32),
    }


def train(
    model: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray, epochs: int, lr: float
) -> dict[str, np.ndarray]:
    """Full-batch gradient descent on the softmax cross-entropy; returns the new model."""
    w, b = model["w"].astype(np.float32).copy(), model["b"].astype(np.float32).copy()
    onehot = np.eye(CLASSES, dtype=np.float32)[y]
    for _ in range(epochs):
        p = softmax(x @ w + b)
        grad = (p - onehot) / len(y)
        w -= lr * (x.T @ grad)
        b -= lr * grad.sum(axis=0)
    return {"w": w, "b": b}


def accuracy(model: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray) -> float:
    """The share of correctly classified images (0 for a model with non-finite parameters)."""
    if not all(np.isfinite(v).all() for v in model.values()):
        return 0.0
    return float(((x @ model["w"] + model["b"]).argmax(axis=1) == y).mean())


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)
