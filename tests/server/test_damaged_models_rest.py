"""The team server refuses to alias or approve a version whose package does not load (409, one
line naming the version), for a raw REST client and for the SDK talking to it (issue 13)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from shipyard.core.errors import ConflictError
from shipyard.core.settings import load_settings
from shipyard.registry.package import write_package
from shipyard.registry.service import ModelRegistry
from shipyard.tracking.stores import open_stores
from tests.registry import damaged, hostile
from tests.server.live import LiveServer

AT = "2026-01-01T00:00:00+00:00"


def _register(server: LiveServer, tmp_path: Path, name: str, damage: damaged.Damage | None) -> None:
    from sklearn.datasets import load_breast_cancer

    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    model, example, options = damaged.models(X, y)["sklearn"]
    folder = tmp_path / name
    if damage is None:
        write_package(folder, model, input_example=example)
    else:
        damaged.damaged_package(folder, model, example, damage, **options)
    hostile.register_folder(server.stores, folder, name)  # on the server's own stores


@pytest.mark.parametrize("case", ["sklearn-garbage", "sklearn-truncated-zip", "sklearn-nan-weights"])
def test_rest_refuses_alias_and_approval_of_a_damaged_version(
    server: LiveServer, admin: httpx.Client, tmp_path: Path, case: str
) -> None:
    _register(server, tmp_path, case, damaged.CASES[case][1])
    alias = admin.put(f"/api/v1/models/{case}/aliases/candidate", json={"version": 1, "at": AT})
    approval = admin.post(f"/api/v1/models/{case}/versions/1/approval", json={"approved": True, "at": AT})
    for answer in (alias, approval):
        assert answer.status_code == 409, answer.text
        error = answer.json()["error"]
        assert error["code"] == "conflict"
        assert f"models:/{case}/1" in error["message"] and "\n" not in error["message"]
    model = admin.get(f"/api/v1/models/{case}").json()
    assert model["aliases"] == {}
    assert admin.get(f"/api/v1/models/{case}/versions/1").json()["approved"] is False
    revoke = admin.post(f"/api/v1/models/{case}/versions/1/approval", json={"approved": False, "at": AT})
    assert revoke.status_code == 200


def test_sdk_over_rest_gets_the_refusal_and_good_versions_pass(
    server: LiveServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _register(server, tmp_path, "broken", damaged.garbage)
    _register(server, tmp_path, "fine", None)
    monkeypatch.setenv("SHIPYARD_TOKEN", server.token)
    stores = open_stores(load_settings(uri=server.url))
    try:
        registry = ModelRegistry(stores)
        assert registry.store.server_checks_packages
        with pytest.raises(ConflictError, match=r"models:/broken/1: its package does not load"):
            registry.set_alias("broken", "candidate", 1)
        with pytest.raises(ConflictError, match=r"cannot approve models:/broken/1"):
            registry.approve("broken", 1)
        registry.approve("fine", 1)
        assert registry.set_alias("fine", "candidate", 1).new_version == 1
    finally:
        stores.close()
