"""A Flower strategy that aggregates the clients' models with a byzagg rule.

For Flower 1.x's message-based ``ServerApp`` API (``flwr.serverapp.strategy``):

    from byzagg.flwr import ByzaggStrategy

    strategy = ByzaggStrategy("ctma(cwmed)", f=2, min_train_nodes=6)
    result = strategy.start(grid=grid, initial_arrays=arrays, num_rounds=10)

Flower is imported when this module is imported (``pip install flwr``); byzagg itself does not
need it.
"""

from __future__ import annotations

from collections.abc import Iterable
from logging import INFO, WARNING
from typing import Any

import numpy as np

import byzagg

try:
    from flwr.app import Array, ArrayRecord, Message, MetricRecord, RecordDict
    from flwr.common.logger import log
    from flwr.serverapp.strategy import FedAvg
except ImportError as e:  # pragma: no cover - exercised where flwr is absent
    raise ImportError("byzagg.flwr needs Flower 1.x: pip install flwr") from e


class ByzaggStrategy(FedAvg):
    """FedAvg with the average replaced by a byzagg rule.

    Each client's ArrayRecord (its model layers, in order) is one row; the rule sees the layers
    end to end as one vector, and the aggregate goes back as an ArrayRecord with the same keys,
    shapes and dtypes. Sampling, configuration, metric aggregation and evaluation are FedAvg's.

    Args:
        rule: a byzagg rule, e.g. ``"ctma(cwmed)"``, ``"krum"``, ``"cwtm"``, ``"gm"``.
        f: the number of Byzantine clients, for rules that leave it out of their text.
        lam: the Byzantine share of the total weight, instead of ``f``.
        backend: the byzagg backend (``"auto"``, ``"cpu"``, ``"cuda"``, ...).
        weights: ``"examples"`` (default: each client's ``weighted_by_key`` metric, the
            number of training examples, as FedAvg), ``"uniform"``, or the name of another
            metric the clients report (e.g. the number of local updates in asynchronous
            setups). A client's reported weight is client data: a non-finite or negative one
            is logged and counts as 0, so a Byzantine client cannot stop the round with it
            (it can still claim a large weight: use ``"uniform"`` where counts are untrusted).
        **fedavg: every other FedAvg argument (``min_train_nodes``, ``fraction_train``, ...).

    Raises:
        ValueError, byzagg.BackendUnavailable: bad rule text or parameters, missing backend.
    """

    def __init__(
        self,
        rule: str = "ctma(cwmed)",
        *,
        f: int | None = None,
        lam: float | None = None,
        backend: str = "auto",
        weights: str = "examples",
        **fedavg: Any,
    ) -> None:
        super().__init__(**fedavg)
        self.aggregator = byzagg.Aggregator(rule, backend=backend, f=f, lam=lam)
        self.weights = weights

    def summary(self) -> None:
        """Logs FedAvg's summary and the rule."""
        super().summary()
        log(INFO, "\t└──> byzagg rule: %s", self.aggregator.rule)

    def aggregate_train(
        self, server_round: int, replies: Iterable[Message]
    ) -> tuple[ArrayRecord | None, MetricRecord | None]:
        """Aggregates the clients' ArrayRecords with the rule, their metrics as FedAvg does."""
        valid, _ = self._check_and_log_replies(replies, is_train=True)
        if not valid:
            return None, None
        contents = [msg.content for msg in valid]
        key = next(iter(contents[0].array_records))
        names = list(contents[0][key].keys())
        clients = [[np.asarray(c[key][name].numpy()) for name in names] for c in contents]
        parts = self.aggregator.aggregate(clients, weights=self.client_weights(contents))
        arrays = ArrayRecord()
        for name, like, part in zip(names, clients[0], parts):
            dtype = like.dtype if like.dtype.kind == "f" else np.float32
            arrays[name] = Array(np.asarray(part, dtype=dtype))
        metrics = self.train_metrics_aggr_fn(contents, self.weighted_by_key)
        return arrays, metrics

    def client_weights(self, contents: list[RecordDict]) -> list[float] | None:
        """One weight per reply, as ``weights`` says (None for uniform)."""
        if self.weights == "uniform":
            return None
        metric = self.weighted_by_key if self.weights == "examples" else self.weights
        found = []
        for i, content in enumerate(contents):
            values = [m[metric] for m in content.metric_records.values() if metric in m]
            if not values:
                raise ValueError(
                    f"invalid weights = {metric!r}: reply {i} has no metric of that name"
                )
            w = float(values[0])
            if not (np.isfinite(w) and w >= 0):
                log(WARNING, "byzagg: reply %s reported %s = %s; it counts as 0", i, metric, w)
                w = 0.0
            found.append(w)
        return found
