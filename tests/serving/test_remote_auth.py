"""`shipyard serve` with SHIPYARD_URI pointing at a shipyard server: the model loads through the
server and every bearer token is checked by that server (revocations included); when the server
cannot be reached the service fails closed with 503, not open."""

from __future__ import annotations

from pathlib import Path

import httpx
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import shipyard
from shipyard.core.clock import utcnow
from shipyard.core.settings import load_settings
from shipyard.metadata.security import open_security_store
from shipyard.server.accounts import ADMIN_USER, issue_token
from shipyard.server.app import ServerConfig
from shipyard.serving import ServingConfig, create_serving_app
from shipyard.tracking import fluent
from shipyard.tracking.stores import open_stores
from tests.server.live import live_server
from tests.serving.conftest import live


def test_tokens_are_checked_by_the_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    x = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0], "b": [1.0, 0.0, 1.0, 0.0]})
    model = LogisticRegression().fit(x, [0, 0, 1, 1])
    body = x.to_dict(orient="records")
    server_cm = live_server(tmp_path, ServerConfig(token_cache_s=0))  # revocations show at once
    server = server_cm.__enter__()
    running = True
    try:
        monkeypatch.setenv("SHIPYARD_TOKEN", server.token)
        remote = open_stores(load_settings(home=tmp_path / "client", uri=server.url))
        fluent.reset()
        fluent.set_stores(remote)
        try:
            with shipyard.start_run("train"):
                shipyard.log_model(model, "model", input_example=x, register="remote")
        finally:
            fluent.reset()
        security = open_security_store(server.stores.metadata)
        other, record = issue_token(security, ADMIN_USER, "serving-client")
        app = create_serving_app(ServingConfig("models:/remote/1", token_cache_s=0), stores=remote)
        with live(app) as url:
            for token in (server.token, other):
                ok = httpx.post(url + "/predict", json=body, headers={"Authorization": f"Bearer {token}"})
                assert ok.status_code == 200, ok.text
                assert ok.json()["predictions"] == model.predict(x).tolist()
            bogus = {"Authorization": "Bearer shp_" + "x" * 43}
            assert httpx.post(url + "/predict", json=body, headers=bogus).status_code == 401
            security.revoke_token(record.id, utcnow())
            revoked = {"Authorization": f"Bearer {other}"}
            assert httpx.post(url + "/predict", json=body, headers=revoked).status_code == 401

            server_cm.__exit__(None, None, None)  # the server goes away; the service keeps running
            running = False
            down = httpx.post(
                url + "/predict", json=body, headers={"Authorization": f"Bearer {server.token}"}
            )
            assert down.status_code == 503 and down.headers["retry-after"] == "5"
            error = down.json()["error"]  # generic: the server's address is only in the service's log
            assert error["code"] == "auth_unavailable" and server.url not in error["message"]
        remote.close()
    finally:
        if running:
            server_cm.__exit__(None, None, None)
