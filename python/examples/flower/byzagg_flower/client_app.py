"""The ClientApp: trains the model on its partition, or, on a Byzantine SuperNode, attacks.

A SuperNode's node config names its partition (``partition-id``, ``num-partitions``) and,
for a Byzantine one, its ``attack``: ``"nan"`` sends a model of NaN, ``"flip"`` sends the
honest update sign-flipped and scaled by 50 (``global - 50 * (local - global)``). Both report
the example count of an honest client, so FedAvg weighs them fully.
"""

from __future__ import annotations

import numpy as np
from flwr.app import Array, ArrayRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp

from byzagg_flower import task

app = ClientApp()

FLIP_SCALE = 50.0


@app.train()
def train(msg: Message, context: Context) -> Message:
    """One round of local training on this node's partition (or the node's attack)."""
    arrays = msg.content["arrays"]
    model = {name: np.asarray(arrays[name].numpy()) for name in arrays.keys()}
    run = context.run_config
    x, y = task.partition(
        str(run["data-dir"]),
        int(context.node_config["partition-id"]),
        int(context.node_config["num-partitions"]),
    )
    local = task.train(model, x, y, int(run["local-epochs"]), float(run["lr"]))
    attack = str(context.node_config.get("attack", "none")) if run["attack"] else "none"
    if attack == "nan":
        local = {k: np.full_like(v, np.nan) for k, v in local.items()}
    elif attack == "flip":
        local = {k: model[k] - FLIP_SCALE * (v - model[k]) for k, v in local.items()}
    elif attack != "none":
        raise ValueError(f"invalid attack = {attack!r}: expected 'none', 'nan' or 'flip'")
    content = RecordDict(
        {
            "arrays": ArrayRecord({k: Array(v.astype(np.float32)) for k, v in local.items()}),
            "metrics": MetricRecord({"num-examples": len(y)}),
        }
    )
    return Message(content=content, reply_to=msg)
