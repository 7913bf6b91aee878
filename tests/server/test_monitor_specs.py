"""Monitor specs stored through the API are validated like the CLI's, and a stored spec never
chooses which folder the server (or any runner) reads: the prediction log's location is the
runner's own ($SHIPYARD_HOME/predictions or its --log-dir), the deployment a flat name."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from shipyard.core.errors import InvalidInputError
from shipyard.metadata.monitoring import open_monitoring_records
from shipyard.monitoring.monitors import run_monitor
from tests.monitoring.logutil import write_log
from tests.server.live import LiveServer

NOW = datetime.now(UTC).replace(microsecond=0)


def _spec(**changes: Any) -> dict[str, Any]:
    return {"name": "m", "deployment": "dep", "window": "1h", "checks": {"volume": {"min": 1}}, **changes}


def _put(admin: httpx.Client, spec: dict[str, Any], deployment: str | None = None) -> httpx.Response:
    body = {"deployment": deployment or spec.get("deployment", "dep"), "spec": spec, "at": NOW.isoformat()}
    return admin.put(f"/api/v1/monitoring/monitors/{spec.get('name', 'm')}", json=body)


def _refused(response: httpx.Response, *words: str) -> None:
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_input"
    assert "\n" not in error["message"] and "Traceback" not in response.text
    for word in words:
        assert word in error["message"], error["message"]


def _traffic(folder: Path, deployment: str = "dep") -> None:
    write_log(folder, deployment, [NOW - timedelta(minutes=10)] * 3, {"a": [1.0, 2.0, 3.0]}, [0, 1, 0])


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"log_dir": "/etc"}, ("log_dir",)),
        ({"log_dir": "../../"}, ("log_dir",)),
        ({"deployment": "../../etc"}, ("deployment",)),
        ({"deployment": "/etc"}, ("deployment",)),
        ({"deployment": "a/b"}, ("deployment",)),
        ({"deployment": ".."}, ("deployment",)),
        ({"deployment": "models:/fraud/1"}, ("deployment",)),
        ({"surprise": 1}, ("surprise",)),
        ({"checks": {"vibes": {}}}, ("unknown check",)),
        ({"window": "3y"}, ("window",)),
    ],
)
def test_a_bad_spec_is_refused_with_one_line(
    admin: httpx.Client, changes: dict[str, Any], words: tuple[str, ...]
) -> None:
    _refused(_put(admin, _spec(**changes)), *words)
    assert admin.get("/api/v1/monitoring/monitors").json()["monitors"] == []


def test_the_stored_spec_is_the_checked_one_and_must_agree_with_the_route(admin: httpx.Client) -> None:
    _refused(_put(admin, _spec(), deployment="other"), "deployment")
    _refused(admin.put("/api/v1/monitoring/monitors/x", json={"deployment": "dep", "spec": _spec(),
                                                               "at": NOW.isoformat()}), "name")  # fmt: skip
    assert _put(admin, _spec()).status_code == 204
    stored = admin.get("/api/v1/monitoring/monitors/m").json()["spec"]
    assert stored["deployment"] == "dep" and stored["every"] == "1h"  # defaults filled by the check


def test_a_stored_spec_cannot_make_a_run_read_another_folder(server: LiveServer, tmp_path: Path) -> None:
    """A record written before validation existed (or straight into the database) is checked again
    when it runs; the run reads only the runner's own prediction log."""
    elsewhere = tmp_path / "elsewhere"
    _traffic(elsewhere)
    records = open_monitoring_records(server.stores.metadata)
    records.put_monitor("legacy", "dep", _spec(name="legacy", log_dir=str(elsewhere)), NOW)
    with pytest.raises(InvalidInputError, match="log_dir"):
        run_monitor(server.stores, "legacy", now=NOW)
    escape = f"../../{elsewhere.name}/dep"
    records.put_monitor("escape", escape, _spec(name="escape", deployment=escape), NOW)
    with pytest.raises(InvalidInputError, match="deployment"):
        run_monitor(server.stores, "escape", now=NOW)
    assert records.results("legacy") == [] and records.results("escape") == []


def test_an_accepted_spec_runs_over_the_servers_own_log(server: LiveServer, admin: httpx.Client) -> None:
    assert _put(admin, _spec()).status_code == 204
    _traffic(server.settings.home / "predictions")
    run = run_monitor(server.stores, "m", now=NOW)
    (volume,) = run.results
    assert volume.check == "volume" and volume.value == 3 and not volume.breached


def test_the_cli_refuses_the_same_specs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`shipyard monitor create` and the API share one check."""
    from shipyard.cli.main import main

    for changes, word in [({"log_dir": "/etc"}, "log_dir"), ({"deployment": "../../etc"}, "deployment")]:
        path = tmp_path / "spec.json"
        path.write_text(json.dumps(_spec(**changes)))
        assert main(["monitor", "create", str(path)]) == 1
        err = capsys.readouterr().err
        assert word in err and "Traceback" not in err
