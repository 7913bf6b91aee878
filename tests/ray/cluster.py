"""A real Ray cluster on loopback: a head node and worker nodes, each a ``ray start --block``
process this module started (so stopping it kills only our processes, never another cluster's).

Every port is picked free up front, so several clusters (other engineers', other test sessions)
can share the machine. Used by ``tests/ray/conftest.py`` and ``bench/ray.py``.
"""

from __future__ import annotations

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
from dataclasses import dataclass, field
from pathlib import Path

import psutil

RAY = str(Path(sys.executable).with_name("ray"))


def free_port() -> int:
    return free_ports(1)[0]


def free_ports(count: int) -> list[int]:
    """``count`` distinct free ports: every socket is held until all are chosen (one at a time,
    the kernel may hand a just-closed port out again: Ray then refused two components on one port)."""
    held = [socket.socket() for _ in range(count)]
    try:
        for s in held:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in held]
    finally:
        for s in held:
            s.close()


def _ports(*, head: bool) -> list[str]:
    names = [
        "--node-manager-port",
        "--object-manager-port",
        "--dashboard-agent-listen-port",
        "--dashboard-agent-grpc-port",
        "--runtime-env-agent-port",
        "--metrics-export-port",
    ]
    if head:
        names.append("--ray-client-server-port")
    return [f"{name}={port}" for name, port in zip(names, free_ports(len(names)), strict=True)]


@dataclass
class Node:
    name: str  # the custom resource only this node has ("node_a", "node_b", ...)
    process: subprocess.Popen[bytes]
    log: Path

    def pids(self) -> list[int]:
        """``ray start --block`` and everything it started (raylet, agents, workers)."""
        try:
            root = psutil.Process(self.process.pid)
            return [root.pid, *(c.pid for c in root.children(recursive=True))]
        except psutil.NoSuchProcess:
            return []

    def kill(self) -> None:
        """SIGKILL the node's whole process tree, as if the machine died."""
        for pid in self.pids():
            with contextlib.suppress(psutil.NoSuchProcess, ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(10)


@dataclass
class LocalRayCluster:
    """``start()`` a head; ``add_node()`` workers; ``stop()`` everything this object started."""

    cpus_per_node: int = 1
    object_store_mb: int = 100
    temp_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="sy-ray-", dir="/tmp")))
    port: int = field(default_factory=free_port)
    nodes: list[Node] = field(default_factory=list)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env = {k: v for k, v in env.items() if not k.startswith("SHIPYARD_")}  # tasks get the driver's
        env["RAY_USAGE_STATS_ENABLED"] = "0"
        # a loopback test cluster: no token auth, whatever ~/.ray/auth_token a local `ray.init()`
        # may have left (its presence would turn token auth on for the head only)
        env["RAY_AUTH_MODE"] = "disabled"
        env.pop("RAY_ADDRESS", None)
        # notice a dead node within ~2s, not Ray's default ~30s (the node-failure tests)
        env.setdefault("RAY_health_check_period_ms", "500")
        env.setdefault("RAY_health_check_failure_threshold", "3")
        env.setdefault("RAY_health_check_timeout_ms", "1000")
        return env

    def _launch(self, name: str, args: list[str], head: bool) -> Node:
        log = self.temp_dir / f"{name}.log"
        cmd = [
            RAY,
            "start",
            "--block",
            f"--num-cpus={self.cpus_per_node}",
            "--num-gpus=0",
            f"--resources={json.dumps({name: 1})}",
            f"--object-store-memory={self.object_store_mb * 1024 * 1024}",
            "--node-ip-address=127.0.0.1",
            "--disable-usage-stats",
            *_ports(head=head),
            *args,
        ]
        # if the test process dies without stopping us, `ray start --block` gets SIGTERM and
        # stops its node (Linux: setpriv sets the parent-death signal, then execs ray)
        setpriv = shutil.which("setpriv")
        if setpriv and sys.platform.startswith("linux"):
            cmd = [setpriv, "--pdeathsig", "TERM", *cmd]
        with log.open("wb") as out:
            proc = subprocess.Popen(
                cmd, stdout=out, stderr=subprocess.STDOUT, env=self.env(), start_new_session=True
            )
        node = Node(name=name, process=proc, log=log)
        self.nodes.append(node)
        return node

    def start(self, timeout: float = 120.0) -> LocalRayCluster:
        self._launch(
            "node_a",
            [
                "--head",
                f"--port={self.port}",
                "--include-dashboard=false",
                f"--dashboard-port={free_port()}",
                f"--temp-dir={self.temp_dir}",
            ],
            head=True,
        )
        self.wait_for_nodes(1, timeout)
        return self

    def add_node(self, timeout: float = 120.0) -> Node:
        name = f"node_{chr(ord('a') + len(self.nodes))}"
        node = self._launch(name, [f"--address={self.address}"], head=False)
        self.wait_for_nodes(len(self.nodes), timeout)
        return node

    def wait_for_nodes(self, count: int, timeout: float) -> None:
        """Until every launched node's ``ray start`` says the runtime started (cheap: no driver)."""
        deadline = time.monotonic() + timeout
        pending = list(self.nodes[:count])
        while pending and time.monotonic() < deadline:
            for node in list(pending):
                if node.process.poll() is not None:
                    raise RuntimeError(f"ray node {node.name} exited: {node.log.read_text()[-2000:]}")
                if "Ray runtime started" in node.log.read_text(errors="replace"):
                    pending.remove(node)
            time.sleep(0.1)
        if pending:
            raise RuntimeError(f"Ray nodes {[n.name for n in pending]} did not start in {timeout}s")

    def stop(self) -> None:
        """SIGKILL every process of every node we started (a graceful stop takes ~15 s here)."""
        for node in reversed(self.nodes):
            node.kill()
        self.nodes = []
        shutil.rmtree(self.temp_dir, ignore_errors=True)


_SHARED: list[LocalRayCluster] = []


def shared_cluster(nodes: int = 2) -> LocalRayCluster:
    """One cluster per test process (a head + a worker node, 1 CPU each), shared by the executor
    contract suite and tests/ray; started on first use, stopped by :func:`stop_shared`."""
    if not _SHARED:
        cluster = LocalRayCluster()
        try:
            cluster.start()
            for _ in range(nodes - 1):
                cluster.add_node()
        except BaseException:
            cluster.stop()  # a node that did not come up must not leave the others running
            raise
        _SHARED.append(cluster)
    return _SHARED[0]


def stop_shared() -> None:
    """Disconnect this process's driver, then stop the shared cluster's processes."""
    if not _SHARED:
        return
    import ray

    if ray.is_initialized():
        ray.shutdown()
    _SHARED.pop().stop()
