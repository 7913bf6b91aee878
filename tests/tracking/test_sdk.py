"""The fluent SDK on the real stores (SQLite file + local artifact folder)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

import shipyard
from shipyard.core.entities import Metric, RunStatus
from shipyard.core.errors import ConflictError, InvalidInputError, NotFoundError
from shipyard.tracking.stores import Stores


def test_context_manager_marks_succeeded_and_records_everything(sdk: Stores) -> None:
    with shipyard.start_run("train", params={"lr": 0.1}, tags={"team": "fraud"}) as run:
        shipyard.log_params({"layers": [64, 32], "optimizer": "adam"})
        for step in range(100):
            shipyard.log_metric("loss", 1.0 / (step + 1), step=step)
        shipyard.log_metrics({"acc": 0.9, "f1": 0.8}, step=99)
        shipyard.set_tag("stage", "dev")
        assert shipyard.active_run() is run
    assert shipyard.active_run() is None
    got = shipyard.get_run(run.id)
    assert got.status is RunStatus.SUCCEEDED and got.end_time is not None
    assert got.params == {"lr": 0.1, "layers": [64, 32], "optimizer": "adam"}
    assert got.tags["team"] == "fraud" and got.tags["stage"] == "dev"
    assert got.metrics == {"loss": 0.01, "acc": 0.9, "f1": 0.8}
    assert got.namespace == "user:alice" and got.user == "alice"
    history = shipyard.get_metric_history(run.id, "loss")
    assert [m.step for m in history] == list(range(100))


def test_exception_marks_failed_with_the_exception_text(sdk: Stores) -> None:
    with pytest.raises(ValueError, match="diverged"), shipyard.start_run("bad") as run:
        shipyard.log_metric("loss", 1.0)
        raise ValueError("loss diverged")
    got = shipyard.get_run(run.id)
    assert got.status is RunStatus.FAILED
    assert got.error is not None and "ValueError: loss diverged" in got.error
    assert got.metrics == {"loss": 1.0}  # flushed before ending


def test_start_and_end_run_without_with(sdk: Stores) -> None:
    run = shipyard.start_run()
    shipyard.log_metric("x", 1.0)
    shipyard.end_run(status="cancelled")
    got = shipyard.get_run(run.id)
    assert got.status is RunStatus.CANCELLED and got.metrics == {"x": 1.0}
    with pytest.raises(InvalidInputError, match="no active run"):
        shipyard.log_metric("x", 2.0)


def test_params_are_write_once(sdk: Stores) -> None:
    with shipyard.start_run(params={"lr": 0.1}) as run:
        shipyard.log_param("lr", 0.1)  # same value: fine
        with pytest.raises(ConflictError, match=r"param 'lr' is already 0.1; cannot change it to 0.2"):
            shipyard.log_param("lr", 0.2)
        with pytest.raises(ConflictError, match="'lr'"):
            shipyard.log_params({"new": 1, "lr": 0.3})  # whole batch refused
    assert shipyard.get_run(run.id).params == {"lr": 0.1}


@pytest.mark.parametrize(
    "bad", ["../etc/passwd", "/abs", "a/../b", "nul\x00", "new\nline", "back\\slash", ""]
)
def test_bad_names_are_rejected_and_nothing_is_written(sdk: Stores, bad: str, tmp_path: Path) -> None:
    file = tmp_path / "f.txt"
    file.write_text("x")
    with shipyard.start_run() as run:
        with pytest.raises(InvalidInputError):
            shipyard.log_param(bad, 1)
        with pytest.raises(InvalidInputError):
            shipyard.log_metric(bad, 1.0)
        with pytest.raises(InvalidInputError):
            shipyard.log_metrics({"fine": 1.0, bad: 2.0})  # all checked before any is queued
        with pytest.raises(InvalidInputError):
            shipyard.set_tag(bad, "v")
        with pytest.raises(InvalidInputError):
            shipyard.log_artifact({"a": 1}, name=bad)
        with pytest.raises(InvalidInputError):
            shipyard.log_artifact(file, name=bad)
    got = shipyard.get_run(run.id)
    assert got.params == {} and got.metrics == {} and got.tags == {}
    assert shipyard.list_artifacts(run.id) == []
    with pytest.raises(InvalidInputError):
        shipyard.start_run(name="a/b")


def test_nan_and_inf_metrics_are_stored_as_is(sdk: Stores) -> None:
    with shipyard.start_run() as run:
        shipyard.log_metric("nan", float("nan"))
        shipyard.log_metric("inf", math.inf)
        shipyard.log_metric("ninf", -math.inf)
    metrics = shipyard.get_run(run.id).metrics
    assert math.isnan(metrics["nan"]) and metrics["inf"] == math.inf and metrics["ninf"] == -math.inf
    assert math.isnan(shipyard.get_metric_history(run.id, "nan")[0].value)


def test_artifacts_objects_files_and_folders(sdk: Stores, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    folder = tmp_path / "data"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "a.csv").write_text("a,b\n1,2\n")
    with shipyard.start_run() as run:
        shipyard.log_artifact(np.arange(6).reshape(2, 3), name="weights")
        shipyard.log_artifact({"acc": 0.9}, name="eval/summary")
        shipyard.log_artifact(tmp_path / "notes.txt")
        shipyard.log_artifact(folder)
        with pytest.raises(InvalidInputError, match="needs name"):
            shipyard.log_artifact([1, 2, 3])
        with pytest.raises(NotFoundError, match="does not exist"):
            shipyard.log_artifact(tmp_path / "missing.txt")
    assert np.array_equal(shipyard.load_artifact(run.id, "weights"), np.arange(6).reshape(2, 3))
    assert shipyard.load_artifact(run.id, "eval/summary") == {"acc": 0.9}
    assert Path(shipyard.load_artifact(run.id, "notes.txt")).read_text() == "hello"
    copy = Path(shipyard.load_artifact(run.id, "data"))
    assert (copy / "sub" / "a.csv").read_text() == "a,b\n1,2\n"
    assert sorted(a.name for a in shipyard.list_artifacts(run.id)) == [
        "data",
        "eval/summary",
        "notes.txt",
        "weights",
    ]
    with pytest.raises(NotFoundError):
        shipyard.load_artifact(run.id, "nope")


def test_get_run_accepts_a_unique_prefix(sdk: Stores) -> None:
    with shipyard.start_run() as run:
        pass
    assert shipyard.get_run(run.id[:-6]).id == run.id
    assert shipyard.get_run(run.id.upper()).id == run.id
    with pytest.raises(NotFoundError, match=r"no run with id|not found"):
        shipyard.get_run("f" * 32)
    with pytest.raises(NotFoundError):
        shipyard.get_run("not-hex")


def test_metric_logging_is_batched_not_one_transaction_per_call(
    sdk: Stores, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    real = sdk.metadata.log_metrics

    def spy(run_id: str, metrics: Sequence[Metric]) -> None:
        calls.append(len(metrics))
        real(run_id, metrics)

    monkeypatch.setattr(sdk.metadata, "log_metrics", spy)
    with shipyard.start_run() as run:
        for i in range(10_000):
            shipyard.log_metric("loss", float(i), step=i)
    assert sum(calls) == 10_000
    assert len(calls) <= 10_000 // sdk.settings.metric_batch_size + 5  # batch size 500 -> ~20
    assert len(shipyard.get_metric_history(run.id, "loss")) == 10_000


def test_flush_makes_points_visible_while_the_run_is_open(sdk: Stores) -> None:
    with shipyard.start_run() as run:
        shipyard.log_metric("x", 1.0)
        shipyard.flush()
        assert sdk.metadata.get_run(run.id).metrics == {"x": 1.0}


def test_search_runs_with_filters_and_order(sdk: Stores) -> None:
    for i in range(5):
        with shipyard.start_run(f"r{i}", params={"lr": i / 10}):
            shipyard.log_metric("acc", i / 4)
    found = shipyard.search_runs(filter="metrics.acc > 0.5", order_by="metrics.acc DESC")
    assert [r.name for r in found] == ["r4", "r3"]
    assert len(shipyard.search_runs(max_results=2)) == 2
    assert shipyard.search_runs(filter="params.lr = 0.2")[0].name == "r2"


@pytest.mark.parametrize(
    "bad", ["'; drop table runs; --", "metrics.acc >", "nonsense.x = 1", "metrics.acc > 1; DELETE FROM runs"]
)
def test_bad_filters_are_clear_errors_and_change_nothing(sdk: Stores, bad: str) -> None:
    with shipyard.start_run("keep"):
        pass
    with pytest.raises(InvalidInputError):
        shipyard.search_runs(filter=bad)
    assert [r.name for r in shipyard.search_runs()] == ["keep"]


def test_namespaces_separate_reads_and_writes_must_be_explicit(sdk: Stores) -> None:
    with shipyard.start_run("mine") as mine:
        pass
    with shipyard.start_run("prod", namespace="production") as prod:
        pass
    assert [r.name for r in shipyard.search_runs()] == ["mine"]
    assert shipyard.get_namespace() == "user:alice"
    with pytest.raises(NotFoundError, match="namespace 'production'"):
        shipyard.get_run(prod.id)

    shipyard.namespace("production")
    assert [r.name for r in shipyard.search_runs()] == ["prod"]
    assert shipyard.get_run(prod.id).name == "prod"
    with shipyard.start_run("still-mine") as again:
        pass  # switching the read namespace does not move writes
    assert shipyard.get_run(again.id, namespace=None).namespace == "user:alice"

    shipyard.namespace(None)
    assert {r.name for r in shipyard.search_runs()} == {"mine", "prod", "still-mine"}
    assert shipyard.search_runs(namespace="user:alice")[0].id in {mine.id, again.id}
    with pytest.raises(InvalidInputError):
        shipyard.namespace("bad/ns")


def test_use_run_logs_into_an_existing_run_without_ending_it(sdk: Stores, tmp_path: Path) -> None:
    from shipyard.tracking.client import TrackingClient
    from shipyard.tracking.fluent import use_run

    client = TrackingClient(sdk)
    run = client.create_run("flow-run", params={"n": 3})
    with use_run(run.id, sdk) as handle:
        shipyard.log_metric("step_loss", 0.5)
        shipyard.log_param("seed", 7)
        shipyard.log_artifact({"k": 1}, name="from_step")
        assert shipyard.active_run() is handle
    assert shipyard.active_run() is None
    got = client.get_run(run.id)
    assert got.status is RunStatus.RUNNING  # not ended
    assert got.metrics == {"step_loss": 0.5}  # flushed on exit
    assert got.params == {"n": 3, "seed": 7}
    with use_run(run.id, sdk), pytest.raises(ConflictError):
        shipyard.log_param("n", 4)
    assert client.load_artifact(run.id, "from_step") == {"k": 1}
    client.finish_run(run.id, RunStatus.SUCCEEDED)


def test_ending_with_an_unknown_status_is_refused(sdk: Stores) -> None:
    run = shipyard.start_run()
    with pytest.raises(InvalidInputError, match="unknown run status"):
        shipyard.end_run(status="done")
    with pytest.raises(InvalidInputError, match="running"):
        shipyard.end_run(status="running")
    shipyard.end_run()
    assert shipyard.get_run(run.id).status is RunStatus.SUCCEEDED


def test_runs_share_one_writer_and_one_heartbeat_thread(sdk: Stores) -> None:
    import threading
    import time

    outer = shipyard.start_run("outer")
    inner = shipyard.start_run("inner")
    for _ in range(20):
        with shipyard.start_run():
            shipyard.log_metric("x", 1.0)
    names = [t.name for t in threading.enumerate() if t.name.startswith("shipyard-")]
    assert sorted(names) == ["shipyard-heartbeat", "shipyard-metrics"]
    time.sleep(sdk.settings.heartbeat_interval_s * 3)
    assert sdk.metadata.get_run(outer.id).heartbeat_at is not None  # both runs beat
    assert sdk.metadata.get_run(inner.id).heartbeat_at is not None
    shipyard.end_run()
    shipyard.end_run()
    assert shipyard.active_run() is None


def test_a_failure_while_ending_does_not_hide_the_users_exception(
    sdk: Stores, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(run_id: str, metrics: Sequence[Metric]) -> None:
        raise OSError("database is locked")

    monkeypatch.setattr(sdk.metadata, "log_metrics", broken)
    with pytest.raises(ZeroDivisionError) as info, shipyard.start_run() as run:
        shipyard.log_metric("x", 1.0)
        _ = 1 / 0
    assert any("database is locked" in note for note in getattr(info.value, "__notes__", []))
    monkeypatch.undo()
    assert shipyard.get_run(run.id).status is RunStatus.FAILED


def test_a_failed_metric_write_surfaces_on_flush_and_fails_the_run(
    sdk: Stores, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shipyard.core.errors import StorageError

    def broken(run_id: str, metrics: Sequence[Metric]) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(sdk.metadata, "log_metrics", broken)
    run = shipyard.start_run()
    shipyard.log_metric("x", 1.0)
    with pytest.raises(StorageError, match="disk full"):
        shipyard.flush()
    shipyard.log_metric("y", 2.0)
    with pytest.raises(StorageError, match="disk full"):
        shipyard.end_run()
    monkeypatch.undo()
    got = shipyard.get_run(run.id)
    assert got.status is RunStatus.FAILED and got.error is not None and "disk full" in got.error


def test_fluent_stores_follow_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from shipyard.tracking import fluent

    fluent.reset()
    try:
        monkeypatch.setenv("SHIPYARD_HOME", str(tmp_path / "a"))
        with shipyard.start_run("a"):
            pass
        monkeypatch.setenv("SHIPYARD_HOME", str(tmp_path / "b"))
        assert shipyard.search_runs(namespace=None) == []
        with shipyard.start_run("b"):
            pass
        assert [r.name for r in shipyard.search_runs(namespace=None)] == ["b"]
        assert (tmp_path / "a" / "shipyard.db").exists() and (tmp_path / "b" / "shipyard.db").exists()
    finally:
        fluent.reset()
