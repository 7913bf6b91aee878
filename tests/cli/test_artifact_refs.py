"""``artifacts get RUN STEP[INDEX]/NAME`` fetches a task's artifact; ``artifacts list`` shows refs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from shipyard.core.settings import load_settings
from shipyard.tracking.client import TrackingClient
from shipyard.tracking.stores import open_stores
from tests.cli.conftest import Seeded


def _task_artifacts(run_id: str) -> None:
    stores = open_stores(load_settings())
    try:
        client = TrackingClient(stores)
        tasks = {t.key: t for t in stores.metadata.list_tasks(run_id)}
        client.log_artifact(run_id, {"squared": 0}, name="output", task_id=tasks["square[0]"].id)
        client.log_artifact(run_id, b"1,2,3", name="data/numbers.csv", task_id=tasks["numbers"].id)
    finally:
        stores.close()


def test_list_shows_references_and_get_takes_them(
    cli: Any, seeded: Seeded, tmp_path: Path, monkeypatch: Any
) -> None:
    _task_artifacts(seeded.flow)
    listing = cli("artifacts", "list", seeded.flow)
    assert listing.code == 0, listing.err
    refs = [line.split()[0] for line in listing.out.splitlines()[2:]]
    assert sorted(refs) == ["numbers/data/numbers.csv", "output", "square[0]/output"]
    data = cli("artifacts", "list", seeded.flow, "--json").json()
    assert sorted(a["ref"] for a in data) == sorted(refs)

    one = cli("artifacts", "get", seeded.flow, "square[0]/output")
    assert one.code == 0, one.err
    assert json.loads(one.out) == {"squared": 0}
    assert '"total": 14' in cli("artifacts", "get", seeded.flow, "output").out  # the run's own

    monkeypatch.chdir(tmp_path)
    got = cli("artifacts", "get", seeded.flow[:-4], "numbers/data/numbers.csv")
    assert got.code == 0, got.err
    assert (tmp_path / "numbers.csv").read_bytes() == b"1,2,3"


def test_unknown_references_say_where_to_look(cli: Any, seeded: Seeded) -> None:
    _task_artifacts(seeded.flow)
    no_task = cli("artifacts", "get", seeded.flow, "cube[0]/output")
    assert no_task.code == 1 and f"shipyard artifacts list {seeded.flow}" in no_task.err
    assert "STEP[INDEX]/NAME" in no_task.err and len(no_task.err.splitlines()) == 1
    no_name = cli("artifacts", "get", seeded.flow, "square[0]/model")
    assert no_name.code == 1 and "task square[0]" in no_name.err and "'model'" in no_name.err
