"""load_model's embedded-store path (shipyard.registry.local_load): the same model as the full
path, the same checks, and the full path whenever the process is not on the embedded defaults."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import shipyard
from shipyard.core.errors import IntegrityError, NotFoundError
from shipyard.registry import api
from shipyard.registry.api import get_registry, load_model, log_model
from shipyard.registry.local_load import load_local
from shipyard.tracking import fluent
from shipyard.tracking.stores import Stores

ROOT = Path(__file__).resolve().parents[2]


def _registered(sdk: Stores, X: Any, model: Any, name: str = "fraud", versions: int = 1) -> None:
    """``versions`` versions of ``model`` under ``name``, alias ``candidate`` on version 1; then
    the fluent API lets go of ``sdk`` (a fresh process holds no stores)."""
    for _ in range(versions):
        with shipyard.start_run():
            log_model(model, name, input_example=X.head(3), register=True)
    get_registry(sdk).set_alias(name, "candidate", 1)
    fluent.set_stores(None)


def _no_full_path(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("load_model opened the full stores")

    monkeypatch.setattr(api, "get_registry", refuse)


def test_embedded_store_loads_what_the_full_path_loads(
    sdk: Stores, breast_cancer: Any, sk_pipeline: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    X, _ = breast_cancer
    _registered(sdk, X, sk_pipeline, versions=2)
    full = {uri: load_model(uri, stores=sdk) for uri in ("models:/fraud/1", "models:/fraud@candidate")}
    full["models:/fraud/latest"] = load_model("models:/fraud/latest", stores=sdk)
    _no_full_path(monkeypatch)
    for uri, expected in full.items():
        fast = load_model(uri)
        assert (fast.digest, fast.version, fast.model_name, fast.uri) == (
            expected.digest,
            expected.version,
            expected.model_name,
            uri,
        )
        assert fast.metadata == expected.metadata
        assert np.array_equal(fast.predict(X), sk_pipeline.predict(X))
        assert np.allclose(fast.predict_proba(X), expected.predict_proba(X))
    assert load_model("models:/fraud/latest").version == 2
    assert load_model("models:/fraud@candidate").version == 1


def _schema_at_other_revision(home: Path) -> None:
    with sqlite3.connect(home / "shipyard.db") as conn:
        conn.execute("UPDATE shipyard_schema_version SET version_num = 'elsewhere'")


@pytest.mark.parametrize(
    "case",
    [
        "runs-uri",
        "server-uri",
        "branch",
        "unpack-limit",
        "no-version",
        "no-alias",
        "no-model",
        "schema",
        "no-db",
    ],
)
def test_anything_but_the_embedded_defaults_goes_the_full_way(
    sdk: Stores, breast_cancer: Any, sk_pipeline: Any, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    X, _ = breast_cancer
    _registered(sdk, X, sk_pipeline)
    home = Path(os.environ["SHIPYARD_HOME"])
    uri = {"no-version": "models:/fraud/7", "no-alias": "models:/fraud@gone", "no-model": "models:/x/1"}.get(
        case, "models:/fraud/1"
    )
    if case == "runs-uri":
        run_id = load_model(uri, stores=sdk).metadata["source"]["run_id"]
        uri = f"runs:/{run_id}/fraud"
    elif case == "server-uri":
        monkeypatch.setenv("SHIPYARD_URI", f"sqlite:///{home / 'shipyard.db'}")
    elif case == "branch":
        monkeypatch.setenv("SHIPYARD_BRANCH", "feature-x")
    elif case == "unpack-limit":
        monkeypatch.setenv("SHIPYARD_UNPACK_MAX_BYTES", "1e3")  # not a whole number: the settings judge it
    elif case == "schema":
        _schema_at_other_revision(home)
    elif case == "no-db":
        monkeypatch.setenv("SHIPYARD_HOME", str(home / "elsewhere"))
    assert load_local(uri) is None


def test_a_miss_answers_with_the_full_paths_error(sdk: Stores, breast_cancer: Any, sk_pipeline: Any) -> None:
    X, _ = breast_cancer
    _registered(sdk, X, sk_pipeline)
    with pytest.raises(NotFoundError, match="has no version 7"):
        load_model("models:/fraud/7")
    with pytest.raises(NotFoundError, match="has no alias 'gone'"):
        load_model("models:/fraud@gone")


def test_embedded_store_verifies_the_package_bytes(
    sdk: Stores, breast_cancer: Any, sk_pipeline: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    X, _ = breast_cancer
    _registered(sdk, X, sk_pipeline)
    digest = load_model("models:/fraud/1", stores=sdk).digest
    assert digest is not None
    blob = next(p for p in Path(sdk.settings.artifact_root).rglob(digest[2:]) if p.is_file())
    blob.chmod(0o644)
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0xFF
    blob.write_bytes(bytes(data))
    _no_full_path(monkeypatch)
    with pytest.raises(IntegrityError):
        load_model("models:/fraud/1")


def test_stores_the_process_holds_win_over_the_environment(
    sdk: Stores, breast_cancer: Any, sk_pipeline: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Stores installed with set_stores (tests, the flow runtime) are used even when
    SHIPYARD_HOME names another embedded store holding a model of the same name."""
    from sklearn.dummy import DummyClassifier

    X, y = breast_cancer
    _registered(sdk, X, sk_pipeline)
    installed = load_model("models:/fraud/1", stores=sdk).digest
    other_home = tmp_path / "other-home"
    monkeypatch.setenv("SHIPYARD_HOME", str(other_home))
    from shipyard.core.settings import load_settings
    from shipyard.tracking.stores import open_stores

    other = open_stores(load_settings())
    try:
        fluent.set_stores(other)
        _registered(other, X, DummyClassifier().fit(X, y))  # lets go of `other` at the end
        assert load_model("models:/fraud/1").digest != installed  # the environment's store
        fluent.set_stores(sdk)
        assert load_model("models:/fraud/1").digest == installed  # the installed stores
    finally:
        fluent.set_stores(None)
        other.close()


def test_a_fresh_process_loads_without_sqlalchemy_or_pydantic(
    sdk: Stores, breast_cancer: Any, sk_pipeline: Any
) -> None:
    X, _ = breast_cancer
    _registered(sdk, X, sk_pipeline)
    script = (
        "import sys, shipyard\n"
        "model = shipyard.load_model('models:/fraud/1')\n"
        "print(model.predict([{c: 0.5 for c in model.signature.column_names}])[0])\n"
        "heavy = ('sqlalchemy', 'pydantic', 'shipyard.tracking.client')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "[]"


def test_the_unpack_limits_from_the_environment_apply_on_the_fast_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from shipyard.registry.local_load import local_limits

    monkeypatch.setenv("SHIPYARD_UNPACK_MAX_BYTES", "1000")
    monkeypatch.setenv("SHIPYARD_UNPACK_MAX_MEMBERS", " 7 ")
    limits = local_limits()
    assert limits is not None and (limits.max_bytes, limits.max_members) == (1000, 7)
    for bad in ("0", "-1", "1e3", "lots"):
        monkeypatch.setenv("SHIPYARD_UNPACK_MAX_MEMBERS", bad)
        assert local_limits() is None, bad
