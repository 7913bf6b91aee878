"""The MetadataStore contract, clock skew: liveness is judged on the store's clock only (every
backend). A client's clock that runs minutes behind or ahead, whether it beats or reads, changes
nothing: ``client_clock`` shifts the time this process's client code (tracking, runtime) reads,
as faketime would, while the store keeps the database's (or the server's) time."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest

import shipyard.runtime.api
import shipyard.tracking.heartbeat
from shipyard.core import clock
from shipyard.core.entities import Run, RunCreate, RunStatus
from shipyard.core.ids import new_id
from shipyard.metadata import MetadataStore
from shipyard.tracking.heartbeat import Heartbeat, StaleRunReaper


@pytest.fixture
def metadata_store(run_path_store: MetadataStore) -> MetadataStore:
    """Every backend plus the run path's stdlib SQLite store (conftest's RUN_PATH_BACKENDS)."""
    return run_path_store


SKEW = timedelta(minutes=5)
_CLIENT_CODE = ("shipyard.core.clock", "shipyard.tracking", "shipyard.runtime")


@contextmanager
def client_clock(offset: timedelta) -> Iterator[None]:
    """This process's client code reads a clock ``offset`` away from the real one."""
    real = clock.utcnow

    def skewed() -> Any:
        return real() + offset

    with pytest.MonkeyPatch.context() as patch:
        for name, module in list(sys.modules.items()):
            if name.startswith(_CLIENT_CODE) and getattr(module, "utcnow", None) is real:
                patch.setattr(module, "utcnow", skewed)
        yield


def start_client_run(store: MetadataStore) -> Run:
    """What a tracking client does: create the run (start time from its clock), then beat."""
    run = store.create_run(
        RunCreate(id=new_id(), name="skewed", namespace="user:alice", user="alice", start_time=clock.utcnow())
    )
    Heartbeat(store, run.id, interval_s=10.0).beat()
    return run


def test_a_live_client_5_minutes_behind_stays_alive(metadata_store: MetadataStore) -> None:
    with client_clock(-SKEW):
        run = start_client_run(metadata_store)
    assert StaleRunReaper(metadata_store, timeout_s=60.0).reap() == []
    assert metadata_store.get_run(run.id).status is RunStatus.RUNNING


def test_a_dead_client_5_minutes_ahead_goes_stale(metadata_store: MetadataStore) -> None:
    with client_clock(SKEW):
        run = start_client_run(metadata_store)  # then its process dies: no more beats
    time.sleep(1.2)
    assert StaleRunReaper(metadata_store, timeout_s=1.0).reap() == [run.id]
    assert metadata_store.get_run(run.id).status is RunStatus.FAILED


def test_a_reader_with_a_fast_clock_does_not_fail_healthy_runs(metadata_store: MetadataStore) -> None:
    run = start_client_run(metadata_store)
    stores: Any = SimpleNamespace(metadata=metadata_store, settings=SimpleNamespace(heartbeat_timeout_s=60.0))
    with client_clock(SKEW):
        assert StaleRunReaper(metadata_store, timeout_s=60.0).reap() == []
        assert shipyard.runtime.api.fail_stale(stores) == []  # what `shipyard run/resume` call first
    assert metadata_store.get_run(run.id).status is RunStatus.RUNNING


def test_client_clock_shifts_the_client_code() -> None:
    """The fixture itself: client modules read the shifted time (else the tests above prove nothing)."""
    before = shipyard.runtime.api.utcnow()
    with client_clock(SKEW):
        assert shipyard.runtime.api.utcnow() - before >= SKEW - timedelta(seconds=5)
        assert clock.utcnow() - before >= SKEW - timedelta(seconds=5)
    assert shipyard.tracking.heartbeat is not None
