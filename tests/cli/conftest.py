"""CLI fixtures: a SHIPYARD_HOME with a few runs in it, and a runner for ``shipyard`` in-process."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import numpy as np
import pytest

from shipyard.core.clock import utcnow
from shipyard.core.entities import RunStatus, Task, TaskStatus
from shipyard.core.ids import new_id
from shipyard.core.settings import load_settings
from shipyard.tracking.client import TrackingClient
from shipyard.tracking.stores import open_stores


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Any:
    from shipyard.cli.main import main

    def run(*args: str) -> Result:
        capsys.readouterr()
        code = main(list(args))
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


@dataclass
class Seeded:
    good: str  # a succeeded run with params, metrics (incl. NaN), tags, artifacts
    flow: str  # a failed flow run with tasks and an output artifact
    other: str  # a run in namespace "production"


@pytest.fixture
def seeded(monkeypatch: pytest.MonkeyPatch) -> Iterator[Seeded]:
    monkeypatch.setenv("SHIPYARD_USER", "alice")
    monkeypatch.setenv("COLUMNS", "200")
    stores = open_stores(load_settings())
    client = TrackingClient(stores)
    try:
        good = client.create_run("train", params={"lr": 0.1}, tags={"team": "fraud"})
        from shipyard.core.entities import Metric

        client.log_metrics(
            good.id,
            [Metric("acc", 0.5, 0, 1), Metric("acc", 0.93, 1, 2), Metric("gap", float("nan"), 0, 1)],
        )
        client.log_artifact(good.id, np.arange(4), name="weights")
        client.log_artifact(good.id, b"hello text", name="notes/readme")
        client.finish_run(good.id, RunStatus.SUCCEEDED)

        flow = client.create_run("hello-1", flow_name="hello")
        start = utcnow()
        tasks = [
            Task(id=new_id(), run_id=flow.id, step="numbers", key="numbers"),
            Task(id=new_id(), run_id=flow.id, step="square", key="square[0]", index=0),
            Task(id=new_id(), run_id=flow.id, step="square", key="square[1]", index=1),
        ]
        stores.metadata.create_tasks(tasks)
        stores.metadata.update_task(
            tasks[0].id,
            status=TaskStatus.SUCCEEDED,
            attempts=1,
            started_at=start,
            ended_at=start + timedelta(seconds=2),
            node="laptop",
        )
        stores.metadata.update_task(tasks[1].id, status=TaskStatus.SUCCEEDED, attempts=1)
        stores.metadata.update_task(
            tasks[2].id, status=TaskStatus.FAILED, attempts=2, error="Traceback...\nZeroDivisionError: boom"
        )
        client.log_artifact(flow.id, {"total": 14, "ratio": float("inf")}, name="output")
        client.finish_run(flow.id, RunStatus.FAILED, "task square[1] failed: ZeroDivisionError: boom")

        other = client.create_run("prod-run", namespace="production")
        client.finish_run(other.id, RunStatus.SUCCEEDED)
        yield Seeded(good=good.id, flow=flow.id, other=other.id)
    finally:
        stores.close()
