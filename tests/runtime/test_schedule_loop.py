"""The local scheduler (ScheduleRunner) over a real metadata database, with an injected clock and
a starter that records what it was asked to start: due ticks, skip and catch-up, restarts, two
schedulers on one database, dataset and model triggers. Nothing sleeps."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from shipyard.core.errors import FlowError
from shipyard.flows import flow, on_dataset, on_model, on_model_version, step
from shipyard.metadata.datasets import DatasetVersionCreate, open_dataset_store
from shipyard.metadata.model_registry import ModelVersionCreate, open_registry_store
from shipyard.metadata.schedules import open_schedule_store
from shipyard.metadata.sql import SqlMetadataStore
from shipyard.runtime.loader import LoadedFlow
from shipyard.runtime.schedule_events import EventReader
from shipyard.runtime.schedule_loop import ScheduleRunner, StartedRun
from tests.contract.conftest import postgres_schema

__all__ = ["postgres_schema"]  # the fixture, for the Postgres case

T0 = datetime(2024, 1, 1, 10, 30, tzinfo=UTC)


@step
def noop() -> int:
    return 1


@flow(schedule="0 * * * *")
def hourly(n: int = 1) -> None:
    noop()


@flow(trigger=on_dataset("transactions"))
def on_tx() -> None:
    noop()


@flow(trigger=on_model("churn", alias="champion") | on_model_version("churn"))
def on_churn() -> None:
    noop()


def _loaded(f: object) -> LoadedFlow:
    return LoadedFlow(flow=f, module=sys.modules[__name__], path=Path(__file__), source_hash="")  # type: ignore[arg-type]


@dataclass
class Clock:
    now: datetime = T0

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Starter:
    """Records the runs it is asked to start; fails for tags listed in ``fail``."""

    started: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    fail: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, loaded: LoadedFlow, tags: Mapping[str, str]) -> StartedRun:
        if tags["shipyard.trigger"] in self.fail:
            raise FlowError("flow file no longer builds")
        with self.lock:
            self.started.append((loaded.flow.name, dict(tags)))
            return StartedRun(f"run{len(self.started)}", "succeeded")

    @property
    def triggers(self) -> list[str]:
        return [tags["shipyard.trigger"] for _, tags in self.started]


@pytest.fixture
def db(tmp_path: Path) -> Iterator[SqlMetadataStore]:
    store = SqlMetadataStore(f"sqlite:///{tmp_path / 'sched.db'}")
    try:
        yield store
    finally:
        store.close()


def _runner(db: SqlMetadataStore, flows: list[object], clock: Clock, starter: Starter, **kw: object
            ) -> tuple[ScheduleRunner, list[str]]:  # fmt: skip
    lines: list[str] = []
    events = EventReader(open_registry_store(db), open_dataset_store(db), page=2)  # small pages: paging runs
    loaded = [_loaded(f) for f in flows]
    runner = ScheduleRunner(
        loaded, open_schedule_store(db), events, starter, clock=clock, owner="test", report=lines.append, **kw
    )
    return runner, lines


def _hour(h: int, minute: int = 0) -> datetime:
    return datetime(2024, 1, 1, h, minute, tzinfo=UTC)


# ---- cron --------------------------------------------------------------------------------------


def test_a_tick_fires_once_and_not_again_after_a_restart(db: SqlMetadataStore) -> None:
    clock, starter = Clock(), Starter()
    runner, _ = _runner(db, [hourly], clock, starter)
    assert runner.run_pass() == []  # first pass: watching starts now, nothing from the past
    clock.now = _hour(10, 59)
    assert runner.run_pass() == []
    assert runner.next_fire() == _hour(11)
    clock.now = _hour(11, 0) + timedelta(seconds=5)
    (fired,) = runner.run_pass()
    assert fired.run is not None and fired.run.run_id == "run1"
    assert starter.started == [
        (
            "hourly",
            {
                "shipyard.trigger": "schedule",
                "shipyard.scheduled_time": "2024-01-01T11:00:00+00:00",
                "shipyard.trigger_source": "cron:0 * * * *",
            },
        )
    ]
    assert runner.run_pass() == []
    restarted, _ = _runner(db, [hourly], clock, starter)  # a new process on the same database
    assert restarted.run_pass() == [] and len(starter.started) == 1
    (claim,) = open_schedule_store(db).list_claims("hourly", kind="fire")
    assert claim.run_id == "run1" and claim.event == "schedule"


def test_a_restart_after_downtime_skips_to_the_latest_tick(db: SqlMetadataStore) -> None:
    clock, starter = Clock(), Starter()
    _runner(db, [hourly], clock, starter)[0].run_pass()
    clock.now = _hour(15, 10)  # down from 10:30 to 15:10: 11, 12, 13, 14 and 15 were missed
    runner, lines = _runner(db, [hourly], clock, starter)
    runner.run_pass()
    assert [t["shipyard.scheduled_time"] for _, t in starter.started] == ["2024-01-01T15:00:00+00:00"]
    assert lines == [
        "flow hourly: skipped 4 missed fire time(s) of '0 * * * *' (--catchup runs each); running the latest",
        "flow hourly: run run1 for schedule: succeeded",
    ]


def test_catchup_runs_each_missed_tick_in_order_up_to_the_bound(db: SqlMetadataStore) -> None:
    clock, starter = Clock(), Starter()
    _runner(db, [hourly], clock, starter)[0].run_pass()
    clock.now = _hour(15, 10)
    _runner(db, [hourly], clock, starter, catchup=True)[0].run_pass()
    assert [t["shipyard.scheduled_time"][11:16] for _, t in starter.started] == [
        "11:00", "12:00", "13:00", "14:00", "15:00"
    ]  # fmt: skip
    clock.now = _hour(23, 30)  # 8 more missed, at most 3 per pass: the latest 3
    runner, lines = _runner(db, [hourly], clock, starter, catchup=True, max_catchup=3)
    runner.run_pass()
    assert [t["shipyard.scheduled_time"][11:16] for _, t in starter.started[5:]] == [
        "21:00",
        "22:00",
        "23:00",
    ]
    assert lines[0] == (
        "flow hourly: more than 3 fire times of '0 * * * *' were missed; running the latest 3 (--max-catchup)"
    )


def test_a_run_that_fails_to_start_is_recorded_and_not_retried(db: SqlMetadataStore) -> None:
    clock, starter = Clock(), Starter(fail={"schedule"})
    runner, lines = _runner(db, [hourly], clock, starter)
    runner.run_pass()
    clock.now = _hour(11, 1)
    (fired,) = runner.run_pass()
    assert fired.run is None and fired.error == "FlowError: flow file no longer builds"
    assert lines == ["flow hourly: no run started for schedule: FlowError: flow file no longer builds"]
    (claim,) = open_schedule_store(db).list_claims("hourly", kind="fire")
    assert claim.run_id is None and claim.error == fired.error
    starter.fail.clear()
    assert runner.run_pass() == []  # at most once per tick


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_two_schedulers_on_one_database_fire_each_tick_once(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    if backend == "sqlite":
        uri = f"sqlite:///{tmp_path / 'shared.db'}"
    else:
        uri, _ = request.getfixturevalue("postgres_schema")
    stores = [SqlMetadataStore(uri) for _ in range(2)]
    try:
        clock, starter = Clock(), Starter()
        runners = [_runner(s, [hourly], clock, starter, catchup=True)[0] for s in stores]
        runners[0].run_pass()  # watching starts at 10:30
        clock.now = _hour(10, 30) + timedelta(hours=30)  # 30 ticks due for both schedulers at once
        barrier = threading.Barrier(2)

        def go(runner: ScheduleRunner) -> None:
            barrier.wait()
            runner.run_pass()

        threads = [threading.Thread(target=go, args=(r,)) for r in runners]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        times = [t["shipyard.scheduled_time"] for _, t in starter.started]
        assert len(times) == 30 and len(set(times)) == 30
    finally:
        for s in stores:
            s.close()


# ---- triggers ----------------------------------------------------------------------------------


def _log_dataset(db: SqlMetadataStore, at: datetime) -> int:
    create = DatasetVersionCreate("transactions", "files", "folder", (), "alice", at)
    return open_dataset_store(db).create_version(create).version


def test_a_dataset_version_starts_one_run_and_not_again_after_a_restart(db: SqlMetadataStore) -> None:
    clock, starter = Clock(), Starter()
    runner, _ = _runner(db, [on_tx], clock, starter)
    assert runner.run_pass() == []  # the dataset does not exist yet: watching starts at version 0
    assert _log_dataset(db, T0) == 1
    (fired,) = runner.run_pass()
    assert starter.started == [
        (
            "on_tx",
            {
                "shipyard.trigger": "dataset:transactions@1",
                "shipyard.scheduled_time": T0.isoformat(),
                "shipyard.trigger_source": "dataset:transactions",
            },
        )
    ]
    assert fired.position == 1
    assert runner.run_pass() == []
    assert _runner(db, [on_tx], clock, starter)[0].run_pass() == []  # restarted: v1 was handled
    for _ in range(3):
        _log_dataset(db, T0)
    runner.run_pass()  # coalesced: one run for the newest of v2..v4
    assert starter.triggers == ["dataset:transactions@1", "dataset:transactions@4"]
    for _ in range(5):
        _log_dataset(db, T0)  # v5..v9
    open_dataset_store(db).delete_version("transactions", 6)
    catching, lines = _runner(db, [on_tx], clock, starter, catchup=True, max_catchup=3)
    catching.run_pass()  # one run per version, 3 per pass; the deleted v6 is passed over
    assert starter.triggers[2:] == [
        "dataset:transactions@5",
        "dataset:transactions@7",
        "dataset:transactions@8",
    ]
    assert [line for line in lines if "run run" not in line] == [
        "flow on_tx: more events of dataset:transactions are waiting; the next pass runs them"
    ]
    catching.run_pass()
    assert starter.triggers[5:] == ["dataset:transactions@9"]
    assert catching.run_pass() == []


def test_a_scheduler_starting_late_does_not_fire_for_old_versions(db: SqlMetadataStore) -> None:
    _log_dataset(db, T0)
    _log_dataset(db, T0)
    clock, starter = Clock(), Starter()
    runner, _ = _runner(db, [on_tx], clock, starter)
    runner.run_pass()
    runner.run_pass()
    assert starter.started == []
    _log_dataset(db, T0)
    runner.run_pass()
    assert starter.triggers == ["dataset:transactions@3"]


def _version(db: SqlMetadataStore) -> int:
    registry = open_registry_store(db)
    version = registry.create_version(ModelVersionCreate("churn", "a" * 64, 1, "sklearn", "alice", T0))
    registry.set_approval("churn", version.version, True, user="bob", at=T0)
    return version.version


def test_model_versions_and_alias_moves_trigger(db: SqlMetadataStore) -> None:
    registry = open_registry_store(db)
    clock, starter = Clock(), Starter()
    runner, _ = _runner(db, [on_churn], clock, starter)
    runner.run_pass()
    _version(db)
    runner.run_pass()
    assert starter.triggers == ["model:churn/1"]
    registry.set_alias("churn", "champion", 1, user="bob", at=T0)
    registry.set_alias("churn", "candidate", 1, user="bob", at=T0)  # another alias: not watched
    runner.run_pass()
    assert starter.triggers == ["model:churn/1", "model:churn@champion=1"]
    _version(db)
    registry.set_alias("churn", "champion", 2, user="bob", at=T0 + timedelta(minutes=1))
    runner.run_pass()
    assert starter.triggers[2:] == ["model:churn@champion=2", "model:churn/2"]
    assert starter.started[2][1]["shipyard.scheduled_time"] == "2024-01-01T10:31:00+00:00"
    registry.delete_alias("churn", "champion", user="bob", at=T0)  # a delete starts nothing...
    registry.protect_alias("churn", "champion", False, user="bob", at=T0)
    runner.run_pass()
    assert len(starter.started) == 4
    claims = open_schedule_store(db).list_claims("on_churn", source="model-alias:churn@champion", limit=1)
    assert claims[0].kind == "baseline"  # ...but the cursor moved past it
    registry.set_alias("churn", "champion", 1, user="bob", at=T0)
    registry.set_alias("churn", "champion", 2, user="bob", at=T0)
    registry.set_alias("churn", "champion", 1, user="bob", at=T0)
    runner.run_pass()  # three moves, coalesced: one run for the newest
    assert starter.triggers[4:] == ["model:churn@champion=1"]
    assert _runner(db, [on_churn], clock, starter)[0].run_pass() == []


def test_scheduled_flows_need_distinct_names(tmp_path: Path) -> None:
    from shipyard.runtime.schedule_loop import load_scheduled

    text = (
        "from shipyard import flow, step\n@step\ndef s() -> int:\n    return 1\n"
        "@flow(schedule='@daily')\ndef nightly():\n    s()\n"
    )
    (tmp_path / "a.py").write_text(text)
    (tmp_path / "b.py").write_text(text)
    (tmp_path / "c.py").write_text(text.replace("(schedule='@daily')", ""))
    assert [f.flow.name for f in load_scheduled([tmp_path / "a.py"])] == ["nightly"]
    with pytest.raises(FlowError, match=r"flow 'nightly' is defined in .*a\.py and .*b\.py"):
        load_scheduled([tmp_path / "a.py", tmp_path / "b.py"])
    with pytest.raises(FlowError, match="defines no flow with a schedule or trigger"):
        load_scheduled([tmp_path / "c.py"])
