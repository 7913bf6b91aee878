"""The MetadataStore contract, the resume lease: at most one RUNNING run resumes a given origin run,
atomically on every backend; a crashed resumer's lease ends when its run is failed as stale."""

from __future__ import annotations

import threading
import time

import pytest

from shipyard.core.entities import RunStatus
from shipyard.core.errors import ConflictError
from shipyard.metadata import MetadataStore
from tests.contract.metadata_helpers import T0, make_run


@pytest.fixture
def metadata_store(run_path_store: MetadataStore) -> MetadataStore:
    """Every backend plus the run path's stdlib SQLite store (conftest's RUN_PATH_BACKENDS)."""
    return run_path_store


def test_a_second_resume_of_the_same_run_names_the_first(metadata_store: MetadataStore) -> None:
    origin = make_run(metadata_store)
    metadata_store.finish_run(origin.id, RunStatus.FAILED, T0, error="boom")
    first = make_run(metadata_store, origin_run_id=origin.id)
    with pytest.raises(ConflictError, match=f"already being resumed by run {first.id}") as caught:
        make_run(metadata_store, origin_run_id=origin.id)
    message = str(caught.value)
    assert "\n" not in message and "heartbeat" in message and f"shipyard runs show {first.id}" in message
    other = make_run(metadata_store)
    make_run(metadata_store, origin_run_id=other.id)  # another origin is not blocked
    metadata_store.finish_run(first.id, RunStatus.SUCCEEDED, T0)
    again = make_run(metadata_store, origin_run_id=origin.id)  # the lease ended with its holder
    assert again.origin_run_id == origin.id


def test_concurrent_resumes_of_one_run_let_exactly_one_through(metadata_store: MetadataStore) -> None:
    origin = make_run(metadata_store)
    metadata_store.finish_run(origin.id, RunStatus.FAILED, T0, error="boom")
    won: list[str] = []
    lost: list[str] = []
    errors: list[BaseException] = []
    gate = threading.Barrier(6)

    def resume() -> None:
        gate.wait()
        try:
            won.append(make_run(metadata_store, origin_run_id=origin.id).id)
        except ConflictError as exc:
            lost.append(str(exc))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=resume) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(won) == 1 and len(lost) == 5
    assert all(f"run {won[0]}" in message for message in lost)


def test_a_crashed_resumers_lease_expires(metadata_store: MetadataStore) -> None:
    origin = make_run(metadata_store)
    metadata_store.finish_run(origin.id, RunStatus.FAILED, T0, error="boom")
    crashed = make_run(metadata_store, origin_run_id=origin.id)  # never beats: its process died
    with pytest.raises(ConflictError, match=crashed.id):
        make_run(metadata_store, origin_run_id=origin.id)
    time.sleep(1.2)
    assert metadata_store.fail_stale_runs(1.0) == [crashed.id]
    taken = make_run(metadata_store, origin_run_id=origin.id)
    assert metadata_store.get_run(taken.id).status is RunStatus.RUNNING
