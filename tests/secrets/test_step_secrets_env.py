"""``SHIPYARD_STEP_SECRETS=env``: a step's secrets are the process's variables of the same names
(an exported workflow's pod, set from a Kubernetes Secret); no store is asked, and a missing one is
a one-line error that names the variable, never a value."""

from __future__ import annotations

import pytest

from shipyard.core.errors import ConfigurationError
from shipyard.core.settings import load_settings
from shipyard.runtime.stores import open_run_stores
from shipyard.secrets.resolve import read_step_secrets


def test_values_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHIPYARD_STEP_SECRETS", "env")
    monkeypatch.setenv("DB_PASSWORD", "from-k8s")
    settings = load_settings()  # no project, environment or key: nothing else is needed
    stores = open_run_stores(settings)
    try:
        assert read_step_secrets(settings, stores.metadata, "train", ["db_password"]) == {
            "db_password": "from-k8s"
        }
        monkeypatch.delenv("DB_PASSWORD")
        with pytest.raises(ConfigurationError, match="environment variable DB_PASSWORD") as info:
            read_step_secrets(settings, stores.metadata, "train", ["db_password"])
        assert "from-k8s" not in str(info.value) and "\n" not in str(info.value)
    finally:
        stores.close()


def test_the_store_stays_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DB_PASSWORD", "ignored")
    settings = load_settings()
    assert settings.step_secrets == "store"
    stores = open_run_stores(settings)
    try:
        with pytest.raises(ConfigurationError, match="SHIPYARD_PROJECT"):
            read_step_secrets(settings, stores.metadata, "train", ["db_password"])
    finally:
        stores.close()
