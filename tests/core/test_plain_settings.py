"""``read_plain_settings`` (the run path's settings without pydantic) agrees with ``load_settings``
on every field and property wherever it answers, and answers None wherever it is unsure."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from shipyard.core.errors import ConfigurationError
from shipyard.core.plain_settings import FIELD_NAMES, PLAIN_VARIABLES, PlainSettings, read_plain_settings
from shipyard.core.settings import Settings, load_settings

PROPERTIES = (
    "write_namespace",
    "metadata_uri",
    "online_store_uri",
    "artifact_root",
    "user_namespace",
    "read_namespace",
)


def _environment(monkeypatch: pytest.MonkeyPatch, variables: dict[str, str]) -> None:
    import os

    for key in list(os.environ):
        if key.lower().startswith("shipyard_"):
            monkeypatch.delenv(key)
    for key, value in variables.items():
        monkeypatch.setenv(key, value)


def _compare(variables: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> PlainSettings | None:
    """The plain reader's answer, checked against load_settings (None: it deferred)."""
    _environment(monkeypatch, variables)
    plain = read_plain_settings()
    try:
        full: Settings | None = load_settings()
    except ConfigurationError:
        full = None
    if plain is None:
        return None
    assert full is not None, f"{variables}: load_settings refuses what the plain reader accepted"
    for name in (*FIELD_NAMES, *PROPERTIES):
        assert getattr(plain, name) == getattr(full, name), (variables, name)
    return plain


def test_the_field_lists_agree() -> None:
    assert tuple(Settings.model_fields) == FIELD_NAMES
    properties = {n for n in dir(Settings) if isinstance(getattr(Settings, n, None), property)}
    pydantic_own = {n for n in properties if n.startswith(("model_", "__"))}
    assert properties - pydantic_own == set(PROPERTIES)  # every one is compared below
    assert set(FIELD_NAMES) >= PLAIN_VARIABLES
    defaults = PlainSettings()
    for name in FIELD_NAMES:  # the same defaults (those from the environment aside)
        if name not in ("home", "user"):
            assert getattr(defaults, name) == Settings.model_fields[name].default, name


_MATRIX: dict[str, tuple[str | None, ...]] = {
    "SHIPYARD_HOME": (None, "/tmp/plain-home", "rel/home", "~/sy", "", " /padded"),
    "SHIPYARD_USER": (None, "alice", ""),
    "SHIPYARD_NAMESPACE": (None, "project:fraud"),
    "SHIPYARD_RUN_NAMESPACE": (None, "project:ci"),
    "SHIPYARD_HEARTBEAT_TIMEOUT_S": (None, "5", "0.25", "0", "-1", "1e3", "abc", " 5", "inf", "nan", "1_0"),
    "SHIPYARD_METRIC_BATCH_SIZE": (None, "10", "0", "1.5", "007", "-3"),
    "SHIPYARD_STEP_SECRETS": (None, "env", "store", "vault"),
}


def _cases() -> list[dict[str, str]]:
    names = list(_MATRIX)
    cases = []
    for i, name in enumerate(names):  # every value of each variable, with a pair of the others
        for value in _MATRIX[name]:
            for other in names[i + 1 : i + 3]:
                for other_value in _MATRIX[other]:
                    case = {name: value, other: other_value}
                    cases.append({k: v for k, v in case.items() if v is not None})
    unique = {tuple(sorted(c.items())) for c in cases}
    return [dict(c) for c in sorted(unique)]


@pytest.mark.parametrize(
    "variables", _cases(), ids=lambda c: ",".join(f"{k[9:]}={v!r}" for k, v in c.items())
)
def test_the_plain_reader_matches_load_settings(
    variables: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _compare(variables, monkeypatch)


@pytest.mark.parametrize(
    "variables",
    [
        {"SHIPYARD_URI": "sqlite:///elsewhere.db"},  # another store: the full path
        {"SHIPYARD_BRANCH": "feature"},
        {"SHIPYARD_PROJECT": "fraud"},
        {"SHIPYARD_TOKEN": "t"},
        {"SHIPYARD_SOMETHING_NEW": "1"},  # ignored by Settings; the plain reader defers anyway
        {"SHIPYARD_HEARTBEAT_TIMEOUT_S": "1e3"},  # pydantic reads it; the plain reader is unsure
        {"SHIPYARD_HEARTBEAT_TIMEOUT_S": "0"},  # refused by Settings: its error, not ours
        {"SHIPYARD_STEP_SECRETS": "vault"},
        {"SHIPYARD_HOME": ""},
    ],
)
def test_it_defers_when_unsure(variables: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    _environment(monkeypatch, variables)
    assert read_plain_settings() is None


def test_plain_values_are_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    variables = {
        "SHIPYARD_HOME": str(tmp_path),
        "shipyard_user": "bob",  # names are matched without regard to case, as Settings does
        "SHIPYARD_HEARTBEAT_INTERVAL_S": "2.5",
        "SHIPYARD_CODE_PACKAGE_MAX_BYTES": "1000",
        "SHIPYARD_ARTIFACTS": str(tmp_path / "blobs"),
    }
    plain = _compare(variables, monkeypatch)
    assert plain is not None
    expected: dict[str, Any] = {"home": tmp_path, "user": "bob", "heartbeat_interval_s": 2.5}
    assert {k: plain.values()[k] for k in expected} == expected
    assert plain.metadata_uri == f"sqlite:///{tmp_path / 'shipyard.db'}"
