"""byzagg.flwr.ByzaggStrategy on real Flower messages; runs where flwr is installed."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import skip_or_fail

try:
    from flwr.app import Array, ArrayRecord, Message, MetricRecord, RecordDict
except ImportError:
    Message = None


def strategy_module():
    if Message is None:
        skip_or_fail("flwr", "flwr is not installed (pip install flwr to run these tests)")
    from flwr.supercore.task_identity import TaskIdentity

    import byzagg.flwr

    # What Flower's ServerApp runtime sets before a strategy builds or reads messages.
    TaskIdentity.task_id, TaskIdentity.run_id, TaskIdentity.node_id = 1, 1, 1

    return byzagg.flwr


def reply(layers: dict[str, np.ndarray], examples: float, updates: float = 1.0) -> Message:
    """A training reply as a client sends it: its model and its metrics."""
    content = RecordDict(
        {
            "arrays": ArrayRecord({k: Array(v) for k, v in layers.items()}),
            "metrics": MetricRecord({"num-examples": examples, "updates": updates}),
        }
    )
    request = Message(content=RecordDict(), dst_node_id=1, message_type="train")
    return Message(content=content, reply_to=request)


def federation(seed: int = 0) -> tuple[dict[str, np.ndarray], list[Message]]:
    """Six honest clients near a model, one sending NaN, one sign-flipped and scaled."""
    rng = np.random.default_rng(seed)
    model = {"w": rng.standard_normal((4, 3)), "b": rng.standard_normal(3)}
    replies = [
        reply({k: v + 0.01 * rng.standard_normal(v.shape) for k, v in model.items()}, 100)
        for _ in range(6)
    ]
    replies.append(reply({k: np.full_like(v, np.nan) for k, v in model.items()}, 100))
    replies.append(reply({k: -50.0 * v for k, v in model.items()}, 100))
    return model, replies


@pytest.mark.parametrize("rule", ["ctma(cwmed)", "cwtm", "krum", "gm"])
def test_byzantine_clients_do_not_move_the_model(rule):
    flwr_mod = strategy_module()
    model, replies = federation()
    strategy = flwr_mod.ByzaggStrategy(rule, f=2, backend="cpu")
    arrays, metrics = strategy.aggregate_train(1, replies)
    assert list(arrays.keys()) == ["w", "b"]
    for k, v in model.items():
        got = arrays[k].numpy()
        assert got.shape == v.shape and got.dtype == v.dtype
        np.testing.assert_allclose(got, v, atol=0.05)
    assert metrics is not None


def test_fedavg_is_destroyed_by_the_same_clients():
    strategy_module()
    from flwr.serverapp.strategy import FedAvg

    _, replies = federation()
    arrays, _ = FedAvg().aggregate_train(1, replies)
    assert not np.isfinite(arrays["w"].numpy()).all()


def test_weights_from_a_named_metric_and_invalid_reported_weights():
    flwr_mod = strategy_module()
    one = {"w": np.zeros(2)}
    replies = [reply(one, 1, updates=1), reply({"w": np.ones(2)}, 1, updates=5)]
    replies.append(reply({"w": np.full(2, 7.0)}, np.nan, updates=1))
    by_updates = flwr_mod.ByzaggStrategy("cwmed", weights="updates", backend="cpu")
    np.testing.assert_array_equal(by_updates.aggregate_train(1, replies)[0]["w"].numpy(), [1, 1])
    by_examples = flwr_mod.ByzaggStrategy("cwmed", backend="cpu")
    assert by_examples.client_weights([r.content for r in replies]) == [1.0, 1.0, 0.0]
    missing = flwr_mod.ByzaggStrategy("cwmed", weights="steps", backend="cpu")
    with pytest.raises(ValueError, match="steps"):
        missing.aggregate_train(1, replies)


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64", "int8", "int32", "int64"])
def test_zero_dim_layers_come_back_with_shape_of_zero_dims(dtype):
    # A BatchNorm's num_batches_tracked is a 0-dim int64 buffer: the aggregate must load back
    # into the model, so it keeps shape () (and the float layers their dtype).
    flwr_mod = strategy_module()
    replies = [
        reply({"w": np.full((2, 2), v), "steps": np.array(v, dtype=dtype)}, 10) for v in (3, 4, 5)
    ]
    for rule in ("cwmed", "krum"):
        arrays, _ = flwr_mod.ByzaggStrategy(rule, f=0, backend="cpu").aggregate_train(1, replies)
        steps = arrays["steps"].numpy()
        assert steps.shape == (), f"{rule}, {dtype}: shape {steps.shape}"
        assert arrays["w"].numpy().shape == (2, 2)
        assert float(steps) in (3.0, 4.0), f"{rule}, {dtype}: {steps}"
