"""A real Flower federation on localhost (SuperLink, SuperNodes, `flwr run`): 6 clients train
logistic regression on the shipped MNIST split, 2 of them Byzantine (one sends NaN, one its
update sign-flipped and scaled by 50). FedAvg's model is destroyed; ByzaggStrategy's stays
finite and within a few points of the attack-free run's accuracy.

The federation is python/examples/flower (its run.py starts the processes)."""

from __future__ import annotations

import importlib.util
import sys

from conftest import REPO, skip_or_fail

EXAMPLE = REPO / "python" / "examples" / "flower"
ROUNDS = 2


def example():
    try:
        import flwr  # noqa: F401
    except ImportError:
        skip_or_fail("flwr", "flwr is not installed (pip install flwr to run the federation)")
    if not sys.platform.startswith("linux"):
        skip_or_fail("flwr", f"the local federation runs on Linux only, not {sys.platform}")
    spec = importlib.util.spec_from_file_location("flower_example_run", EXAMPLE / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def final_accuracy(result: dict) -> float:
    return result["accuracy"][str(max(int(r) for r in result["accuracy"]))]


def test_byzantine_clients_destroy_fedavg_but_not_byzagg(tmp_path):
    run = example()
    rounds = {"num-server-rounds": ROUNDS}
    with run.federation(logs=tmp_path) as fed:
        clean = fed.run(rule="mean", attack=False, **rounds)
        fedavg = fed.run(rule="mean", attack=True, **rounds)
        robust = fed.run(rule="ctma(cwmed)", attack=True, **rounds)
    print(
        f"accuracy after {ROUNDS} rounds: FedAvg without attack {final_accuracy(clean):.3f}, "
        f"FedAvg attacked {final_accuracy(fedavg):.3f}, "
        f"byzagg ctma(cwmed) attacked {final_accuracy(robust):.3f}"
    )
    # The attack-free run learns (chance is 0.1), so the comparison below means something.
    assert clean["finite"] and final_accuracy(clean) > 0.7
    # One NaN client makes FedAvg's average NaN (accuracy counts a non-finite model as 0).
    assert not fedavg["finite"]
    assert final_accuracy(fedavg) < 0.2
    # The robust rule ignores both Byzantine clients and learns from the 4 honest ones.
    assert robust["finite"]
    assert final_accuracy(robust) > final_accuracy(clean) - 0.05
