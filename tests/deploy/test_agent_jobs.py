"""Batch jobs and scheduled flows of the local runtime, on the scheduler's claim store (a real
SQLite metadata database) with an injected clock: the first pass only watches, missed fire times
run once (also across an agent restart), a running job is never started twice, an unscheduled
batch job runs once per change, and two agents on one database fire a time once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from shipyard.core.settings import load_settings
from shipyard.deploy.agent.commands import JobPlan
from shipyard.deploy.agent.jobs import JobRunner
from shipyard.metadata.schedules import ScheduleStore, open_schedule_store
from shipyard.tracking.stores import Stores, open_stores

T0 = datetime(2026, 3, 1, 10, 30, tzinfo=UTC)


class FakeChild:
    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.code: int | None = None

    def poll(self) -> int | None:
        return self.code

    @property
    def alive(self) -> bool:
        return self.code is None


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[Stores]:
    opened = open_stores(load_settings(home=tmp_path, uri=f"sqlite:///{tmp_path / 'db.sqlite'}"))
    yield opened
    opened.close()


def runner(store: ScheduleStore, clock: Clock, started: list[FakeChild], owner: str = "a") -> JobRunner:
    def launch(plan: JobPlan) -> FakeChild:
        child = FakeChild(1000 + len(started))
        started.append(child)
        return child

    return JobRunner("fraud", "staging", store, launch, lambda _line: None, owner=owner, clock=clock)  # type: ignore[arg-type]


HOURLY = JobPlan("flow:retrain", ("python", "-m", "shipyard.cli.main", "run", "f.py"), "0 * * * *", "f1")


def test_missed_fire_times_run_once_even_across_a_restart(stores: Stores) -> None:
    store, clock, started = open_schedule_store(stores.metadata), Clock(), []
    jobs = runner(store, clock, started)
    jobs.update({HOURLY.key: HOURLY})
    jobs.tick()
    assert started == []  # the first pass records where watching begins
    clock.now = T0 + timedelta(minutes=20)  # 10:50: 11:00 not yet
    jobs.tick()
    assert started == []
    clock.now = T0 + timedelta(hours=3, minutes=5)  # 13:35: 11:00, 12:00, 13:00 were missed
    jobs.tick()
    assert len(started) == 1  # once, not three times
    jobs.tick()
    assert len(started) == 1
    claims = store.list_claims(jobs.claim_name(HOURLY.key), kind="fire")
    assert [c.position for c in claims] == [
        int((T0.replace(hour=13, minute=0) - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds() * 1e6)
    ]
    # the agent goes down; while it is down 14:00 and 15:00 pass; a new agent fires once
    started[0].code = 0
    clock.now = T0 + timedelta(hours=5, minutes=1)  # 15:31
    restarted = runner(store, clock, started, owner="b")
    restarted.update({HOURLY.key: HOURLY})
    restarted.tick()
    assert len(started) == 2
    restarted.tick()
    again = runner(store, clock, started, owner="c")  # and a restart right after fires nothing
    again.update({HOURLY.key: HOURLY})
    again.tick()
    assert len(started) == 2
    snapshot = restarted.snapshot()[HOURLY.key]
    assert snapshot["state"] == "running" and snapshot["runs"] == 1 and snapshot["pid"] == started[1].pid
    assert snapshot["next_run"] == (T0.replace(hour=16, minute=0)).isoformat()


def test_a_running_job_is_not_started_twice(stores: Stores) -> None:
    store, clock, started = open_schedule_store(stores.metadata), Clock(), []
    jobs = runner(store, clock, started)
    jobs.update({HOURLY.key: HOURLY})
    jobs.tick()
    clock.now = T0 + timedelta(hours=1)
    jobs.tick()
    assert len(started) == 1
    clock.now = T0 + timedelta(hours=2, minutes=10)  # 12:40: the 11:30 run still goes on
    jobs.tick()
    assert len(started) == 1
    started[0].code = 3
    jobs.tick()  # it ended: the time it missed runs now
    assert len(started) == 2
    snap = jobs.snapshot()[HOURLY.key]
    assert snap["last_exit"] == "exit 3" and snap["runs"] == 2


def test_an_unscheduled_batch_job_runs_once_per_change(stores: Stores) -> None:
    store, clock, started = open_schedule_store(stores.metadata), Clock(), []
    once = JobPlan("batch:backfill", ("python", "batch"), None, "aaa")
    jobs = runner(store, clock, started)
    jobs.update({once.key: once})
    jobs.tick()
    assert len(started) == 1
    started[0].code = 0
    jobs.tick()
    restarted = runner(store, clock, started, owner="b")
    restarted.update({once.key: once})
    restarted.tick()
    assert len(started) == 1  # applied once: not again after a restart
    changed = JobPlan("batch:backfill", ("python", "batch", "--x"), None, "bbb")
    restarted.update({changed.key: changed})
    restarted.tick()
    assert len(started) == 2


def test_two_agents_on_one_database_fire_a_time_once(stores: Stores) -> None:
    store, clock, started = open_schedule_store(stores.metadata), Clock(), []
    first, second = runner(store, clock, started, "a"), runner(store, clock, started, "b")
    for jobs in (first, second):
        jobs.update({HOURLY.key: HOURLY})
        jobs.tick()
    clock.now = T0 + timedelta(hours=1)
    first.tick()
    second.tick()
    assert len(started) == 1


def test_without_a_schedule_store_jobs_report_why(stores: Stores) -> None:
    clock = Clock()
    jobs = JobRunner(
        "fraud", "staging", None, lambda plan: None, lambda _l: None, owner="a", clock=clock,  # type: ignore[arg-type,return-value]
        store_error="a shipyard server has no schedule routes yet",
    )  # fmt: skip
    jobs.update({HOURLY.key: HOURLY})
    jobs.tick()
    assert jobs.snapshot()[HOURLY.key]["state"] == "error"
    assert "no schedule routes" in jobs.snapshot()[HOURLY.key]["error"]
