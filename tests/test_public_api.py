"""Guards the public API: the exported names, that each resolves, and that import stays light."""

from __future__ import annotations

import subprocess
import sys

import shipyard

EXPECTED = {
    "__version__",
    # tracking: writing
    "start_run", "end_run", "active_run", "use_run", "log_param", "log_params", "log_metric",
    "log_metrics", "set_tag", "set_tags", "log_artifact", "flush",
    # tracking: reading
    "namespace", "get_namespace", "get_run", "delete_run", "search_runs", "get_metric_history",
    "load_artifact", "list_artifacts",
    # services, entities, errors
    "TrackingClient", "ActiveRun", "Stores", "open_stores", "Settings", "load_settings", "Run",
    "RunStatus", "Metric", "ArtifactRecord", "Task", "TaskStatus", "ShipyardError",
    "InvalidInputError", "NotFoundError", "ConflictError",
    # flows
    "flow", "step", "on_dataset", "on_model", "on_model_version",
    # models
    "log_model", "load_model", "register_model",
    "log_labels", "log_reference", "log_outcome",
    # features
    "Entity", "FeatureView", "FileSource", "feature_view", "FeatureStore",
    # datasets
    "log_dataset", "load_dataset",
    # cards and notebooks
    "card", "Card", "notebook",
}  # fmt: skip


def test_exported_names_are_exactly_the_expected_ones() -> None:
    assert set(shipyard.__all__) == EXPECTED
    assert len(shipyard.__all__) == len(EXPECTED)  # no duplicates


def test_every_exported_name_resolves() -> None:
    for name in shipyard.__all__:
        assert getattr(shipyard, name) is not None, name
    assert isinstance(shipyard.__version__, str)
    assert set(shipyard.__all__) <= set(dir(shipyard))


def test_unknown_attribute_is_an_attribute_error() -> None:
    try:
        _ = shipyard.no_such_thing  # type: ignore[attr-defined]
    except AttributeError as exc:
        assert "no_such_thing" in str(exc)
    else:
        raise AssertionError("expected AttributeError")


def test_import_is_light_and_opens_nothing() -> None:
    code = (
        "import sys, shipyard\n"
        "heavy = ('pydantic', 'sqlalchemy', 'pandas', 'numpy', 'typer', 'rich')\n"
        "print(','.join(m for m in heavy if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
