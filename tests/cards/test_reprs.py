"""Rich notebook displays: every SDK record's ``_repr_html_`` is valid HTML in which stored text
(names, tags, params) stays text; ``shipyard.notebook.show``; a flow run's live progress table."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import html5lib
import pytest

import shipyard
from shipyard.core.entities import Run, RunStatus, Task, TaskStatus
from shipyard.core.errors import InvalidInputError
from shipyard.core.settings import load_settings
from shipyard.metadata.datasets import Dataset, DatasetVersion
from shipyard.metadata.model_registry import ModelVersion, RegisteredModel
from shipyard.monitoring.drift import DriftReport, FeatureDrift
from shipyard.runtime import reprs
from shipyard.runtime.api import RunOptions, run_file

XSS = "<script>alert('x')</script>"
NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
HERE = Path(__file__).parent


def checked(fragment: str) -> Any:
    """Parse the fragment strictly (any HTML parse error fails) and check it has no script, no
    event-handler attribute, and shows the payload as text."""
    tree = html5lib.HTMLParser(strict=True, namespaceHTMLElements=False).parse(
        f"<!DOCTYPE html><html><head><title>t</title></head><body>{fragment}</body></html>"
    )
    tags = [e for e in tree.iter() if isinstance(e.tag, str)]
    assert not [e for e in tags if e.tag.rsplit("}", 1)[-1] == "script"]
    assert not [e for e in tags if any(k.startswith("on") for k in e.attrib)]
    return tree


def text_of(tree: Any) -> str:
    return "".join(tree.itertext())


def run_entity() -> Run:
    return Run(
        id="r" * 32, name="run " + XSS, namespace="user:alice", user="alice", status=RunStatus.FAILED,
        start_time=NOW, end_time=NOW, heartbeat_at=None, params={"note": XSS, "lr": 0.1},
        tags={"team": XSS}, metrics={"loss": 0.25}, error="Traceback " + XSS,
    )  # fmt: skip


def records() -> list[Any]:
    version = ModelVersion(
        model_name="churn" + XSS, version=3, package_digest="a" * 64, package_size=1234, flavor="sklearn",
        created_by="alice", created_at=NOW, run_id=None, task_id=None, artifact_id=None, artifact_name=None,
        signature={"inputs": [{"name": XSS, "type": "double"}]}, description=XSS, unsafe=False,
        approved=True, approved_by="bob", approved_at=NOW, tags={"k": XSS}, aliases=("champion",),
    )  # fmt: skip
    model = RegisteredModel(
        name="churn" + XSS, description=XSS, created_at=NOW, updated_at=NOW, created_by="alice",
        latest_version=3, aliases={"champion": 3},
    )  # fmt: skip
    dataset = Dataset(name="tx" + XSS, description="", created_at=NOW, updated_at=NOW, created_by="alice")
    dataset_version = DatasetVersion(
        dataset_name="tx" + XSS, version=2, kind="table", source_format="dataframe", num_files=1, size=99,
        num_rows=10, columns=({"name": XSS, "type": "int64", "tags": ["pii"]},),
        stats={XSS: {"nulls": 0, "min": 1, "max": 9, "mean": 5.0}}, description="", created_by="alice",
        created_at=NOW,
    )  # fmt: skip
    drift = DriftReport(
        features=[
            FeatureDrift(XSS, "numeric", "ks", 0.3, 0.01, 0.05, True, 0.0, 100, 100, 0.0),
            FeatureDrift("age", "numeric", "wasserstein", 0.02, None, 0.1, False, 0.0, 100, 100, 0.0),
        ],
        prediction=None,
        rows=100,
        missing_features=[XSS],
    )
    task = Task(
        id="t" * 32, run_id="r" * 32, step="train", key="train" + XSS, status=TaskStatus.FAILED, error=XSS
    )
    return [
        run_entity(),
        task,
        version,
        model,
        dataset,
        dataset_version,
        drift,
        shipyard.Card(XSS).markdown(XSS),
    ]


@pytest.mark.parametrize("record", records(), ids=lambda r: type(r).__name__)
def test_each_records_repr_is_valid_html_that_shows_stored_text_as_text(record: Any) -> None:
    fragment = record._repr_html_()
    tree = checked(fragment)
    assert XSS in text_of(tree)  # the payload is displayed, as characters
    assert "&lt;script&gt;" in fragment


def test_a_drift_report_shows_its_scores_chart() -> None:
    drift = records()[6]
    tree = checked(drift._repr_html_())
    assert [e for e in tree.iter() if isinstance(e.tag, str) and e.tag.endswith("rect")]
    assert "1 of 2 features drifted" in text_of(tree)


def test_a_flow_run_shows_its_tasks_and_metric_charts_and_show_returns_html() -> None:
    run = run_file(HERE / "metric_flow.py", {"epochs": 6}, load_settings(), RunOptions(max_workers=1))
    tree = checked(run._repr_html_())
    text = text_of(tree)
    assert "fit" in text and "succeeded" in text
    lines = [e for e in tree.iter() if isinstance(e.tag, str) and e.tag.endswith("polyline")]
    assert len(lines) == 1 and len(lines[0].get("points").split()) == 6  # the loss series, 6 points
    shown = shipyard.notebook.show(shipyard.get_run(run.id))  # outside IPython: the HTML
    assert shown is not None and "polyline" in shown
    with pytest.raises(InvalidInputError, match="not a int"):
        shipyard.notebook.show(3)


def test_flow_run_in_a_notebook_updates_one_progress_display(monkeypatch: pytest.MonkeyPatch) -> None:
    import IPython.display

    shown: list[str] = []
    updates: list[str] = []

    class Handle:
        def update(self, obj: Any) -> None:
            updates.append(obj.data)

    def display(obj: Any, display_id: bool = False) -> Handle:
        shown.append(obj.data)
        return Handle()

    monkeypatch.setattr(reprs, "in_notebook", lambda: True)
    monkeypatch.setattr(IPython.display, "display", display)
    from shipyard.runtime.loader import load_flow

    loaded = load_flow(HERE / "metric_flow.py")
    run = loaded.flow.run_with({"epochs": 2}, max_workers=1)
    assert run.status is RunStatus.SUCCEEDED
    assert len(shown) == 1 and updates  # one display, updated in place
    final = checked(updates[-1])
    assert "flow fitting" in text_of(final) and "fit" in text_of(final)


def test_outside_a_kernel_there_is_no_notebook_display() -> None:
    assert reprs.in_notebook() is False
