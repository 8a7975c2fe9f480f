#!/usr/bin/env python3
"""A real Flower federation on localhost: 6 clients, 2 of them Byzantine, FedAvg against byzagg.

Starts a SuperLink and one SuperNode per client (insecure, on free local ports, Flower's home in
a temporary folder), then submits this folder's Flower App three times with ``flwr run``:

1. FedAvg with no attack (the Byzantine SuperNodes train honestly): the reference accuracy;
2. FedAvg under attack (one client sends NaN, one its update sign-flipped and scaled by 50);
3. byzagg's ``ByzaggStrategy`` with the robust rule (default ``ctma(cwmed)``, f = 2) under the
   same attack.

Needs ``pip install flwr ./python`` (run from the repository root)::

    python python/examples/flower/run.py [--rule "krum"] [--rounds 5]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

APP = Path(__file__).resolve().parent
DATA = APP.parents[2] / "data" / "mnist"
# The Byzantine SuperNodes' attacks, the rest are honest.
ATTACKS = ("nan", "flip")
CLIENTS = 6


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def flower_tool(name: str) -> str:
    """A Flower command from this interpreter's environment (or PATH)."""
    local = Path(sys.executable).parent / name
    found = str(local) if local.is_file() else shutil.which(name)
    if found is None:
        raise RuntimeError(f"{name} not found: pip install flwr")
    return found


class Federation:
    """A running SuperLink with its SuperNodes; ``run`` submits the App and waits for it."""

    def __init__(self, home: Path, port: int, logs: Path) -> None:
        self.home, self.port, self.logs = home, port, logs
        # Flower's processes start further Flower commands (flower-superexec, flwr-serverapp,
        # flwr-clientapp) by name: this interpreter's environment comes first on PATH.
        path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
        self.env = {**os.environ, "FLWR_HOME": str(home), "PATH": path, "PYTHONUNBUFFERED": "1"}
        # SuperExec looks for a new task every second by default; every round waits for it.
        self.env.setdefault("FLWR_SUPEREXEC_TASK_POLL_INTERVAL", "0.1")

    def run(self, timeout: float = 300, **config: object) -> dict:
        """Runs the App with these run-config overrides; returns the ServerApp's result."""
        result = self.home / f"result-{time.monotonic_ns()}.json"
        config = {"data-dir": str(DATA), "result-file": str(result), **config}
        overrides = " ".join(f"{k}={json.dumps(v)}" for k, v in config.items())
        log = self.logs / f"{result.stem}.log"
        with open(log, "w") as out:
            subprocess.run(
                [flower_tool("flwr"), "run", str(APP), "local", "--stream", "-c", overrides],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=timeout,
                check=True,
            )
        if not result.is_file():
            raise RuntimeError(f"the run wrote no result; its log: {log}")
        return json.loads(result.read_text())


@contextlib.contextmanager
def federation(
    clients: int = CLIENTS, attacks=ATTACKS, logs: Path | None = None
) -> Iterator[Federation]:
    """Starts the SuperLink and ``clients`` SuperNodes (the first ``len(attacks)`` Byzantine)."""
    with tempfile.TemporaryDirectory(prefix="byzagg-flower-") as tmp:
        home = Path(tmp)
        logs = logs or home
        port = free_port()
        (home / "config.toml").write_text(
            f'[superlink]\ndefault = "local"\n\n[superlink.local]\n'
            f'address = "127.0.0.1:{port}"\ninsecure = true\n'
        )
        fed = Federation(home, port, logs)
        procs: list[subprocess.Popen] = []
        try:
            procs.append(
                spawn(
                    [
                        flower_tool("flower-superlink"),
                        "--insecure",
                        "--disable-runtime-dependency-installation",
                        "--host",
                        "127.0.0.1",
                        "--port",
                        str(port),
                    ],
                    fed.env,
                    logs / "superlink.log",
                )
            )
            wait_for_port(port, procs[0], logs / "superlink.log")
            for i in range(clients):
                node = f"partition-id={i} num-partitions={clients}"
                if i < len(attacks):
                    node += f' attack="{attacks[i]}"'
                procs.append(
                    spawn(
                        [
                            flower_tool("flower-supernode"),
                            "--insecure",
                            "--superlink",
                            f"127.0.0.1:{port}",
                            "--host",
                            "127.0.0.1",
                            "--port",
                            str(free_port()),
                            "--node-config",
                            node,
                        ],
                        fed.env,
                        logs / f"supernode-{i}.log",
                    )
                )
            yield fed
        finally:
            for p in reversed(procs):
                p.terminate()
            for p in procs:
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
            stop_leftovers(home)


def wait_for_port(port: int, proc: subprocess.Popen, log: Path, timeout: float = 120) -> None:
    """Waits until the SuperLink accepts connections (it takes seconds to start)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the SuperLink exited ({proc.returncode}); its log: {log}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
            return
        time.sleep(0.2)
    raise RuntimeError(f"the SuperLink did not listen on port {port} in {timeout} s; log: {log}")


def stop_leftovers(home: Path) -> None:
    """Ends what Flower started for this federation and left running (its SuperExec runs in a
    session of its own): every process whose FLWR_HOME is this federation's temporary home."""
    marker = f"FLWR_HOME={home}".encode()
    for proc in Path("/proc").glob("[0-9]*"):
        with contextlib.suppress(OSError):
            if marker in (proc / "environ").read_bytes().split(b"\0"):
                os.kill(int(proc.name), signal.SIGKILL)


def spawn(cmd: list[str], env: dict, log: Path) -> subprocess.Popen:
    """Starts ``cmd`` with its output in ``log`` (the child keeps its own copy of the file)."""
    with open(log, "w") as out:
        return subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rule", default="ctma(cwmed)", help="the byzagg rule")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with federation() as fed:
        runs = [
            ("FedAvg, no attack", {"rule": "mean", "attack": False}),
            ("FedAvg, 2 Byzantine", {"rule": "mean", "attack": True}),
            (f"byzagg {args.rule}, 2 Byzantine", {"rule": args.rule, "attack": True}),
        ]
        for title, config in runs:
            result = fed.run(**config, **{"num-server-rounds": args.rounds})
            last = result["accuracy"][str(max(int(r) for r in result["accuracy"]))]
            print(f"{title:40s} accuracy {last:.3f}  finite model: {result['finite']}")


if __name__ == "__main__":
    main()
