"""Lineage: a run that loads a version records it as an input, one that logs a version as an
output; a model registered from that run reaches the dataset, and the dataset reaches the model."""

from __future__ import annotations

import pandas as pd

import shipyard
from shipyard.data.service import DatasetService
from shipyard.metadata.model_registry import ModelVersionCreate, open_registry_store
from shipyard.tracking.stores import Stores


def test_inputs_and_outputs_both_ways(stores: Stores, service: DatasetService) -> None:
    raw = shipyard.log_dataset("raw", pd.DataFrame({"x": [1, 2, 3]}))  # outside a run: no use
    with shipyard.start_run() as run:
        frame = shipyard.load_dataset("datasets:/raw/1")
        features = shipyard.log_dataset("features", frame.assign(y=frame.x * 2))
    registry = open_registry_store(stores.metadata)
    model = registry.create_version(
        ModelVersionCreate("m", "a" * 64, 1, "sklearn", "alice", raw.created_at, run_id=run.id)
    )
    assert features.run_id == run.id
    assert {(u.dataset_name, u.direction) for u in service.run_datasets(run.id)} == {
        ("raw", "input"),
        ("features", "output"),
    }
    lineage = service.lineage(service.resolve("raw/1"))
    assert [(u.run_id, u.direction) for u in lineage.uses] == [(run.id, "input")]
    assert [(m.model_name, m.version) for m in lineage.models] == [("m", model.version)]
    assert [(u.dataset_name, u.version) for u in service.model_datasets("m", 1)] == [("raw", 1)]
    assert service.lineage(service.resolve("features/1")).models == []  # only written by the run


def test_a_flow_step_records_its_task(stores: Stores, service: DatasetService) -> None:
    from shipyard.core.entities import Task
    from shipyard.core.ids import new_id
    from shipyard.tracking.client import TrackingClient
    from shipyard.tracking.fluent import use_run

    shipyard.log_dataset("raw", pd.DataFrame({"x": [1]}))
    run = TrackingClient(stores).create_run("flow-run")
    task = Task(new_id(), run.id, "prepare", "prepare")
    stores.metadata.create_tasks([task])
    with use_run(run.id, stores, task_id=task.id):  # what the task entry point does around a step
        shipyard.load_dataset("raw")
        shipyard.log_dataset("clean", pd.DataFrame({"x": [2]}))
    uses = {(u.dataset_name, u.direction, u.task_id) for u in service.run_datasets(run.id)}
    assert uses == {("raw", "input", task.id), ("clean", "output", task.id)}
    assert service.resolve("clean").task_id == task.id
