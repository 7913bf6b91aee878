from __future__ import annotations

import time
from pathlib import Path

import pytest

from shipyard.core import errors
from shipyard.core.ids import looks_like_id, new_id
from shipyard.core.settings import default_home, find_project_root, load_settings


def test_ids_are_unique_hex_and_time_ordered() -> None:
    first = new_id()
    time.sleep(0.002)
    ids = [new_id() for _ in range(1000)]
    assert len(set(ids)) == 1000
    assert all(looks_like_id(i) for i in ids)
    assert all(first < i for i in ids)
    assert not looks_like_id("../" + first[3:])


def test_every_error_code_has_an_http_status() -> None:
    classes = [
        c for c in vars(errors).values() if isinstance(c, type) and issubclass(c, errors.ShipyardError)
    ]
    assert len(classes) > 10
    for cls in classes:
        assert cls.code in errors.HTTP_STATUS, cls
    assert errors.HTTP_STATUS[errors.NotFoundError.code] == 404
    assert errors.HTTP_STATUS[errors.ConflictError.code] == 409


def test_project_root_found_by_walking_up(tmp_path: Path) -> None:
    project = tmp_path / "proj"
    deep = project / "a" / "b"
    deep.mkdir(parents=True)
    assert find_project_root(deep) is None or find_project_root(deep) != project
    (project / "shipyard.yaml").write_text("name: proj\n")
    assert find_project_root(deep) == project
    assert default_home(deep) == project / ".shipyard"


def test_git_folder_marks_a_project(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / "src").mkdir()
    assert default_home(tmp_path / "src") == tmp_path / ".shipyard"


def test_settings_read_environment_and_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SHIPYARD_HOME", str(tmp_path))
    monkeypatch.setenv("SHIPYARD_USER", "alice")
    s = load_settings()
    assert s.metadata_uri == f"sqlite:///{tmp_path / 'shipyard.db'}"
    assert s.artifact_root == str(tmp_path / "artifacts")
    assert s.user_namespace == "user:alice"
    assert s.read_namespace == "user:alice"
    monkeypatch.setenv("SHIPYARD_URI", "postgresql://db/x")
    monkeypatch.setenv("SHIPYARD_ARTIFACTS", "s3://bucket/prefix")
    s = load_settings(namespace="team:fraud")
    assert s.metadata_uri == "postgresql://db/x"
    assert s.artifact_root == "s3://bucket/prefix"
    assert s.read_namespace == "team:fraud"


def test_settings_reject_nonsense_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHIPYARD_HEARTBEAT_INTERVAL_S", "-3")
    with pytest.raises(
        errors.ConfigurationError, match="SHIPYARD_HEARTBEAT_INTERVAL_S: Input should be greater than 0"
    ):
        load_settings()


def test_settings_env_names_ignore_case_and_explicit_values_win(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from shipyard.core.settings import Settings

    monkeypatch.setenv("shipyard_metric_batch_size", "7")
    monkeypatch.setenv("SHIPYARD_HOME", str(tmp_path))
    monkeypatch.setenv("SHIPYARD_SECRETS_KEY", "c2VjcmV0")
    monkeypatch.setenv("SHIPYARD_NOT_A_SETTING", "ignored")
    s = Settings(namespace="team:x")
    assert (s.metric_batch_size, s.home, s.namespace) == (7, tmp_path, "team:x")
    assert s.secrets_key is not None and "c2VjcmV0" not in repr(s)
    assert Settings(home=tmp_path / "other").home == tmp_path / "other"
