"""``shipyard schedule run|list`` end to end: a dataset version logged starts one real flow run
(tagged with the event), a second pass and a restart start none; errors are one line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

FLOW = """
from shipyard import flow, on_dataset, step

@step
def count(n: int) -> int:
    return n + 1

@flow(schedule="0 3 * * *", trigger=on_dataset("transactions"))
def refresh(n: int = 41):
    return count(n)
"""


def _log_version() -> int:
    from shipyard.core.settings import load_settings
    from shipyard.data.api import log_dataset
    from shipyard.tracking.stores import open_stores

    stores = open_stores(load_settings())
    try:
        return log_dataset("transactions", pd.DataFrame({"x": [1, 2]}), stores=stores).version
    finally:
        stores.close()


def test_a_logged_dataset_version_starts_one_tagged_run(cli: Any, tmp_path: Path) -> None:
    path = tmp_path / "refresh.py"
    path.write_text(FLOW)
    first = cli("schedule", "run", str(path), "--once")
    assert first.code == 0, first.err
    assert "scheduling flow refresh: cron '0 3 * * *' (UTC), dataset:transactions" in first.out
    assert cli("runs", "list", "--json").json() == []  # the first pass only starts watching
    assert _log_version() == 1
    fired = cli("schedule", "run", str(path), "--once")
    assert fired.code == 0, fired.err
    assert "for dataset:transactions@1: succeeded" in fired.out
    (run,) = cli("runs", "list", "--json").json()
    shown = cli("runs", "show", run["id"], "--json").json()
    assert shown["tags"]["shipyard.trigger"] == "dataset:transactions@1"
    assert "shipyard.scheduled_time" in shown["tags"]
    assert shown["params"] == {"n": 41} and shown["output"] == 42
    again = cli("schedule", "run", str(path), "--once")  # a new process: the version was handled
    assert again.code == 0 and "for dataset:" not in again.out
    assert len(cli("runs", "list", "--json").json()) == 1
    listed = cli("schedule", "list", str(path), "--json").json()
    assert listed[0]["cron"] == "0 3 * * *" and listed[0]["next"][0].endswith("T03:00:00+00:00")
    assert listed[0]["last_fired"]["dataset:transactions"]["run_id"] == run["id"]
    assert listed[0]["last_fired"]["cron:0 3 * * *"] is None
    text = cli("schedule", "list", str(path))
    assert "dataset:transactions  last fired: " in text.out and run["id"] in text.out


@pytest.mark.parametrize(
    ("source", "needle"),
    [
        (FLOW.replace("0 3 * * *", "0 3 * *"), "schedule '0 3 * *' is not a cron expression"),
        (FLOW.replace('on_dataset("transactions")', 'on_dataset("a/b")'), "on_dataset: dataset name 'a/b'"),
        (FLOW.replace("n: int = 41", "n: int"), "give n a default"),
    ],
)
def test_bad_declarations_are_one_line(cli: Any, tmp_path: Path, source: str, needle: str) -> None:
    path = tmp_path / "bad.py"
    path.write_text(source)
    result = cli("schedule", "run", str(path), "--once")
    assert result.code == 1
    assert needle in result.err and len(result.err.strip().splitlines()) == 1


def test_a_server_uri_is_refused(cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "refresh.py"
    path.write_text(FLOW)
    monkeypatch.setenv("SHIPYARD_URI", "http://127.0.0.1:9")
    result = cli("schedule", "run", str(path), "--once")
    assert result.code == 1
    assert "needs its URI" in result.err and len(result.err.strip().splitlines()) == 1


def test_the_loop_reports_a_store_outage_and_goes_on(
    cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shipyard.core.errors import StorageError
    from shipyard.runtime.schedule_loop import ScheduleRunner

    path = tmp_path / "refresh.py"
    path.write_text(FLOW)
    passes: list[int] = []
    sleeps: list[float] = []

    def run_pass(self: ScheduleRunner) -> list[Any]:
        passes.append(1)
        raise StorageError("metadata database error at sqlite:///x: disk I/O error\nsecond line")

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(ScheduleRunner, "run_pass", run_pass)
    monkeypatch.setattr("shipyard.cli.schedule.time.sleep", sleep)
    result = cli("schedule", "run", str(path), "--interval", "5")
    assert result.code == 130 and len(passes) == 2  # the loop survived the first failure
    assert result.out.count("error: metadata database error at sqlite:///x: disk I/O error second line") == 2
    assert all(0 < s <= 5 for s in sleeps)
