"""How the Ray executor asks Ray for resources and bounds submission (a fake ``ray`` module records
the ``.options(...)`` of each task; no cluster needed)."""

from __future__ import annotations

from typing import Any

import pytest

from shipyard.executors import ray as ray_executor
from shipyard.executors.base import Resources, TaskRequest
from shipyard.executors.ray import MIB, RayExecutor


class FakeRemote:
    def __init__(self, calls: list[dict[str, Any]], kind: str) -> None:
        self.calls, self.kind, self.opts = calls, kind, {}

    def options(self, **opts: Any) -> FakeRemote:
        remote = FakeRemote(self.calls, self.kind)
        remote.opts = opts
        return remote

    def remote(self, *args: Any) -> object:
        self.calls.append({"kind": self.kind, **self.opts})
        return object()


@pytest.fixture
def executor(monkeypatch: pytest.MonkeyPatch) -> tuple[RayExecutor, list[dict[str, Any]]]:
    monkeypatch.setattr(ray_executor, "import_ray", lambda: object())
    ex = RayExecutor(address="127.0.0.1:6379")
    calls: list[dict[str, Any]] = []
    ex._remote, ex._streaming = FakeRemote(calls, "task"), FakeRemote(calls, "streaming")
    ex._args = ("fn", "settings", {}, "/")
    ex._cluster_cpu = 2.0
    return ex, calls


def request(i: int, res: Resources | None = None, timeout: float | None = None) -> TaskRequest:
    return TaskRequest("run", f"t{i}", f"s[{i}]", 1, res or Resources(), timeout)


def test_declared_resources_map_to_rays(executor: tuple[RayExecutor, list[dict[str, Any]]]) -> None:
    ex, calls = executor
    ex.submit(request(0))
    ex.submit(request(1, Resources(cpu=0.5, memory_mb=512, gpu=1)))
    ex.submit(request(2, timeout=3.0))
    plain, sized, timed = calls
    assert plain == {
        "kind": "task", "num_cpus": 1.0, "num_gpus": 0, "max_retries": 0,
        "retry_exceptions": False, "name": "shipyard:s[0]",
    }  # fmt: skip
    assert (sized["num_cpus"], sized["num_gpus"], sized["memory"]) == (0.5, 1, 512 * MIB)
    assert timed["kind"] == "streaming" and timed["num_returns"] == "streaming"


def test_submission_is_bounded_by_cluster_cores(executor: tuple[RayExecutor, list[dict[str, Any]]]) -> None:
    ex, _ = executor
    for i in range(2):
        assert ex.can_submit(request(i))
        ex.submit(request(i))
    assert not ex.can_submit(request(9, timeout=1.0))  # a timed task waits for a free core
    for i in range(2, 4):
        assert ex.can_submit(request(i))  # untimed ones queue two per core
        ex.submit(request(i))
    assert not ex.can_submit(request(4))
    assert ex.running() == 4


def test_max_workers_caps_tasks_in_flight(executor: tuple[RayExecutor, list[dict[str, Any]]]) -> None:
    ex, _ = executor
    ex.max_workers = 1
    ex.submit(request(0))
    assert not ex.can_submit(request(1))
