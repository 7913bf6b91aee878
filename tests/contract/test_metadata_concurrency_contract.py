"""The MetadataStore contract, part 4: concurrent writers and processes (every backend)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading

from shipyard.core.entities import (
    Metric,
)
from shipyard.metadata import MetadataStore, open_metadata_store
from tests.contract.metadata_helpers import make_run


# ---- concurrency -----------------------------------------------------------------------------------
def test_threads_logging_metrics_at_once(metadata_store: MetadataStore) -> None:
    run = make_run(metadata_store)
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            for batch in range(10):
                points = [Metric(f"w{worker}", float(batch * 50 + i), batch * 50 + i, i) for i in range(50)]
                metadata_store.log_metrics(run.id, points)
                metadata_store.set_tags(run.id, {f"w{worker}": str(batch)})
                metadata_store.log_params(run.id, {"shared": 1, f"p{worker}": batch if batch == 0 else 0})
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    got = metadata_store.get_run(run.id)
    assert got.metrics == {f"w{w}": 499.0 for w in range(6)}
    assert got.tags == {f"w{w}": "9" for w in range(6)}
    for w in range(6):
        assert len(metadata_store.get_metric_history(run.id, f"w{w}")) == 500


_WORKER = textwrap.dedent(
    """
    import sys
    from shipyard.core.entities import Metric, Task
    from shipyard.metadata import open_metadata_store

    uri, run_id, worker = sys.argv[1], sys.argv[2], int(sys.argv[3])
    store = open_metadata_store(uri)
    try:
        for batch in range(20):
            store.log_metrics(run_id, [Metric("m", float(i), batch * 100 + i, 0) for i in range(100)])
            store.create_tasks([Task(id=f"{worker:02d}{batch:030d}", run_id=run_id, step="s",
                                     key=f"s[{worker}][{batch}]")])
            store.set_tags(run_id, {f"w{worker}": str(batch)})
    finally:
        store.close()
    """
)


def test_processes_writing_the_same_database(metadata_store: MetadataStore, metadata_uri: str) -> None:
    run = make_run(metadata_store)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, metadata_uri, run.id, str(w)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for w in range(3)
    ]
    for p in procs:
        _, err = p.communicate(timeout=240)
        assert p.returncode == 0, err
    assert len(metadata_store.get_metric_history(run.id, "m")) == 3 * 20 * 100
    assert len(metadata_store.list_tasks(run.id)) == 60
    assert metadata_store.get_run(run.id).tags == {"w0": "19", "w1": "19", "w2": "19"}


def test_two_stores_on_one_database_see_each_other(metadata_uri: str) -> None:
    a, b = open_metadata_store(metadata_uri), open_metadata_store(metadata_uri)
    try:
        run = make_run(a)
        b.log_metrics(run.id, [Metric("x", 1.0)])
        assert a.get_run(run.id).metrics == {"x": 1.0}
    finally:
        a.close()
        b.close()
        b.close()  # idempotent
