"""Numbers past 64 bits never reach the store (400 naming the field), and a stored row that holds
one anyway — or text that no longer decodes — never makes a read answer 500: lists still answer.
(Before, ``package_size: 2**64`` raised OverflowError and one such number inside a monitor spec
or a version signature was stored, after which every list of monitors or versions answered 500.)"""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import text

from tests.server.live import LiveServer

NOW = datetime.now(UTC).replace(microsecond=0).isoformat()
BIG = 2**64


def _unprocessable(response: httpx.Response, *words: str) -> None:
    assert response.status_code == 400, response.text[:300]
    message = response.json()["error"]["message"]
    for word in words:
        assert word in message, message


def _version(**changes: object) -> dict[str, object]:
    body: dict[str, object] = {
        "package_digest": "a" * 64,
        "package_size": 10,
        "flavor": "sklearn",
        "created_by": "admin",
        "created_at": NOW,
    }
    return {**body, **changes}


def test_integers_past_64_bits_and_non_numbers_are_refused_at_the_edge(admin: httpx.Client) -> None:
    _unprocessable(admin.post("/api/v1/models/m/versions", json=_version(package_size=BIG)), "package_size")
    _unprocessable(
        admin.post("/api/v1/models/m/versions", json=_version(signature={"inputs": [{"n": BIG}]})),
        "signature",
        "inputs[0].n",
    )
    spec = {"name": "m", "deployment": "dep", "window": "1h", "checks": {"volume": {"min": BIG}}}
    put = admin.put("/api/v1/monitoring/monitors/m", json={"deployment": "dep", "spec": spec, "at": NOW})
    _unprocessable(put, "spec", "checks.volume.min")
    _unprocessable(admin.get("/api/v1/models/m/versions/18446744073709551616"), "version")
    # a number is not a time (it used to be stored as 1970-01-01)
    _unprocessable(admin.patch("/api/v1/models/m", json={"description": "d", "at": 0}), "at")
    # NaN is not JSON: Python's parser reads it, the edge refuses it
    raw = '{"params": {"x": NaN}}'
    response = admin.post("/api/v1/runs/r/params", content=raw, headers={"Content-Type": "application/json"})
    _unprocessable(response, "params", "x")
    assert admin.get("/api/v1/monitoring/monitors").json()["monitors"] == []


ODD = '{"checks": {"volume": {"min": 18446744073709551616}}, "deployment": "dep", "name": "odd"}'


@pytest.mark.parametrize("stored", [ODD, "{not json"])
def test_a_list_still_answers_when_a_stored_document_is_odd(
    server: LiveServer, admin: httpx.Client, stored: str
) -> None:
    assert admin.post("/api/v1/models", json={"name": "m", "at": NOW}).status_code == 201
    assert admin.post("/api/v1/models/m/versions", json=_version()).status_code == 201
    engine = server.stores.metadata._engine  # type: ignore[attr-defined]  # written past the API on purpose
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO monitors (name, deployment, spec, created_at, updated_at) "
                "VALUES ('odd', 'dep', :spec, 0, 0)"
            ),
            {"spec": stored},
        )
        conn.execute(text("UPDATE model_versions SET signature = :s"), {"s": stored})

    monitors = admin.get("/api/v1/monitoring/monitors")
    assert monitors.status_code == 200, monitors.text
    [odd] = monitors.json()["monitors"]
    assert odd["name"] == "odd" and odd["deployment"] == "dep"
    assert admin.get("/api/v1/monitoring/monitors/odd").status_code == 200
    versions = admin.get("/api/v1/models/m/versions")
    assert versions.status_code == 200, versions.text
    [version] = versions.json()["versions"]
    if stored.startswith("{not"):
        assert "$unreadable" in version["signature"]
    else:
        assert version["signature"]["checks"]["volume"]["min"] == float(BIG)  # JSON, past 64 bits
    assert admin.get("/api/v1/models/m/versions/1").status_code == 200
