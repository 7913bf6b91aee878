"""A flow's triggers on Airflow: the exported DAG is scheduled on one asset per trigger, and
`shipyard schedule run --notify-airflow URL` reports a new dataset version to a real Airflow 3 API
server as an event of that asset — Airflow then queues a run of the DAG."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from shipyard.core.errors import FlowError
from shipyard.core.settings import load_settings
from shipyard.exporters.airflow import AirflowOptions, asset_uri, export
from shipyard.exporters.airflow_assets import airflow_notifier
from shipyard.runtime.api import RunOptions
from shipyard.runtime.schedule_loop import NOTIFIED, open_scheduler
from shipyard.runtime.stores import open_run_stores
from tests.cli.test_schedule_cli import _log_version
from tests.exporters.airflow_venv import airflow_env
from tests.exporters.test_airflow_real import _airflow, _airflow_python

FLOW = """
from shipyard import flow, on_dataset, on_model, step

@step
def count(n: int) -> int:
    return n + 1

@flow(trigger=on_dataset("transactions") | on_model("churn", alias="champion"))
def refresh(n: int = 41):
    return count(n)
"""


def test_trigger_sources_map_to_asset_uris() -> None:
    assert asset_uri("dataset:transactions") == "shipyard://dataset/transactions"
    assert asset_uri("model-version:churn") == "shipyard://model-version/churn"
    assert asset_uri("model-alias:churn@champion") == "shipyard://model-alias/churn/champion"
    assert asset_uri("model-alias:churn@*") == "shipyard://model-alias/churn/%2A"
    assert asset_uri("dataset:a b") == "shipyard://dataset/a%20b"


def test_the_exported_dag_is_scheduled_on_its_triggers_assets(tmp_path: Path) -> None:
    flow = tmp_path / "refresh.py"
    flow.write_text(FLOW)
    text = export(flow, {}, tmp_path / "dags", AirflowOptions(operator="local")).read_text()
    assert "ASSETS = ['shipyard://dataset/transactions', 'shipyard://model-alias/churn/champion']" in text
    assert "schedule=_schedule()," in text


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def airflow_api(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A real Airflow 3 API server over the exported DAG (its home's SQLite, auth off)."""
    python = _airflow_python(3)
    home, dags = tmp_path / "airflow", tmp_path / "dags"
    dags.mkdir(parents=True)
    flow = tmp_path / "refresh.py"
    flow.write_text(FLOW)
    export(flow, {}, dags, AirflowOptions(operator="local", dag_id="shipyard_refresh"))
    env = airflow_env(home, dags, AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS="True")
    _airflow(python, env, "db", "migrate")
    _airflow(python, env, "dags", "reserialize")  # parses the DAG: its assets exist now
    port = _free_port()
    log = (tmp_path / "api.log").open("w")
    server = subprocess.Popen(
        [str(python), "-m", "airflow", "api-server", "--port", str(port)], env=env, stdout=log, stderr=log
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 240
        while True:
            try:
                if httpx.get(url + "/api/v2/version", timeout=5).is_success:
                    break
            except httpx.HTTPError:
                pass
            assert server.poll() is None and time.monotonic() < deadline, (tmp_path / "api.log").read_text()[
                -2000:
            ]
            time.sleep(1)
        yield url, flow
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


@pytest.mark.slow
def test_a_new_dataset_version_queues_a_run_of_the_exported_dag_in_airflow(
    airflow_api: tuple[str, Path],
) -> None:
    url, flow = airflow_api
    assets: dict[str, Any] = httpx.get(url + "/api/v2/assets").json()
    scheduled = {a["uri"]: [d["dag_id"] for d in a["scheduled_dags"]] for a in assets["assets"]}
    assert scheduled["shipyard://dataset/transactions"] == ["shipyard_refresh"]
    assert scheduled["shipyard://model-alias/churn/champion"] == ["shipyard_refresh"]
    httpx.patch(url + "/api/v2/dags/shipyard_refresh", json={"is_paused": False}).raise_for_status()

    stores = open_run_stores(load_settings())
    try:
        runner = open_scheduler([flow], stores, RunOptions(), starter=airflow_notifier(url))
        assert runner.run_pass() == []  # starts watching
        assert _log_version() == 1
        (fired,) = runner.run_pass()
        assert fired.run is not None and fired.run.status == NOTIFIED and fired.error is None
        assert runner.run_pass() == []  # claimed once
    finally:
        stores.close()
    queued = httpx.get(url + "/api/v2/dags/shipyard_refresh/assets/queuedEvents").json()
    assert [q["dag_id"] for q in queued["queued_events"]] == ["shipyard_refresh"]  # Airflow will run it
    events = httpx.get(url + "/api/v2/assets/events").json()["asset_events"]
    assert [e["extra"]["shipyard_event"] for e in events] == ["dataset:transactions@1"]


def test_an_airflow_without_the_dag_is_one_line(tmp_path: Path) -> None:
    notify = airflow_notifier("http://127.0.0.1:9")
    with pytest.raises(FlowError, match=r"cannot reach Airflow at http://127\.0\.0\.1:9"):
        from shipyard.runtime.loader import load_flow

        flow = tmp_path / "refresh.py"
        flow.write_text(FLOW)
        loaded = load_flow(flow)
        notify(loaded, {"shipyard.trigger_source": "dataset:transactions", "shipyard.trigger": "x"})
    with pytest.raises(FlowError, match="is not an http"):
        airflow_notifier("airflow:8080")
