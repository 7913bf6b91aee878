"""The SDK registers a new model in a project: ``project=`` wins, else ``SHIPYARD_PROJECT``
(``Settings.project``), else the server scope; an existing model keeps its project; a bad project
name is a one-line error before anything is stored."""

from __future__ import annotations

from typing import Any

import pytest

import shipyard
from shipyard.core.errors import InvalidInputError
from shipyard.registry.api import get_registry, log_model, register_model
from shipyard.registry.service import ModelRegistry
from shipyard.tracking.stores import Stores


def test_register_model_puts_a_new_model_in_the_given_project(
    sdk: Stores, breast_cancer: Any, sk_pipeline: Any
) -> None:
    X, _ = breast_cancer
    with shipyard.start_run() as run:
        log_model(sk_pipeline, "model", input_example=X.head(2))
    register_model(f"runs:/{run.id}/model", "fraud", project="fraud")
    register_model(f"runs:/{run.id}/model", "plain")
    register_model(f"runs:/{run.id}/model", "fraud", project="other")  # an existing model keeps its own
    registry = get_registry()
    assert registry.get_model("fraud").project == "fraud" and registry.get_model("plain").project is None
    with pytest.raises(InvalidInputError, match="invalid project name 'Fraud Team'"):
        register_model(f"runs:/{run.id}/model", "new", project="Fraud Team")
    assert [m.name for m in registry.list_models()] == ["fraud", "plain"]
    made = registry.create_model("empty", project="fraud", description="d")
    assert made.project == "fraud" and made.latest_version is None and made.created_by == "alice"


@pytest.fixture
def churn_project(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHIPYARD_PROJECT", "churn")  # before the stores read their settings


def test_shipyard_project_is_the_default_project(
    churn_project: None, sdk: Stores, breast_cancer: Any, sk_pipeline: Any
) -> None:
    assert sdk.settings.project == "churn"
    with shipyard.start_run() as run:
        log_model(sk_pipeline, "model", input_example=breast_cancer[0].head(2))
    registry = ModelRegistry(sdk)
    assert registry.register(run.id, "model", "churn-model").model_name == "churn-model"
    assert registry.get_model("churn-model").project == "churn"
    registry.register(run.id, "model", "fraud-model", project="fraud")  # the argument wins
    assert registry.get_model("fraud-model").project == "fraud"
