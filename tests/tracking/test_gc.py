"""Deleting runs and garbage-collecting the blobs nothing points at any more (local stores)."""

from __future__ import annotations

import json
import os
import time

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import shipyard
from shipyard.artifacts.cas import blob_key
from shipyard.cli.main import main
from shipyard.core.entities import RunStatus
from shipyard.core.errors import ConflictError, InvalidInputError, NotFoundError
from shipyard.tracking.client import TrackingClient
from shipyard.tracking.gc import collect_garbage
from shipyard.tracking.stores import Stores

DAY = 24 * 3600


def _age_every_blob(stores: Stores, seconds: float) -> None:
    past = time.time() - seconds
    for info in stores.artifacts.blobs.list_blobs("blobs/"):
        path = stores.artifacts.blobs.local_path(info.key)
        assert path is not None
        os.utime(path, (past, past))


def _blob_exists(stores: Stores, digest: str) -> bool:
    return stores.artifacts.blobs.exists(blob_key(digest))


def test_gc_deletes_only_old_unreferenced_blobs(sdk: Stores, client: TrackingClient) -> None:
    x = pd.DataFrame(np.random.default_rng(0).normal(size=(50, 3)), columns=["a", "b", "c"])
    model = LogisticRegression().fit(x, (x["a"] > 0).astype(int))
    with shipyard.start_run("a") as run_a:
        shipyard.log_artifact(np.arange(1000), name="only_a")
        shipyard.log_artifact({"shared": True}, name="shared")
        shipyard.log_model(model, "model", input_example=x.head(3), register="gc_model")
    with shipyard.start_run("b") as run_b:
        shipyard.log_artifact({"shared": True}, name="same_bytes")  # dedup: the same blob
    a_digests = {r.name: r.digest for r in client.list_artifacts(run_a.id)}
    b_digest = client.list_artifacts(run_b.id)[0].digest
    assert a_digests["shared"] == b_digest

    deleted = shipyard.delete_run(run_a.id)
    assert deleted.id == run_a.id
    with pytest.raises(NotFoundError):
        client.get_run(run_a.id)
    young = sdk.artifacts.put_bytes(b"written a moment ago, not recorded yet")

    _age_every_blob(sdk, 2 * DAY)
    renewed = sdk.artifacts.put_bytes(b"written a moment ago, not recorded yet")  # a dedup touches
    assert renewed == young
    stray = sdk.artifacts.put_bytes(b"an orphan from a crashed writer")
    _age_every_blob(sdk, 2 * DAY)  # everything old again...
    sdk.artifacts.put_bytes(b"written a moment ago, not recorded yet")  # ...but this one in use now

    plan = collect_garbage(sdk, min_age_s=DAY, dry_run=True)
    assert plan.dry_run and plan.deleted == 2  # only_a and the stray; nothing deleted yet
    assert _blob_exists(sdk, a_digests["only_a"]) and _blob_exists(sdk, stray)

    report = collect_garbage(sdk, min_age_s=DAY)
    assert report.deleted == 2 and report.deleted_bytes > 8000 and report.young == 1
    assert report.blobs == report.referenced + report.young + report.deleted
    assert not _blob_exists(sdk, a_digests["only_a"]) and not _blob_exists(sdk, stray)
    assert _blob_exists(sdk, young)
    assert shipyard.load_artifact(run_b.id, "same_bytes") == {"shared": True}  # shared blob kept
    loaded = shipyard.load_model("models:/gc_model/1")  # its package outlives the deleted run
    assert loaded.predict(x).tolist() == model.predict(x).tolist()
    assert collect_garbage(sdk, min_age_s=DAY).deleted == 0  # nothing left to collect


def test_a_running_run_is_only_deleted_with_force(sdk: Stores, client: TrackingClient) -> None:
    run = client.create_run("busy")  # RUNNING until someone ends it
    with pytest.raises(ConflictError, match="still running"):
        shipyard.delete_run(run.id)
    assert client.get_run(run.id).status is RunStatus.RUNNING
    shipyard.delete_run(run.id, force=True)
    with pytest.raises(NotFoundError):
        client.get_run(run.id)


def test_negative_grace_is_refused(sdk: Stores) -> None:
    with pytest.raises(InvalidInputError, match="must not be negative"):
        collect_garbage(sdk, min_age_s=-1)


def test_cli_deletes_runs_and_collects(
    sdk: Stores, client: TrackingClient, capsys: pytest.CaptureFixture[str]
) -> None:
    with shipyard.start_run("cli") as run:
        shipyard.log_artifact(np.arange(500), name="arr")
    digest = client.list_artifacts(run.id)[0].digest

    def cli(*args: str) -> tuple[int, str]:
        capsys.readouterr()
        code = main(list(args))
        captured = capsys.readouterr()
        return code, captured.out + captured.err

    code, out = cli("runs", "delete", run.id, "0" * 32)
    assert code == 1 and "no run with id" in out
    assert client.get_run(run.id).id == run.id  # nothing deleted when one id is wrong
    code, out = cli("runs", "delete", run.id[:10])
    assert code == 0 and f"deleted run {run.id}" in out, out
    _age_every_blob(sdk, 2 * DAY)
    code, out = cli("artifacts", "gc", "--dry-run", "--json")
    assert code == 0 and json.loads(out)["deleted"] == 1 and _blob_exists(sdk, digest), out
    code, out = cli("artifacts", "gc", "--min-age", "soon")
    assert code == 1 and "invalid duration 'soon'" in out
    code, out = cli("artifacts", "gc", "--min-age", "1d")
    assert code == 0 and "deleted 1 blob(s)" in out, out
    assert not _blob_exists(sdk, digest)


def test_files_that_are_not_blobs_are_never_collected(sdk: Stores) -> None:
    backend = sdk.artifacts.blobs
    junk = "blobs/sha256/zz/" + "x" * 62  # 64 characters after the prefix, but not a sha256
    backend.write_bytes(junk, b"someone else's file")
    backend.write_bytes("notes/readme.txt", b"outside the content store")
    _age_every_blob(sdk, 2 * DAY)
    for key in ("notes/readme.txt",):
        path = backend.local_path(key)
        assert path is not None
        os.utime(path, (time.time() - 2 * DAY, time.time() - 2 * DAY))
    report = collect_garbage(sdk, min_age_s=DAY)
    assert report.deleted == 0
    assert backend.exists(junk) and backend.exists("notes/readme.txt")
