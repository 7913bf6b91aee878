"""Two resumes of one failed run at once: the second is refused, naming the first, so the failed
tasks run once (the lease itself is tested on every metadata backend in tests/contract)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from shipyard.core.entities import RunStatus, TaskStatus
from shipyard.core.errors import ConflictError
from shipyard.core.settings import load_settings
from shipyard.runtime.api import RunOptions, resume, run_file
from shipyard.runtime.stores import open_run_stores
from tests.runtime.test_faults import CLI, FLOWS, wait_for


@pytest.mark.slow  # three processes: the runs, and two resumes through the CLI
def test_a_second_concurrent_resume_is_refused_and_failed_items_run_once(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SHIPYARD_HEARTBEAT_INTERVAL_S", "0.2")
    monkeypatch.setenv("SHIPYARD_HEARTBEAT_TIMEOUT_S", "5.0")
    settings = load_settings()
    marker, gate = tmp_path / "fixed", tmp_path / "gate"
    params = {"n": 4, "marker": str(marker), "gate": str(gate)}
    origin = run_file(FLOWS / "faults.py", params, settings, RunOptions(max_workers=2), "gated_resume")
    assert origin.status is RunStatus.FAILED
    marker.touch()
    ran = lambda: sorted(tmp_path.glob("fixed.ran-*"))  # noqa: E731
    first = subprocess.Popen(
        [*CLI, "resume", origin.id, "-q", "--json"],
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    stores = open_run_stores(settings)
    try:
        wait_for(lambda: len(ran()) == 1)  # the first resume is running item 2
        resumer = [r.id for r in stores.metadata.search_runs().runs if r.origin_run_id == origin.id]
        assert len(resumer) == 1

        second = subprocess.run(
            [*CLI, "resume", origin.id, "-q"],
            env=dict(os.environ),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert second.returncode == 1, second.stdout + second.stderr
        (line,) = second.stderr.strip().splitlines()  # one line, no traceback
        assert line.startswith("error: ") and f"already being resumed by run {resumer[0]}" in line
        assert "heartbeat" in line
        with pytest.raises(ConflictError, match=resumer[0]):  # the Python API says the same
            resume(origin.id, settings, RunOptions(max_workers=1), stores)

        gate.touch()
        out, err = first.communicate(timeout=60)
        assert first.returncode == 0, err
        result = json.loads(out)
        assert result["status"] == "succeeded" and result["run_id"] == resumer[0]
        assert len(ran()) == 1  # item 2 ran once, not once per resume
        tasks = {t.key: t.status for t in stores.metadata.list_tasks(resumer[0])}
        assert tasks["gated[2]"] is TaskStatus.SUCCEEDED and tasks["gated[0]"] is TaskStatus.REUSED
        runs = [r for r in stores.metadata.search_runs().runs if r.origin_run_id == origin.id]
        assert [r.id for r in runs] == resumer  # the refused resumes created no run
    finally:
        if first.poll() is None:
            first.kill()
        stores.close()
