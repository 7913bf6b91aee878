"""``shipyard image build`` and the checks that need no resolver (no network)."""

from __future__ import annotations

from pathlib import Path

import pytest

import shipyard
from shipyard.cli.main import main
from shipyard.core.errors import FlowError
from shipyard.core.settings import load_settings
from shipyard.runtime.api import RunOptions, run_file
from shipyard.runtime.envs import lock as lock_mod
from shipyard.runtime.envs import store as store_mod
from shipyard.runtime.stores import open_run_stores

FLOWS = Path(__file__).resolve().parent / "env_flows"


@pytest.fixture
def no_uv(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_: object, **__: object) -> None:
        raise AssertionError("uv was called")

    monkeypatch.setattr(lock_mod, "run_uv", refuse)
    monkeypatch.setattr(store_mod, "run_uv", refuse)


def test_an_image_pin_and_a_python_version_make_a_dockerfile(
    tmp_path: Path, no_uv: None, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "Dockerfile"
    assert main(["image", "build", str(FLOWS / "pinned_image.py"), "-o", str(out)]) == 0
    text = out.read_text()
    lines = text.splitlines()
    assert lines[0] == "# syntax=docker/dockerfile:1.7"
    assert "FROM python:3.12-slim" in lines  # the flow's python=, not this interpreter's
    pinned = "# step 'score' runs in its own image registry.example.com/team/scorer:1.2: not built here."
    assert pinned in lines
    assert f'ARG SHIPYARD_REQUIREMENT="shipyard=={shipyard.__version__}"' in lines
    assert "COPY <<" not in text  # no step declares packages: no environment to install
    assert lines[-2:] == ["WORKDIR /app", "COPY . /app"]
    # written by us: rewritten; anyone else's file: kept unless --force
    assert main(["image", "build", str(FLOWS / "pinned_image.py"), "-o", str(out)]) == 0
    theirs = tmp_path / "theirs"
    theirs.write_text("FROM scratch\n")
    assert main(["image", "build", str(FLOWS / "pinned_image.py"), "-o", str(theirs)]) == 1
    assert "exists and was not written by shipyard; pass --force" in capsys.readouterr().err
    assert theirs.read_text() == "FROM scratch\n"
    assert main(["image", "build", str(FLOWS / "pinned_image.py"), "-o", str(theirs), "--force"]) == 0
    assert theirs.read_text() == text


def test_a_python_other_than_the_interpreters_fails_before_the_run(no_uv: None) -> None:
    settings = load_settings()
    with pytest.raises(FlowError) as info:
        run_file(FLOWS / "other_python.py", {}, settings, RunOptions(max_workers=1))
    assert str(info.value).startswith("step 'future' asks for python=3.99 but its tasks run on Python 3.")
    stores = open_run_stores(settings)
    try:
        assert stores.metadata.count_runs() == 0
    finally:
        stores.close()


def test_a_lock_that_breaks_shipyards_own_dependencies_is_refused() -> None:
    import importlib.metadata

    from shipyard.runtime.envs.lock import Lock
    from shipyard.runtime.envs.prepare import _check_shipyard

    try:
        importlib.metadata.requires("shipyard")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("shipyard is not installed as a distribution (pip install -e .)")
    old = Lock("3.11", "pydantic==1.10.13 \\\n    --hash=sha256:ab\nsix==1.16.0\n", ("pydantic<2",))
    with pytest.raises(FlowError) as info:
        _check_shipyard("step 'train'", old)
    assert str(info.value).startswith(
        "step 'train': its environment pins pydantic==1.10.13 but shipyard itself needs pydantic>="
    )
    _check_shipyard("step 'train'", Lock("3.11", "six==1.16.0\n", ("six",)))  # not one of ours


def test_settings_reach_the_environment_process_whole() -> None:
    import json

    from shipyard.core.settings import Settings
    from shipyard.runtime.envs.dispatch import settings_line

    settings = load_settings(secrets_key="a" * 44, token="tok", heartbeat_interval_s=0.5)
    again = Settings(**json.loads(settings_line(settings)))
    assert again == settings
    assert again.secrets_key is not None and again.secrets_key.get_secret_value() == "a" * 44
