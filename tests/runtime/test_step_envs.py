"""Per-step environments (``@step(pip=...)``, ``@flow(requirements=...)``) against real PyPI via uv:
each step sees its own pins, a second run resolves and installs nothing, errors are one line
before any task starts, resume reuses the recorded lock, a timeout kills the environment's process.

Skipped (with the reason) when uv or PyPI is missing outside CI; a failure in CI."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from shipyard.core.entities import RunStatus, TaskStatus
from shipyard.core.errors import FlowError
from shipyard.core.settings import Settings, load_settings
from shipyard.runtime.api import RunOptions, resume, run_file
from shipyard.runtime.envs import lock as lock_mod
from shipyard.runtime.envs import store as store_mod
from shipyard.runtime.stores import RunStores, open_run_stores
from tests.services import require_pypi

FLOWS = Path(__file__).resolve().parent / "env_flows"


@pytest.fixture(autouse=True)
def _pypi() -> None:
    require_pypi()


@pytest.fixture
def settings() -> Settings:
    return load_settings(heartbeat_interval_s=0.3, heartbeat_timeout_s=5.0)


@pytest.fixture
def stores(settings: Settings) -> Iterator[RunStores]:
    s = open_run_stores(settings)
    yield s
    s.close()


@pytest.fixture
def counts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "counts"
    folder.mkdir()
    monkeypatch.setenv("SHIPYARD_TEST_COUNTS", str(folder))
    return folder


class UvCalls:
    """Counts every uv call (``pip compile``: a resolve, ``pip install``: an install)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, forbid: tuple[str, ...] = ()) -> None:
        self.calls: list[str] = []
        self.forbid = forbid
        real = lock_mod.run_uv

        def counting(args: Any, **kwargs: Any) -> tuple[int, str, str]:
            what = f"{args[0]} {args[1]}"
            self.calls.append(what)
            if what in self.forbid:
                raise AssertionError(f"uv {what} was called")
            return real(args, **kwargs)

        monkeypatch.setattr(lock_mod, "run_uv", counting)
        monkeypatch.setattr(store_mod, "run_uv", counting)


def _run(settings: Settings, name: str, **params: Any) -> Any:
    return run_file(FLOWS / f"{name}.py", params, settings, RunOptions(max_workers=2))


def test_two_steps_with_conflicting_pins_each_see_their_own(settings: Settings, counts: Path) -> None:
    import six  # the runner's own

    run = _run(settings, "two_sixes")
    assert run.status is RunStatus.SUCCEEDED, run.error
    assert run.output == {"new": "1.16.0", "old": "1.15.0", "base": six.__version__}
    assert six.__version__ not in ("1.15.0", "1.16.0")  # else the test proves nothing
    spec = run.info.flow_spec
    envs = spec["envs"]
    assert len(envs) == 2
    assert {e["requirements"][0] for e in envs.values()} == {"six==1.16.0", "six==1.15.0"}
    for entry in envs.values():  # a hashed lock, recorded with the run
        assert "--hash=sha256:" in entry["lock"]
    by_step = {t.step: t.spec["opts"].get("env_lock") for t in run.tasks}
    assert by_step["base_six"] is None
    assert {by_step["new_six"], by_step["old_six"]} == set(envs)
    # the environment steps ran in processes of their own, not in the runner or its workers
    pids = {int(p.name.split("-")[1]) for p in counts.iterdir()}
    assert len(pids) == 3 and os.getpid() not in pids


def test_a_second_run_reuses_the_environment(
    settings: Settings, counts: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = UvCalls(monkeypatch)
    run = _run(settings, "two_sixes")
    assert run.status is RunStatus.SUCCEEDED, run.error
    assert sorted(first.calls) == ["pip compile"] * 2 + ["pip install"] * 2
    again = UvCalls(monkeypatch, forbid=("pip compile", "pip install"))
    started = time.monotonic()
    rerun = _run(settings, "two_sixes")
    assert rerun.status is RunStatus.SUCCEEDED, rerun.error
    assert again.calls == []  # no resolve, no install
    assert rerun.info.flow_spec["envs"] == run.info.flow_spec["envs"]
    assert rerun.output == run.output
    assert time.monotonic() - started < 60


def _one_line_flow_error(settings: Settings, stores: RunStores, name: str) -> str:
    with pytest.raises(FlowError) as info:
        _run(settings, name)
    message = str(info.value)
    assert "\n" not in message
    assert stores.metadata.count_runs() == 0  # no run, so no task started
    return message


def test_a_package_that_does_not_exist_is_one_line_naming_it(settings: Settings, stores: RunStores) -> None:
    message = _one_line_flow_error(settings, stores, "no_such_package")
    assert message.startswith("step 'ghost': cannot resolve shipyard-test-no-such-package-zq7==1.0:")
    assert "shipyard-test-no-such-package-zq7 was not found" in message


def test_an_unresolvable_set_is_one_line_naming_the_package(settings: Settings, stores: RunStores) -> None:
    message = _one_line_flow_error(settings, stores, "unresolvable")
    assert message.startswith("step 'torn': cannot resolve six==1.15.0, six>=1.16:")
    assert "six" in message.split(":", 2)[2]


def test_a_step_pin_that_contradicts_the_flow_pin_fails_before_resolving(
    settings: Settings, stores: RunStores, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = UvCalls(monkeypatch, forbid=("pip compile", "pip install"))
    message = _one_line_flow_error(settings, stores, "pin_conflict")
    assert message == (
        "step 'old_six' pins 'six==1.15.0' but its flow pins 'six==1.16.0': no version of six "
        "satisfies both; drop or change one of the pins"
    )
    assert calls.calls == []


def test_resume_uses_the_recorded_lock(
    settings: Settings, stores: RunStores, counts: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = _run(settings, "from_file")
    assert run.status is RunStatus.FAILED
    tasks = {t.step: t for t in run.tasks}
    assert tasks["first"].status is TaskStatus.SUCCEEDED
    assert "not yet" in (tasks["second"].error or "")
    recorded = run.info.flow_spec["envs"]
    (lock_hash,) = recorded
    assert recorded[lock_hash]["requirements"] == ["six==1.15.0"]
    # the lock cache and the installed environment are gone; PyPI's answer could have changed
    import shutil

    shutil.rmtree(settings.home / "envs")
    (counts / "go").touch()
    calls = UvCalls(monkeypatch, forbid=("pip compile",))
    again = resume(run.id, settings, RunOptions(max_workers=2), stores)
    assert again.status is RunStatus.SUCCEEDED, again.error
    assert again.output == {"first": "1.15.0", "second": "1.15.0"}
    assert again.info.flow_spec["envs"] == recorded
    assert calls.calls == ["pip install"]  # installed from the recorded lock, never re-resolved


def test_a_timeout_kills_the_environment_process(settings: Settings, counts: Path) -> None:
    run = _run(settings, "sleeper")
    assert run.status is RunStatus.FAILED
    assert "timed out after 6s" in (run.error or "")
    pid = int((counts / "pid").read_text())
    deadline = time.monotonic() + 10
    while psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
        assert time.monotonic() < deadline, f"the step's process {pid} outlived its timeout"
        time.sleep(0.1)


def test_the_image_installs_the_recorded_locks_where_tasks_look_for_them(
    settings: Settings, counts: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shipyard.cli.main import main
    from shipyard.runtime.envs.lock import current_python

    run = _run(settings, "two_sixes")
    assert run.status is RunStatus.SUCCEEDED, run.error
    calls = UvCalls(monkeypatch, forbid=("pip compile", "pip install"))  # the locks are cached
    out = tmp_path / "Dockerfile"
    assert main(["image", "build", str(FLOWS / "two_sixes.py"), "-o", str(out)]) == 0
    assert calls.calls == []
    text = out.read_text()
    assert f"FROM python:{current_python()}-slim" in text.splitlines()
    for lock_hash, entry in run.info.flow_spec["envs"].items():
        folder = f"/opt/shipyard/envs/{lock_hash}"
        block = f'COPY <<"SHIPYARD_LOCK" {folder}/lock.txt\n{entry["lock"].rstrip()}\nSHIPYARD_LOCK\n'
        assert block in text
        install = f"RUN pip install --no-deps --require-hashes --target {folder}/site -r {folder}/lock.txt"
        assert install in text
    assert "ENV PYTHONDONTWRITEBYTECODE=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \\\n" in text
    assert "    SHIPYARD_HOME=/opt/shipyard\n" in text


def test_a_worker_without_the_environment_installs_it_from_the_recorded_lock(
    settings: Settings, counts: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shipyard.runtime.envs import prepare

    skipped: list[str] = []
    monkeypatch.setattr(prepare, "ensure_env", lambda lock, root, owner: skipped.append(lock.hash))
    run = _run(settings, "two_sixes")  # the runner resolves, the workers install (another machine)
    assert run.status is RunStatus.SUCCEEDED, run.error
    assert run.output["new"] == "1.16.0" and run.output["old"] == "1.15.0"
    assert sorted(skipped) == sorted(run.info.flow_spec["envs"])
    for lock_hash, entry in run.info.flow_spec["envs"].items():
        assert (settings.home / "envs" / lock_hash / "lock.txt").read_text() == entry["lock"]
