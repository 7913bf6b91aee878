"""A small, realistic data set for the UI tests: tracked runs with metric series, a flow run with
tasks, logs, lineage and artifacts (a DataFrame, a PNG, a text file), and a registered model version
with aliases. Everything goes through the real stores and services."""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from shipyard.core.clock import utcnow
from shipyard.core.entities import LineageEdge, Metric, RunCreate, RunStatus, Task, TaskStatus
from shipyard.core.ids import new_id
from shipyard.core.settings import Settings
from shipyard.flows.graph import Graph, Node, RefInput
from shipyard.tracking.client import TrackingClient
from shipyard.tracking.stores import Stores, open_stores

XSS = "<script>alert('xss')</script>"


@dataclass
class Seeded:
    stores: Stores
    runs: dict[str, str] = field(default_factory=dict)  # run name -> id
    artifacts: dict[str, str] = field(default_factory=dict)  # artifact name -> id
    tasks: dict[str, str] = field(default_factory=dict)  # task key -> id
    model: str = "churn-model"


def make_png(width: int = 96, height: int = 64) -> bytes:
    """A small RGB gradient PNG (no imaging library needed)."""
    raw = b"".join(
        b"\x00" + b"".join(bytes((x * 255 // width, y * 255 // height, 160)) for x in range(width))
        for y in range(height)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def open_test_stores(folder: Path) -> Stores:
    settings = Settings(
        home=folder,
        uri=f"sqlite:///{folder / 'shipyard.db'}",
        artifacts=str(folder / "artifacts"),
        user="alice",
    )
    return open_stores(settings)


def _curve(client: TrackingClient, run_id: str, lr: float, steps: int = 30) -> None:
    points = []
    for step in range(steps):
        loss = 2.0 / (1 + lr * 40 * step) + 0.05
        points += [Metric("loss", loss, step, 1_700_000_000_000 + step), Metric("acc", 1 - loss / 2.2, step)]
    client.log_metrics(run_id, points)


def _flow_graph() -> dict[str, object]:
    graph = Graph(flow_name="train_flow")
    graph.add(Node("load", "step", step_name="load"))
    graph.add(Node("featurize", "step", step_name="featurize", inputs={"rows": RefInput("load")}, depth=1))
    graph.add(Node("train", "step", step_name="train", inputs={"features": RefInput("featurize")}))
    graph.add(Node("evaluate", "step", step_name="evaluate", inputs={"model": RefInput("train")}))
    graph.add(Node("report", "step", step_name="report", inputs={"scores": RefInput("evaluate")}))
    return {"file": "train_flow.py", "graph": graph.to_dict()}


def _flow_run(seeded: Seeded, client: TrackingClient, tmp: Path) -> None:
    import pandas as pd

    metadata = seeded.stores.metadata
    run = metadata.create_run(
        RunCreate(
            id=new_id(),
            name="train-flow-run",
            namespace=seeded.stores.settings.user_namespace,
            user="alice",
            start_time=utcnow(),
            params={"lr": 0.05, "epochs": 30},
            flow_name="train_flow",
            flow_spec=_flow_graph(),
        )
    )
    seeded.runs[run.name] = run.id
    metadata.set_tags(run.id, {"team": "vision"})
    start = utcnow()
    specs = [
        ("load", "load", None, TaskStatus.SUCCEEDED),
        ("featurize", "featurize[0]", 0, TaskStatus.SUCCEEDED),
        ("featurize", "featurize[1]", 1, TaskStatus.CACHED),
        ("featurize", "featurize[2]", 2, TaskStatus.SUCCEEDED),
        ("train", "train", None, TaskStatus.SUCCEEDED),
        ("evaluate", "evaluate", None, TaskStatus.SUCCEEDED),
        ("report", "report", None, TaskStatus.FAILED),
    ]
    tasks = [
        Task(
            id=new_id(),
            run_id=run.id,
            step=step,
            key=key,
            index=index,
            status=status,
            attempts=1,
            started_at=start + timedelta(seconds=i),
            ended_at=start + timedelta(seconds=i + 1.5),
            error="Traceback: ValueError: no scores" if status is TaskStatus.FAILED else None,
        )
        for i, (step, key, index, status) in enumerate(specs)
    ]
    metadata.create_tasks(tasks)
    seeded.tasks = {t.key: t.id for t in tasks}
    for task in tasks:
        out = f"[{task.key}] started\n[{task.key}] done\n".encode()
        client.log_artifact(run.id, out, "logs/stdout", task_id=task.id)
        client.log_artifact(run.id, b"warning: " + task.key.encode() + b"\n", "logs/stderr", task_id=task.id)
    frame = pd.DataFrame(
        {
            "user_id": range(120),
            "score": [i / 7 for i in range(120)],
            "segment": [["a", "b", XSS][i % 3] for i in range(120)],
        }
    )
    dataset = client.log_artifact(run.id, frame, "dataset", task_id=seeded.tasks["load"])
    png = tmp / "confusion.png"
    png.write_bytes(make_png())
    image = client.log_artifact(run.id, png, "confusion.png", task_id=seeded.tasks["evaluate"])
    notes = tmp / "notes.txt"
    notes.write_text("Model notes\nAccuracy is fine.\n" + XSS + "\n")
    text = client.log_artifact(run.id, notes, "notes.txt", task_id=seeded.tasks["evaluate"])
    fake = tmp / "fake.png"
    fake.write_text("<html><script>alert(1)</script></html>")
    spoof = client.log_artifact(run.id, fake, "fake.png")
    metadata.record_lineage([LineageEdge(seeded.tasks["train"], dataset.id, "rows")])
    seeded.artifacts.update(
        {"dataset": dataset.id, "confusion.png": image.id, "notes.txt": text.id, "fake.png": spoof.id}
    )
    _curve(client, run.id, 0.05)
    _register_model(seeded, run.id, seeded.tasks["train"])
    metadata.update_task(seeded.tasks["report"], status=TaskStatus.FAILED)
    client.finish_run(run.id, RunStatus.FAILED, error="step report failed: ValueError: no scores")


@dataclass(frozen=True)
class ThresholdModel:
    """A tiny model with ``predict`` (the ``python`` flavor): no heavy ML import in UI tests."""

    threshold: float

    def predict(self, frame: Any) -> Any:
        return (frame["usage"] > self.threshold).astype(int)


def _register_model(seeded: Seeded, run_id: str, task_id: str) -> None:
    import pandas as pd

    from shipyard.registry.service import ModelRegistry

    registry = ModelRegistry(seeded.stores)
    frame = pd.DataFrame({"usage": [0.0, 1.0, 0.5, 0.9], "tenure": [1.0, 0.0, 0.5, 0.1]})
    model = ThresholdModel(0.5)
    record = registry.log_model(run_id, model, "model", task_id=task_id, input_example=frame.head(2))
    registry.register_record(record, seeded.model, description="Predicts churn from usage features.")
    registry.register_record(record, seeded.model, description="Retrained.", tags={"intended_use": "demo"})
    registry.approve(seeded.model, 2)
    registry.set_alias(seeded.model, "champion", 2)
    registry.set_alias(seeded.model, "staging", 1)


def seed(folder: Path) -> Seeded:
    stores = open_test_stores(folder)
    seeded = Seeded(stores)
    client = TrackingClient(stores)
    for name, lr, optimizer in (("baseline", 0.1, "sgd"), ("tuned", 0.01, "adam")):
        run = client.create_run(
            name,
            params={"lr": lr, "epochs": 30, "optimizer": optimizer, "note": XSS},
            tags={"team": "vision", "stage": "dev"},
        )
        _curve(client, run.id, lr)
        client.finish_run(run.id, RunStatus.SUCCEEDED)
        seeded.runs[name] = run.id
    other = client.create_run("other-team", params={"lr": 0.2}, tags={"team": "nlp"}, namespace="team:nlp")
    client.log_metrics(other.id, [Metric("loss", 0.5, 0)])
    seeded.runs["other-team"] = other.id
    _flow_run(seeded, client, folder)
    return seeded


def notebook_bytes(png: bytes) -> bytes:
    """An executed notebook with every kind of output the task page must handle safely."""
    import base64
    import json

    def code(count: int, source: str, *outputs: dict[str, Any]) -> dict[str, Any]:
        return {"cell_type": "code", "execution_count": count, "metadata": {}, "source": source,
                "outputs": list(outputs)}  # fmt: skip

    cells = [
        {"cell_type": "markdown", "metadata": {}, "source": ["# Findings\n", "<b>not bold</b>"]},
        code(1, "print('hello from the notebook')",
             {"output_type": "stream", "name": "stdout", "text": ["hello from the notebook\n", XSS + "\n"]}),
        code(2, "HTML(payload)",
             {"output_type": "display_data", "metadata": {},
              "data": {"text/html": XSS, "text/plain": "<IPython.core.display.HTML object>"}},
             {"output_type": "execute_result", "execution_count": 2, "metadata": {},
              "data": {"application/javascript": "alert('js')"}}),
        code(3, "plot()",
             {"output_type": "display_data", "metadata": {},
              "data": {"image/png": base64.b64encode(png).decode(), "text/plain": "<Figure>"}}),
        code(4, "fake()",
             {"output_type": "display_data", "metadata": {},
              "data": {"image/png": base64.b64encode(b"<svg onload=alert(1)>").decode(),
                       "text/plain": "not a png"}}),
        code(5, "1 / 0",
             {"output_type": "error", "ename": "ZeroDivisionError", "evalue": "division by zero",
              "traceback": ["\x1b[31mZeroDivisionError\x1b[39m: division by zero"]}),
    ]  # fmt: skip
    return json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}).encode()


def notebook_task(stores: Stores, name: str = "notebook-run") -> tuple[str, str]:
    """A finished run with one notebook step whose task recorded :func:`notebook_bytes`:
    (run id, task id)."""
    from shipyard.artifacts.store import StoredObject

    md = stores.metadata
    run = md.create_run(
        RunCreate(id=new_id(), name=name, namespace=stores.settings.user_namespace, user="alice",
                  start_time=utcnow())
    )  # fmt: skip
    task = Task(id=new_id(), run_id=run.id, step="explore", key="explore")
    md.create_tasks([task])
    md.update_task(task.id, status=TaskStatus.RUNNING, attempts=1)
    data = notebook_bytes(make_png())
    stored = StoredObject(stores.artifacts.put_bytes(data), len(data), "bytes")
    md.record_artifact(stored.record(run.id, "notebook", task_id=task.id, meta={"format": "ipynb"}))
    md.update_task(task.id, status=TaskStatus.SUCCEEDED)
    return run.id, task.id
