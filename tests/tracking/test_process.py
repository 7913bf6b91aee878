"""What happens when the process ends: flush at exit, crashes, and dead processes (heartbeats)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from shipyard.core.entities import RunStatus
from shipyard.tracking.client import TrackingClient

pytestmark = pytest.mark.slow


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        SHIPYARD_USER="alice",
        SHIPYARD_HEARTBEAT_INTERVAL_S="0.2",
        SHIPYARD_METRIC_FLUSH_INTERVAL_S="60",  # only the exit hook can flush in time
    )
    return env


def _run_script(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_metrics_are_flushed_and_the_run_ended_at_interpreter_exit(client: TrackingClient) -> None:
    proc = _run_script(
        """
        import shipyard
        run = shipyard.start_run("no-end")
        for i in range(1234):
            shipyard.log_metric("loss", i * 0.5, step=i)
        print(run.id)
        """
    )
    assert proc.returncode == 0, proc.stderr
    run_id = proc.stdout.strip()
    run = client.get_run(run_id)
    assert run.status is RunStatus.SUCCEEDED
    assert len(client.get_metric_history(run_id, "loss")) == 1234


def test_an_uncaught_exception_fails_the_open_run(client: TrackingClient) -> None:
    proc = _run_script(
        """
        import shipyard
        run = shipyard.start_run("crash")
        print(run.id, flush=True)
        shipyard.log_metric("x", 1.0)
        raise RuntimeError("out of memory, pretend")
        """
    )
    assert proc.returncode == 1
    run = client.get_run(proc.stdout.strip())
    assert run.status is RunStatus.FAILED
    assert run.error is not None and "RuntimeError: out of memory, pretend" in run.error
    assert run.metrics == {"x": 1.0}


@pytest.mark.parametrize("how", ["sigkill", "os._exit"])
def test_a_dead_process_run_is_failed_once_its_heartbeat_lapses(client: TrackingClient, how: str) -> None:
    script = textwrap.dedent(
        """
        import os, sys, time
        import shipyard
        run = shipyard.start_run("doomed")
        print(run.id, flush=True)
        time.sleep(0.6)  # a few heartbeats
        if sys.argv[1] == "os._exit":
            os._exit(3)
        time.sleep(60)
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script, how], env=_env(), stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        run_id = proc.stdout.readline().strip()
        time.sleep(0.8)
        beat = client.metadata.get_run(run_id).heartbeat_at
        assert beat is not None  # the heartbeat thread is beating
        if how == "sigkill":
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert client.reap_stale_runs() == []  # dead for less than heartbeat_timeout_s (1.5 s)
    assert client.metadata.get_run(run_id).status is RunStatus.RUNNING
    time.sleep(client.settings.heartbeat_timeout_s + 0.3)
    run = client.get_run(run_id)  # reading reaps stale runs
    assert run.status is RunStatus.FAILED


def test_a_live_run_is_not_reaped(client: TrackingClient) -> None:
    import shipyard
    from shipyard.tracking import fluent

    fluent.reset()
    fluent.set_stores(client.stores)
    try:
        with shipyard.start_run("alive") as run:
            time.sleep(client.settings.heartbeat_timeout_s + 0.5)
            assert client.reap_stale_runs() == []
        assert client.get_run(run.id).status is RunStatus.SUCCEEDED
    finally:
        fluent.reset()
