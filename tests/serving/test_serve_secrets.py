"""``shipyard serve --secret db_password``: the deployment's secret, read for its project and
environment, is the service's DB_PASSWORD before the model loads, and never reaches the client or
the service's log, even when the model fails with it in its error."""

from __future__ import annotations

import base64
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pandas as pd
import pytest

from shipyard.core.errors import ConfigurationError, FlowError
from shipyard.core.settings import load_settings
from shipyard.serving import ServingConfig, create_serving_app
from shipyard.tracking.stores import Stores, open_stores
from tests.serving.conftest import live
from tests.serving.fakes import SecretReader

VALUE = "s3rve-canary-51f0c2-NOT-IN-LOGS"


@pytest.fixture
def stores(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stores]:
    from shipyard.core.clock import utcnow
    from shipyard.registry.service import ModelRegistry
    from shipyard.secrets import open_secrets_backend
    from shipyard.serving.secrets import _LOGGERS, RedactSecrets
    from shipyard.tracking.client import TrackingClient

    monkeypatch.setenv("SHIPYARD_SECRETS_KEY", base64.b64encode(os.urandom(32)).decode())
    monkeypatch.delenv("DB_PASSWORD", raising=False)
    settings = load_settings(home=tmp_path / "home", project="fraud", environment="staging")
    opened = open_stores(settings)
    open_secrets_backend(settings, opened.metadata).set(
        "fraud", "staging", "db_password", VALUE, by="t", at=utcnow()
    )
    example = pd.DataFrame({"a": [1.0, 2.0], "b": [3.0, 4.0]})
    run = TrackingClient(opened).create_run("secret-model")
    registry = ModelRegistry(opened)
    signature = {
        "input_kind": "dataframe",
        "inputs": [{"name": "a", "type": "float64"}, {"name": "b", "type": "float64"}],
        "outputs": {"kind": "ndarray", "type": "int64", "shape": [-1]},
    }
    record = registry.log_model(
        run.id, SecretReader(), "secretive", input_example=example, signature=signature
    )
    registry.register_record(record, "secretive")
    try:
        yield opened
    finally:
        opened.close()
        os.environ.pop("DB_PASSWORD", None)
        for name in _LOGGERS:
            for f in [f for f in logging.getLogger(name).filters if isinstance(f, RedactSecrets)]:
                logging.getLogger(name).removeFilter(f)


def _config(**kw: object) -> ServingConfig:
    return ServingConfig("models:/secretive/1", auth=False, allow_unsafe_model=True, log_dir=None, **kw)  # type: ignore[arg-type]


def test_the_model_sees_its_secret_and_nothing_else_does(
    stores: Stores, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with live(create_serving_app(_config(secrets=("db_password",)), stores=stores)) as url:
        ok = httpx.post(f"{url}/predict", json=[{"a": 1.0, "b": 2.0}, {"a": 3.0, "b": 4.0}])
        assert ok.status_code == 200 and ok.json()["predictions"] == [len(VALUE)] * 2
        failed = httpx.post(f"{url}/predict", json=[{"a": -1e9, "b": 0.0}])
        assert failed.status_code == 500 and VALUE not in failed.text
    failures = [r for r in caplog.records if "failed" in r.getMessage()]
    assert failures, "the model's failure is in the service log"
    logged = "\n".join(r.getMessage() + (r.exc_text or "") for r in caplog.records)
    assert "cannot connect with ***" in logged and VALUE not in logged


def test_without_the_secret_the_model_does_not_see_it(stores: Stores) -> None:
    with live(create_serving_app(_config(), stores=stores)) as url:
        answer = httpx.post(f"{url}/predict", json=[{"a": 1.0, "b": 2.0}])
    assert answer.json()["predictions"] == [0]


def test_secret_errors_are_one_line(stores: Stores) -> None:
    with pytest.raises(FlowError, match="deployment 'secretive': secret 'path' would replace"):
        _config(secrets=("path",))
    settings = stores.settings.model_copy(update={"environment": None})
    with pytest.raises(ConfigurationError, match="the deployment names no project and environment"):
        create_serving_app(
            _config(secrets=("db_password",)), stores=Stores(settings, stores.metadata, stores.artifacts)
        )
