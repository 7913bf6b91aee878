"""A flow step logs and registers a model; the version's lineage walks back through the flow."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from shipyard.core.settings import load_settings
from shipyard.registry.api import get_registry
from shipyard.runtime.api import RunOptions, run_file
from shipyard.tracking.client import stored_object
from shipyard.tracking.stores import open_stores

FLOW = Path(__file__).parent / "flows" / "train_register.py"


def test_flow_step_registers_with_lineage() -> None:
    settings = load_settings(user="alice")
    flow_run = run_file(FLOW, {"n": 200}, settings, RunOptions(max_workers=1))
    assert flow_run.status.value == "succeeded", flow_run.error
    stores = open_stores(settings)
    try:
        registry = get_registry(stores)
        version = registry.store.get_version("bc", 1)
        assert version.run_id == flow_run.id and version.task_id is not None
        tasks = {t.id: t for t in stores.metadata.list_tasks(flow_run.id)}
        assert tasks[version.task_id].step == "train"
        assert version.description == "from a flow"

        lineage = registry.store.version_lineage("bc", 1)
        assert [(r.depth, r.producer_step) for r in lineage] == [(1, "scale"), (2, "load_data")]
        raw = lineage[1]
        # which versions came from this dataset? (by artifact id and by content digest)
        from_raw = registry.store.versions_from_artifact(artifact_id=raw.artifact_id)
        assert [(v.model_name, v.version) for v in from_raw] == [("bc", 1)]
        assert [v.version for v in registry.store.versions_from_artifact(digest=raw.digest)] == [1]
        assert [v.version for v in registry.store.versions_from_run(flow_run.id)] == [1]

        model = registry.load("models:/bc/1")
        frame = stores.artifacts.get_object(
            stored_object(stores.metadata.get_artifact(lineage[0].artifact_id))
        )
        preds = model.predict(frame.drop(columns="target"))
        assert preds.shape == (200,) and set(np.unique(preds)) <= {0, 1}
        assert model.metadata["source"]["task_id"] == version.task_id
    finally:
        stores.close()
