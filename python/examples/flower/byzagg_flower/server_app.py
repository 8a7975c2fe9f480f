"""The ServerApp: FedAvg (``rule = "mean"``) or byzagg's ByzaggStrategy, evaluated centrally.

Every client trains each round (``min_train_nodes`` waits for all of them, so the f Byzantine
clients are always in the batch); the server scores each round's model on the held-out images
and, where ``result-file`` is set, writes the accuracies and the final model there.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from flwr.app import Array, ArrayRecord, ConfigRecord, Context, MetricRecord
from flwr.serverapp import Grid, ServerApp
from flwr.serverapp.strategy import FedAvg

from byzagg_flower import task

app = ServerApp()


@app.main()
def main(grid: Grid, context: Context) -> None:
    run = context.run_config
    rule, f = str(run["rule"]), int(run["f"])
    nodes = int(run["num-clients"])
    common = {
        "fraction_train": 1.0,
        "fraction_evaluate": 0.0,
        "min_train_nodes": nodes,
        "min_available_nodes": nodes,
    }
    if rule == "mean":
        strategy = FedAvg(**common)
    else:
        from byzagg.flwr import ByzaggStrategy

        strategy = ByzaggStrategy(rule, f=f, **common)

    _, (x_test, y_test) = task.split(str(run["data-dir"]))

    def evaluate(server_round: int, arrays: ArrayRecord) -> MetricRecord:
        model = {name: np.asarray(arrays[name].numpy()) for name in arrays.keys()}
        return MetricRecord({"accuracy": task.accuracy(model, x_test, y_test)})

    initial = ArrayRecord({k: Array(v) for k, v in task.initial_model().items()})
    result = strategy.start(
        grid=grid,
        initial_arrays=initial,
        num_rounds=int(run["num-server-rounds"]),
        train_config=ConfigRecord({}),
        evaluate_fn=evaluate,
    )
    final = {name: np.asarray(result.arrays[name].numpy()) for name in result.arrays.keys()}
    accuracies = {
        int(r): float(m["accuracy"]) for r, m in result.evaluate_metrics_serverapp.items()
    }
    out = str(run["result-file"])
    if out:
        np.savez(Path(out).with_suffix(".npz"), **final)
        summary = {
            "rule": rule,
            "attack": bool(run["attack"]),
            "accuracy": accuracies,
            "finite": all(bool(np.isfinite(v).all()) for v in final.values()),
        }
        Path(out).write_text(json.dumps(summary), encoding="utf-8")
