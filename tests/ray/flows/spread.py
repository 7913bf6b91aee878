"""Flows for the Ray tests: work that takes a while and says which Ray node ran it."""

import os
import time
from pathlib import Path

from shipyard import flow, step


def _node_id() -> str:
    import ray

    return ray.get_runtime_context().get_node_id()


@step
def items(n: int) -> list[int]:
    return list(range(n))


@step(retries=1, retry_delay=0.1)
def work(x: int, seconds: float, marks: str) -> str:
    """Touch ``<marks>/<x>-<node id>-<pid>`` when it starts (proof of where), then sleep."""
    node = _node_id()
    if marks:
        Path(marks, f"{x}-{node}-{os.getpid()}").touch()
    time.sleep(seconds)
    return node


@step
def nodes(ids: list[str]) -> list[str]:
    return sorted(set(ids))


@flow
def spread(n: int = 4, seconds: float = 1.0, marks: str = ""):
    return nodes(work.map(items(n), seconds=seconds, marks=marks))


@step(resources={"memory": "64MB"})
def hog(mb: int) -> int:
    data = bytearray(mb * 1024 * 1024)  # touches every page
    return len(data)


@flow
def hungry(mb: int = 1024):
    return hog(mb)


@step(resources={"cpu": 8})
def greedy_step(n: int) -> int:
    return n


@flow
def greedy(n: int = 1):
    return greedy_step(n)


@step(timeout=5.0)
def stuck(marks: str) -> int:
    Path(marks, str(os.getpid())).touch()
    time.sleep(60)
    return 0


@flow
def stuck_flow(marks: str = ""):
    return stuck(marks)
