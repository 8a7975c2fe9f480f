"""byzagg.torch.distributed on real process groups: 4 ranks over gloo, one of them Byzantine.

The ranks are separate processes (python/tests/distributed_worker.py) joined over TCP on the
loopback, or, where network namespaces can be made, each rank on a host of its own behind a
veth pair, so the traffic crosses a real network stack. Every result is compared against
single-process byzagg on the same rows.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import skip_or_fail

WORLD = 4
HONEST = [0, 1, 2]
WORKER = Path(__file__).with_name("distributed_worker.py")
TIMEOUT = 600


def _torch_or_skip():
    try:
        import torch
        import torch.distributed as dist
    except ImportError:
        skip_or_fail("torch", "PyTorch is not installed (pip install torch)")
    if not dist.is_available() or not dist.is_gloo_available():
        skip_or_fail("torch", "this PyTorch build has no gloo process group")
    return torch


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _launch(out: Path, init: str, prefix: list[list[str]] | None = None) -> None:
    """Runs the WORLD ranks; ``prefix[r]`` wraps rank r's command (e.g. ``ip netns exec``)."""
    env = dict(os.environ, OMP_NUM_THREADS="1", RAYON_NUM_THREADS="1")
    procs = [
        subprocess.Popen(
            [
                *(prefix[r] if prefix else []),
                sys.executable,
                str(WORKER),
                init,
                str(r),
                str(WORLD),
                str(out),
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for r in range(WORLD)
    ]
    logs = []
    for r, p in enumerate(procs):
        try:
            text, _ = p.communicate(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
            pytest.fail(f"rank {r} did not finish within {TIMEOUT} s")
        logs.append(f"--- rank {r} (exit {p.returncode}) ---\n{text}")
    if any(p.returncode != 0 for p in procs):
        pytest.fail("a rank failed:\n" + "\n".join(logs))


def _results(out: Path) -> list[dict[str, np.ndarray]]:
    return [dict(np.load(out / f"rank{r}.npz")) for r in range(WORLD)]


@pytest.fixture(scope="module")
def loopback(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, np.ndarray]]:
    _torch_or_skip()
    out = tmp_path_factory.mktemp("loopback")
    _launch(out, f"tcp://127.0.0.1:{_free_port()}")
    return _results(out)


@pytest.fixture(scope="module")
def worker():
    _torch_or_skip()
    sys.path.insert(0, str(WORKER.parent))
    import distributed_worker

    return distributed_worker


def _check_all_reduce(results, worker) -> None:
    import byzagg

    for attack in ("nan", "flip"):
        rows = [worker.gradient(r, attack).numpy() for r in range(WORLD)]
        for rule in worker.ALL_REDUCE_RULES:
            expected = byzagg.aggregate(rows, rule, backend="cpu")
            assert np.all(np.isfinite(expected)), rule
            for r in HONEST:
                got = results[r][f"all_reduce/{attack}/{rule}"]
                np.testing.assert_array_equal(got, expected, err_msg=f"{attack} {rule} rank {r}")
            # The honest values are near 1; the attack would move a plain mean far away.
            assert np.max(np.abs(expected - 1.0)) < 1.0, (attack, rule)
        expected = byzagg.aggregate(rows, "cwmed", weights=[1, 2, 3, 4], backend="cpu")
        for r in HONEST:
            np.testing.assert_array_equal(results[r][f"all_reduce_weighted/{attack}"], expected)


def _check_sharded(results, worker) -> None:
    import byzagg

    rows = np.concatenate([worker.held_rows(r).numpy() for r in range(WORLD)])
    weights = np.concatenate(
        [[1.0 + r + i for i in range(worker.held_rows(r).shape[0])] for r in range(WORLD)]
    )
    exact = {"cwmed", "mean", "krum(f=2)"}  # order statistics and selections: same bits
    for rule in worker.SHARDED_RULES:
        for key, w in ((f"sharded/{rule}", None), (f"sharded_weighted/{rule}", weights)):
            expected = byzagg.aggregate(rows, rule, weights=w, backend="cpu")
            for r in range(WORLD):  # every holder returns the whole result
                got = results[r][key]
                np.testing.assert_array_equal(got, results[0][key], err_msg=f"{key} rank {r}")
                if rule in exact:
                    np.testing.assert_array_equal(got, expected, err_msg=key)
                else:
                    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5, err_msg=key)
            if rule != "mean":  # the mean is not robust: it takes the NaN row
                assert np.all(np.isfinite(results[0][key])), key


def _check_ddp(results) -> None:
    before, plain = results[0]["ddp/None"]
    for hook in ("cwmed", "ctma(cwmed,f=1)"):
        losses = [results[r][f"ddp/{hook}"][1] for r in HONEST]
        assert losses[0] == losses[1] == losses[2], f"replicas diverged under {hook}: {losses}"
        # Trained: the clean loss falls to under 2% of the untrained model's.
        assert losses[0] < 0.02 * before, f"{hook}: loss {losses[0]} from {before}"
    assert not plain < before, f"plain DDP survived the attack (loss {plain} from {before})"


def test_robust_all_reduce_equals_single_process_byzagg(loopback, worker) -> None:
    _check_all_reduce(loopback, worker)


def test_sharded_aggregate_equals_single_process_byzagg(loopback, worker) -> None:
    _check_sharded(loopback, worker)


def test_ddp_hook_trains_where_plain_ddp_is_destroyed(loopback) -> None:
    _check_ddp(loopback)


def _netns_or_skip() -> None:
    if shutil.which("ip") is None:
        skip_or_fail("netns", "iproute2's `ip` is not installed")
    probe = subprocess.run(["ip", "netns", "add", "byzagg-probe"], capture_output=True, text=True)
    if probe.returncode != 0:
        skip_or_fail("netns", f"cannot make network namespaces here: {probe.stderr.strip()}")
    subprocess.run(["ip", "netns", "del", "byzagg-probe"], check=True)


def test_ranks_on_separate_network_hosts(tmp_path: Path, worker) -> None:
    """The same scenarios with each rank in a network namespace of its own, joined by veth
    pairs to a bridge: the collectives cross a real network stack, not the loopback."""
    _netns_or_skip()
    tag = f"{os.getpid() % 10000}"
    bridge = f"byzbr{tag}"
    names = [f"byz{tag}r{r}" for r in range(WORLD)]

    def ip(*args: str) -> None:
        subprocess.run(["ip", *args], check=True, capture_output=True)

    try:
        ip("link", "add", bridge, "type", "bridge")
        ip("link", "set", bridge, "up")
        for r, ns in enumerate(names):
            ip("netns", "add", ns)
            ip("link", "add", f"{ns}h", "type", "veth", "peer", "name", "eth0", "netns", ns)
            ip("link", "set", f"{ns}h", "master", bridge)
            ip("link", "set", f"{ns}h", "up")
            ip("-n", ns, "addr", "add", f"10.213.0.{r + 1}/24", "dev", "eth0")
            ip("-n", ns, "link", "set", "eth0", "up")
            ip("-n", ns, "link", "set", "lo", "up")
        os.environ["GLOO_SOCKET_IFNAME"] = "eth0"
        try:
            _launch(
                tmp_path,
                "tcp://10.213.0.1:29517",
                prefix=[["ip", "netns", "exec", ns] for ns in names],
            )
        finally:
            del os.environ["GLOO_SOCKET_IFNAME"]
    finally:
        for ns in names:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        subprocess.run(["ip", "link", "del", bridge], capture_output=True)
    results = _results(tmp_path)
    _check_all_reduce(results, worker)
    _check_sharded(results, worker)
    _check_ddp(results)
