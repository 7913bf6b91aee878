"""examples/train_flow.py ends with a registered version whose lineage reaches the data step."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer

from shipyard.core.entities import RunStatus
from shipyard.core.settings import load_settings
from shipyard.registry.api import get_registry
from shipyard.runtime.api import RunOptions, run_file
from shipyard.tracking.stores import open_stores

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "train_flow.py"


@pytest.mark.slow
def test_train_example_registers_the_best_model() -> None:
    settings = load_settings()
    params = {"cs": "1", "trees": "10", "metric": "accuracy"}
    run = run_file(EXAMPLE, params, settings, RunOptions(max_workers=2))
    assert run.status is RunStatus.SUCCEEDED, run.error
    assert run.output["model"] == "models:/breast_cancer/1"
    stores = open_stores(settings)
    try:
        registry = get_registry(stores)
        version = registry.resolve("models:/breast_cancer/1")
        assert version.artifact_name == run.output["best"] and version.run_id == run.id
        steps = {r.producer_step for r in registry.store.version_lineage("breast_cancer", 1)}
        assert {"load_data", "grid"} <= steps
        model = registry.load("models:/breast_cancer/1")
        features, labels = load_breast_cancer(return_X_y=True)
        assert model.signature.input_kind == "ndarray" and len(model.signature.inputs) == 30
        assert float(np.mean(model.predict(features) == labels)) > 0.9
    finally:
        stores.close()
