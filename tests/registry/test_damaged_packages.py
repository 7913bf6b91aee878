"""A version whose package does not load can be neither approved nor aliased, and loading it
anywhere (load_model, serve, batch) fails with one line naming the version and the cause (issue 13).

The packages are consistent (valid tar, model.yaml hashes match) with a damaged model file
(tests/registry/damaged.py): content hashes cannot catch them, only loading can.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from shipyard.core.errors import ConflictError, ShipyardError
from shipyard.registry.package import write_package
from shipyard.registry.service import ModelRegistry
from shipyard.tracking.stores import Stores
from tests.registry import damaged, hostile
from tests.registry.test_load_safety import LOADERS


def _register(stores: Stores, tmp_path: Path, breast_cancer: Any, case: str) -> str:
    """The damaged package of ``case`` registered as version 1 of a model named after it."""
    flavor, damage = damaged.CASES[case]
    available = damaged.models(*breast_cancer)
    if flavor not in available:
        pytest.skip(f"{flavor} is not installed")
    model, example, options = available[flavor]
    folder = damaged.damaged_package(tmp_path / case, model, example, damage, **options)
    return hostile.register_folder(stores, folder, case).model_name


def _one_line_naming(message: str, uri: str) -> None:
    assert uri in message, message
    assert "\n" not in message and "Traceback" not in message, message


@pytest.mark.parametrize("case", sorted(damaged.CASES))
def test_a_damaged_version_is_neither_aliased_nor_approved(
    stores: Stores, tmp_path: Path, breast_cancer: Any, case: str
) -> None:
    name = _register(stores, tmp_path, breast_cancer, case)
    registry = ModelRegistry(stores)
    with pytest.raises(ConflictError) as info:
        registry.set_alias(name, "candidate", 1)
    _one_line_naming(str(info.value), f"models:/{name}/1")
    assert "alias 'candidate'" in str(info.value)
    with pytest.raises(ConflictError) as info:
        registry.approve(name, 1)
    _one_line_naming(str(info.value), f"models:/{name}/1")
    model = registry.get_model(name)
    assert model.aliases == {}
    assert not registry.store.get_version(name, 1).approved
    registry.approve(name, 1, approved=False)  # revoking is never refused


@pytest.mark.parametrize("path", sorted(LOADERS))
@pytest.mark.parametrize("case", damaged.UNLOADABLE)
def test_loading_a_damaged_version_fails_in_one_line(
    stores: Stores, tmp_path: Path, breast_cancer: Any, case: str, path: str
) -> None:
    name = _register(stores, tmp_path, breast_cancer, case)
    with pytest.raises(ShipyardError) as info:
        LOADERS[path](stores, f"models:/{name}/1", [])
    _one_line_naming(str(info.value), f"models:/{name}/1")


def test_serve_start_on_a_damaged_alias_prints_one_line(
    stores: Stores, tmp_path: Path, breast_cancer: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from shipyard.cli.main import main

    name = _register(stores, tmp_path, breast_cancer, "pytorch-flipped-header")
    stores.close()
    capsys.readouterr()
    code = main(["serve", f"models:/{name}/1", "--no-auth", "--no-log", "--port", "1"])
    err = capsys.readouterr().err.strip()
    assert code == 1
    assert err.startswith("error: ") and "unexpected" not in err, err
    assert f"models:/{name}/1" in err and "damaged" in err


def test_good_and_trust_needing_versions_are_still_aliased(
    stores: Stores, tmp_path: Path, breast_cancer: Any, sk_pipeline: Any
) -> None:
    """A working package passes; one the registry cannot load without trust (a class of one's
    own) is not guessed at: serving needs --trust for it and checks it then."""
    from tests.registry.models_for_tests import make_shift_pipeline

    X, y = breast_cancer
    good = tmp_path / "good"
    write_package(good, sk_pipeline, input_example=X.head(3))
    custom = tmp_path / "custom"
    write_package(custom, make_shift_pipeline(X, y), input_example=X.head(3))
    registry = ModelRegistry(stores)
    for folder in (good, custom):
        version = hostile.register_folder(stores, folder, folder.name)
        registry.approve(version.model_name, 1)
        assert registry.set_alias(version.model_name, "candidate", 1).new_version == 1
        assert registry.get_model(version.model_name).aliases == {"candidate": 1}


def test_a_damaged_input_example_refuses_the_alias_and_fails_serving_in_one_line(
    stores: Stores, tmp_path: Path, breast_cancer: Any, sk_pipeline: Any
) -> None:
    import hashlib
    import json

    folder = tmp_path / "pkg"
    write_package(folder, sk_pipeline, input_example=breast_cancer[0].head(3))
    damaged_example = b'{"kind": "dataframe", "columns": ['
    (folder / "input_example.json").write_bytes(damaged_example)
    manifest = json.loads((folder / "model.yaml").read_text())
    manifest["files"]["input_example.json"] = hashlib.sha256(damaged_example).hexdigest()
    (folder / "model.yaml").write_text(json.dumps(manifest))
    name = hostile.register_folder(stores, folder, "bad-example").model_name
    with pytest.raises(ConflictError) as refused:
        ModelRegistry(stores).set_alias(name, "candidate", 1)
    _one_line_naming(str(refused.value), f"models:/{name}/1")
    assert "input_example.json is damaged" in str(refused.value)
    with pytest.raises(ShipyardError) as failed:
        LOADERS["serving"](stores, f"models:/{name}/1", [])
    _one_line_naming(str(failed.value), f"models:/{name}/1")
