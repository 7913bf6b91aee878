"""``shipyard import mlflow`` from real MLflow stores (file store, SQLite, a live server), compared
value for value with what MLflow itself reads back; idempotence, resume, dry run, bad URIs, and
the ``mlflow`` model flavor (refused without the unsafe opt-in, predicting with it)."""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.services import require

pytest.importorskip("mlflow")

from shipyard.core.errors import UntrustedContentError
from shipyard.core.settings import load_settings
from shipyard.importers.mlflow_import import ImportOptions, MlflowImporter
from shipyard.importers.mlflow_names import TAG_RUN, target_run_id
from shipyard.importers.mlflow_source import MlflowSource
from shipyard.tracking.stores import Stores, open_stores
from tests.importers.mlflow_source import MODEL, write_source

OPTS = ImportOptions(approve_protected=True)
# MLflow's own SQL store and example handling trip SQLAlchemy 2.1's and pandas 3's deprecations
pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::FutureWarning"),
    pytest.mark.filterwarnings("ignore::UserWarning"),
]


def _source_points(uri: str, runs: list[str]) -> int:
    from mlflow.tracking import MlflowClient

    mlc = MlflowClient(tracking_uri=uri)
    return sum(len(mlc.get_metric_history(r, k)) for r in runs for k in mlc.get_run(r).data.metrics)


@pytest.fixture(scope="module")
def file_source(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """An MLflow file store (most tests: the behaviour does not depend on the source's kind)."""
    root = tmp_path_factory.mktemp("mlflow-file")
    uri = (root / "mlruns").as_uri()
    written = write_source(uri, root / "scratch")
    written["uri"] = uri
    return written


@pytest.fixture(scope="module", params=["file", "sqlite"])
def source(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Each kind of local MLflow store: a file store and a SQLite database."""
    if request.param == "file":
        return dict(request.getfixturevalue("file_source"))
    root = tmp_path_factory.mktemp("mlflow-sqlite")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    os.environ.setdefault("MLFLOW_DEFAULT_ARTIFACT_ROOT", str(root / "artifacts"))
    written = write_source(uri, root / "scratch")
    written["uri"] = uri
    return written


def _stores() -> Stores:
    return open_stores(load_settings())


def _import(uri: str, stores: Stores, options: ImportOptions = OPTS) -> Any:
    return MlflowImporter(MlflowSource(uri), stores, options).run()


def _float_key(value: float) -> tuple[int, float]:
    return (1, 0.0) if math.isnan(value) else (0, value)


def test_import_copies_everything_value_for_value(source: dict[str, Any], tmp_path: Path) -> None:
    from mlflow.tracking import MlflowClient

    from shipyard.artifacts.store import StoredObject
    from shipyard.registry.service import ModelRegistry

    mlc = MlflowClient(tracking_uri=source["uri"], registry_uri=source["uri"])
    stores = _stores()
    try:
        summary = _import(source["uri"], stores)
        assert summary.source == summary.imported
        assert summary.source.runs == 3
        assert summary.source.experiments >= 2  # + MLflow's Default experiment
        assert summary.written.runs == 3
        assert summary.source.models == 1 and summary.source.versions == 2 and summary.source.aliases == 2
        for sid in source["runs"]:
            want = mlc.get_run(sid)
            got = stores.metadata.get_run(target_run_id(sid))
            assert got.id == sid  # MLflow's 32-hex id is kept
            assert got.tags[TAG_RUN] == sid
            assert got.params == dict(want.data.params)
            assert {k: v for k, v in got.tags.items() if not k.startswith("shipyard.import.")} == dict(
                want.data.tags
            )
            assert got.name == want.info.run_name
            assert int(got.start_time.timestamp() * 1000) == want.info.start_time
            assert got.end_time is not None and int(got.end_time.timestamp() * 1000) == want.info.end_time
            assert (
                got.status.value
                == {"FINISHED": "succeeded", "FAILED": "failed", "KILLED": "cancelled"}[want.info.status]
            )
            assert got.namespace in ("mlflow:team:fraud", "mlflow:churn")
            for key in want.data.metrics:
                mine = sorted(
                    (m.step, m.timestamp, _float_key(m.value))
                    for m in stores.metadata.get_metric_history(sid, key)
                )
                theirs = sorted(
                    (m.step, m.timestamp, _float_key(m.value)) for m in mlc.get_metric_history(sid, key)
                )
                assert mine == theirs and len(mine) > 0
            records = {a.name: a for a in stores.metadata.list_artifacts(sid)}
            for name in ("notes/readme.txt", "notes/deep/blob.bin"):
                local = Path(mlc.download_artifacts(sid, name, str(tmp_path / sid)))
                copy = stores.artifacts.get_object(StoredObject.of(records[name]))
                assert Path(copy).read_bytes() == local.read_bytes()
        registry = ModelRegistry(stores)
        model = registry.get_model(MODEL)
        assert model.description == "fraud classifier" and model.tags["owner"] == "risk"
        versions = registry.list_versions(MODEL)
        assert [v.tags["shipyard.import.mlflow_version"] for v in versions] == ["1", "2"]
        assert versions[0].tags["validated"] == "yes"
        assert all(v.flavor == "mlflow" and v.unsafe for v in versions)
        assert versions[0].run_id == source["runs"][0] and versions[1].run_id == source["runs"][1]
        assert model.aliases == {"champion": 2, "challenger": 1}
    finally:
        stores.close()


def test_second_import_adds_nothing_and_still_checks(source: dict[str, Any]) -> None:
    stores = _stores()
    try:
        first = _import(source["uri"], stores)
        second = _import(source["uri"], stores)
        assert second.written.as_dict() == dict.fromkeys(second.written.as_dict(), 0)
        assert second.skipped_runs == 3
        assert second.imported == second.source == first.source
        assert stores.metadata.count_runs() == 3
    finally:
        stores.close()


def test_interrupted_import_resumes(file_source: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    stores = _stores()
    calls = {"n": 0}
    original = MlflowImporter._copy_artifacts

    def flaky(self: MlflowImporter, src: Any, rid: str) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt  # the second run dies half-written (metrics in, artifacts not)
        original(self, src, rid)

    try:
        monkeypatch.setattr(MlflowImporter, "_copy_artifacts", flaky)
        with pytest.raises(KeyboardInterrupt):
            _import(file_source["uri"], stores)
        partial = [r for r in stores.metadata.search_runs(max_results=10).runs]
        assert sorted(r.tags["shipyard.import.state"] for r in partial) == ["complete", "partial"]
        monkeypatch.setattr(MlflowImporter, "_copy_artifacts", original)
        summary = _import(file_source["uri"], stores)
        assert summary.skipped_runs == 1 and summary.resumed_runs == 1 and summary.written.runs == 2
        assert summary.imported == summary.source
        assert stores.metadata.count_runs() == 3
    finally:
        stores.close()


def test_dry_run_counts_and_writes_nothing(file_source: dict[str, Any]) -> None:
    stores = _stores()
    try:
        summary = _import(file_source["uri"], stores, ImportOptions(dry_run=True))
        assert summary.dry_run
        assert summary.source.runs == 3
        assert (
            summary.source.metric_points
            == _source_points(file_source["uri"], file_source["runs"])
            >= 3 * (26 + 3)
        )
        assert summary.source.artifacts == 6 and summary.source.versions == 2 and summary.source.aliases == 2
        assert summary.source.params == 6
        assert stores.metadata.count_runs() == 0
        from shipyard.registry.service import ModelRegistry

        assert ModelRegistry(stores).list_models() == []
    finally:
        stores.close()


def test_experiment_filter_and_project(file_source: dict[str, Any]) -> None:
    stores = _stores()
    try:
        summary = _import(file_source["uri"], stores, ImportOptions(experiments=("churn",), models=False))
        assert summary.source.runs == 1 and summary.imported == summary.source
        (run,) = stores.metadata.search_runs(max_results=10).runs
        assert run.namespace == "mlflow:churn" and run.tags["shipyard.import.mlflow_experiment"] == "churn"
    finally:
        stores.close()


def test_protected_alias_needs_the_flag(file_source: dict[str, Any]) -> None:
    from shipyard.core.errors import ConflictError

    stores = _stores()
    try:
        with pytest.raises(ConflictError, match="--approve-protected-aliases"):
            _import(file_source["uri"], stores, ImportOptions())
    finally:
        stores.close()


# ---- the mlflow flavor ------------------------------------------------------------------------------
def test_pyfunc_model_refused_without_opt_in_and_predicts_with_it(file_source: dict[str, Any]) -> None:
    from shipyard.core.errors import SerializationError
    from shipyard.registry.api import load_model
    from shipyard.serving.models import load_variant

    stores = _stores()
    try:
        _import(file_source["uri"], stores)
        with pytest.raises(UntrustedContentError, match="allow_unsafe=True"):
            load_model(f"models:/{MODEL}@champion", stores=stores)
        with pytest.raises(SerializationError, match="--allow-unsafe-model") as info:
            load_variant(stores, f"models:/{MODEL}@champion", allow_unsafe=False)
        assert "\n" not in str(info.value)
        model = load_model(f"models:/{MODEL}@champion", stores=stores, allow_unsafe=True)
        X = file_source["X"]
        from sklearn.linear_model import LogisticRegression

        expected = LogisticRegression(C=2.0).fit(X, file_source["y"]).predict(X)
        assert list(model.predict(X)) == list(expected)
        assert model.signature.column_names == ["a", "b"]
        variant = load_variant(stores, f"models:/{MODEL}@champion", allow_unsafe=True)
        rows = {"a": [0.9, 0.1], "b": [1.0, 2.0]}
        preds, _ = variant.predict(variant.frame(rows))
        assert preds == LogisticRegression(C=2.0).fit(X, file_source["y"]).predict(type(X)(rows)).tolist()
    finally:
        stores.close()


def test_serve_cli_refuses_pyfunc_without_opt_in(
    file_source: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    from shipyard.cli.main import main

    stores = _stores()
    try:
        _import(file_source["uri"], stores)
    finally:
        stores.close()
    capsys.readouterr()
    code = main(["serve", f"models:/{MODEL}@champion", "--port", "0"])
    err = capsys.readouterr().err.strip()
    assert code == 1
    assert err.startswith("error:") and "--allow-unsafe-model" in err and len(err.splitlines()) == 1


# ---- the CLI --------------------------------------------------------------------------------------
def test_cli_prints_counts_and_dry_run(
    file_source: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    from shipyard.cli.main import main

    assert main(["import", "mlflow", "--from", file_source["uri"], "--dry-run", "-q"]) == 0
    out = capsys.readouterr().out
    assert "would import (dry run)" in out and "metric points" in out
    assert f" {_source_points(file_source['uri'], file_source['runs'])} " in out
    assert (
        main(
            ["import", "mlflow", "--from", file_source["uri"], "-q", "--approve-protected-aliases", "--json"]
        )
        == 0
    )
    data = json.loads(capsys.readouterr().out)
    assert data["source_counts"] == data["imported_counts"] and data["written"]["runs"] == 3


@pytest.mark.parametrize(
    ("uri", "needle"),
    [
        ("nope://host/x", "unsupported scheme 'nope'"),
        ("/no/such/mlruns", "no such folder"),
        ("sqlite:////no/such/mlflow.db", "no such SQLite file"),
        ("http://127.0.0.1:9", "cannot read the MLflow store"),
    ],
)
def test_bad_uri_is_one_line(uri: str, needle: str, capsys: pytest.CaptureFixture[str]) -> None:
    from shipyard.cli.main import main

    os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = "0"
    code = main(["import", "mlflow", "--from", uri, "-q"])
    err = capsys.readouterr().err.strip()
    assert code == 1, err
    assert err.startswith("error:") and needle in err and len(err.splitlines()) == 1, err


def test_password_never_shown() -> None:
    from shipyard.importers.mlflow_source import redact_uri

    assert redact_uri("postgresql://bob:s3cret@db:5432/mlflow") == "postgresql://bob:***@db:5432/mlflow"


# ---- a live mlflow server ---------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _mlflow_server_bin() -> Path:
    """``mlflow`` of the full package, in its own environment (tests/importers/mlflow_server_venv.py)."""
    from tests.importers.mlflow_server_venv import mlflow_server_venv
    from tests.tool_venvs import ToolUnavailable

    try:
        venv = mlflow_server_venv()
    except ToolUnavailable as exc:
        require(False, f"mlflow server could not be installed: {exc}")
        raise
    return venv / "bin" / "mlflow"


@pytest.mark.slow
def test_import_from_live_mlflow_server(tmp_path: Path) -> None:
    mlflow_bin = _mlflow_server_bin()
    port = _free_port()
    proc = subprocess.Popen(
        [
            str(mlflow_bin),
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--backend-store-uri",
            f"sqlite:///{tmp_path / 'server.db'}",
            "--artifacts-destination",
            str(tmp_path / "server-artifacts"),
            "--workers",
            "1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=tmp_path,
    )
    uri = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("mlflow server did not start")
                time.sleep(0.5)
        time.sleep(1)
        written = write_source(uri, tmp_path / "scratch")
        stores = _stores()
        try:
            summary = _import(uri, stores)
            assert summary.imported == summary.source and summary.source.runs == 3
            assert summary.source.metric_points == _source_points(uri, written["runs"])
            assert summary.source.artifacts == 6
            assert summary.source.versions == 2 and summary.source.aliases == 2
            again = _import(uri, stores)
            assert again.written.runs == 0 and again.skipped_runs == 3
            from shipyard.registry.api import load_model

            model = load_model(f"models:/{MODEL}@champion", stores=stores, allow_unsafe=True)
            assert len(model.predict(written["X"])) == len(written["X"])
        finally:
            stores.close()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_import_into_a_shipyard_server(
    file_source: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same import through the REST stores of a live shipyard server (admin token)."""
    from shipyard.registry.service import ModelRegistry
    from tests.server.live import live_server

    with live_server(tmp_path) as server:
        monkeypatch.setenv("SHIPYARD_URI", server.url)
        monkeypatch.setenv("SHIPYARD_TOKEN", server.token)
        stores = _stores()
        try:
            summary = _import(file_source["uri"], stores)
            assert summary.imported == summary.source and summary.written.runs == 3
            again = _import(file_source["uri"], stores)
            assert again.written.runs == 0 and again.skipped_runs == 3 and again.imported == again.source
        finally:
            stores.close()
        from mlflow.tracking import MlflowClient

        mlc = MlflowClient(tracking_uri=file_source["uri"])
        local = server.stores  # what the server's own stores hold
        for sid in file_source["runs"]:
            run = local.metadata.get_run(sid)
            assert run.tags["shipyard.import.state"] == "complete"
            assert len(local.metadata.get_metric_history(sid, "loss")) == len(
                mlc.get_metric_history(sid, "loss")
            )
        assert ModelRegistry(local).get_model(MODEL).aliases == {"champion": 2, "challenger": 1}


def test_unreachable_database_error_hides_the_password(capsys: pytest.CaptureFixture[str]) -> None:
    from shipyard.cli.main import main

    code = main(["import", "mlflow", "--from", "postgresql://bob:s3cret-pw@127.0.0.1:9/mlflow", "-q"])
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("error:") and len(err.strip().splitlines()) == 1
    assert "s3cret-pw" not in err


def test_log_model_takes_an_mlflow_model_folder(file_source: dict[str, Any], tmp_path: Path) -> None:
    """An MLflow model folder (MLmodel) logged with shipyard.log_model becomes an ``mlflow``
    package: signature from the MLmodel, refused without allow_unsafe, predicting with it."""
    from mlflow.artifacts import download_artifacts
    from mlflow.tracking import MlflowClient

    import shipyard
    from shipyard.registry.api import load_model

    uri = file_source["uri"]
    where = MlflowClient(tracking_uri=uri, registry_uri=uri).get_model_version_download_uri(MODEL, "1")
    folder = Path(download_artifacts(artifact_uri=where, dst_path=str(tmp_path / "m"), tracking_uri=uri))
    with shipyard.start_run():
        info = shipyard.log_model(
            folder,
            "mlflow-model",
            signature={"inputs": [{"name": "a", "type": "float64"}, {"name": "b", "type": "float64"}]},
            register="from-folder",
        )
    assert info.version is not None and info.version.flavor == "mlflow" and info.version.unsafe
    with pytest.raises(UntrustedContentError):
        load_model("models:/from-folder/1")
    model = load_model("models:/from-folder/1", allow_unsafe=True)
    assert len(model.predict(file_source["X"])) == len(file_source["X"])


def test_sql_store_is_read_one_metrics_query_per_run_in_pieces(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A database store's points come from two queries per run, its keys with their counts and
    then its points (not one per run and key: SQLite then walks the primary key's index, which
    starts with the key, through every run's points), in pieces of one key each, split across
    fetches where a key spans them, NaN kept."""
    import sqlalchemy as sa
    from mlflow.entities import Metric as MlflowMetric
    from mlflow.tracking import MlflowClient

    import shipyard.importers.mlflow_source as source_module

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    mlc = MlflowClient(tracking_uri=uri)
    exp = mlc.create_experiment("pieces", artifact_location=(tmp_path / "art").as_uri())
    want: dict[str, dict[str, list[tuple[int, int, float]]]] = {}
    for r in range(2):
        rid = mlc.create_run(exp).info.run_id
        points = {
            k: [
                (i, 1_700_000_000_000 + i, float("nan") if (k, i) == ("b", 3) else r + i / 8)
                for i in range(7)
            ]
            for k in ("a", "b", "c")
        }
        mlc.log_batch(rid, metrics=[MlflowMetric(k, v, t, s) for k, ps in points.items() for s, t, v in ps])
        want[rid] = points
    monkeypatch.setattr(source_module, "METRIC_PAGE", 5)  # keys span fetches
    src = MlflowSource(uri)
    queries: list[str] = []
    engine = src.client._tracking_client.store.engine
    # the driver's own trace: the source runs its query on sqlite3's cursor, past SQLAlchemy
    sa.event.listen(engine, "checkout", lambda dbapi, *_: dbapi.set_trace_callback(queries.append))
    for rid, points in want.items():
        run = src.client.get_run(rid)
        before = len(queries)
        pieces = list(src.run_metrics(run))
        assert sum("FROM metrics" in q for q in queries[before:]) == 2, queries[before:]
        assert all(len(p[1]) <= 5 for p in pieces)
        keys = [p[0] for p in pieces]
        assert keys == sorted(keys) and len(pieces) > 3  # one key after the other, split in pieces
        got: dict[str, list[tuple[int, int, float]]] = {}
        for key, values, steps, stamps in pieces:
            got.setdefault(key, []).extend(zip(steps, stamps, values, strict=True))
        assert {k: [(s, t, _float_key(v)) for s, t, v in ps] for k, ps in got.items()} == {
            k: [(s, t, _float_key(v)) for s, t, v in ps] for k, ps in points.items()
        }


def test_sql_store_edge_cases_import_exactly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A run without metrics, a key with one point, NaN and +-inf, repeated steps and timestamps,
    and keys whose points end exactly on a fetch's boundary all import point for point."""
    from mlflow.entities import Metric as MlflowMetric
    from mlflow.tracking import MlflowClient

    import shipyard.importers.mlflow_source as source_module

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    mlc = MlflowClient(tracking_uri=uri)
    exp = mlc.create_experiment("edges", artifact_location=(tmp_path / "art").as_uri())
    empty = mlc.create_run(exp).info.run_id
    mlc.log_param(empty, "p", "1")
    busy = mlc.create_run(exp).info.run_id
    t0 = 1_700_000_000_000
    points = [
        MlflowMetric("one", 0.5, t0, 0),
        *(MlflowMetric("pair", float(i), t0 + i, i) for i in range(2)),  # = the fetch size
        MlflowMetric("odd", float("nan"), t0, 0),
        MlflowMetric("odd", float("inf"), t0, 0),  # same step and timestamp, other values
        MlflowMetric("odd", float("-inf"), t0, 0),
        MlflowMetric("odd", 0.0, t0, 0),
        MlflowMetric("odd", -0.0, t0 + 1, 0),
    ]
    mlc.log_batch(busy, metrics=points)
    monkeypatch.setattr(source_module, "METRIC_PAGE", 2)
    stores = _stores()
    try:
        summary = _import(uri, stores)
        assert summary.source == summary.imported
        assert summary.source.runs == 2 and summary.source.metric_points == len(points)
        assert stores.metadata.get_run(empty).params == {"p": "1"}
        for key in ("one", "pair", "odd"):
            mine = sorted(
                (m.step, m.timestamp, _float_key(m.value))
                for m in stores.metadata.get_metric_history(busy, key)
            )
            theirs = sorted(
                (m.step, m.timestamp, _float_key(m.value)) for m in mlc.get_metric_history(busy, key)
            )
            assert mine == theirs and len(mine) == sum(p.key == key for p in points)
    finally:
        stores.close()


def test_sql_store_read_refuses_counts_that_do_not_add_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each key's points are fetched by its count: rows past or short of the counts fail the read
    in one line instead of cutting points into the wrong key."""
    from mlflow.tracking import MlflowClient

    import shipyard.importers.mlflow_source as source_module
    from shipyard.core.errors import ConfigurationError

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    mlc = MlflowClient(tracking_uri=uri)
    exp = mlc.create_experiment("counts", artifact_location=(tmp_path / "art").as_uri())
    rid = mlc.create_run(exp).info.run_id
    for step in range(3):
        mlc.log_metric(rid, "a", float(step), step=step)
    src = MlflowSource(uri)
    run = src.client.get_run(rid)
    assert sum(len(p[1]) for p in src.run_metrics(run)) == 3
    for wrong in ("count(*) - 1", "count(*) + 1"):
        keys = source_module._SQLITE_KEYS.replace("count(*)", wrong)
        monkeypatch.setattr(source_module, "_SQLITE_KEYS", keys)
        with pytest.raises(ConfigurationError, match="changed while they were read"):
            list(src.run_metrics(run))
        monkeypatch.undo()


@pytest.mark.parametrize("per_key", [False, True], ids=["chunk-pages", "per-key-pages"])
def test_read_back_catches_points_changed_or_moved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, per_key: bool
) -> None:
    """The read-back digests (a run's chunks a page at a time, or each key page by page where the
    store has no chunk read) catch a point whose bits changed and points moved to another key
    (same total), with batches and pages cut small so keys span several of each."""
    import sqlalchemy as sa
    from mlflow.entities import Metric as MlflowMetric
    from mlflow.tracking import MlflowClient

    import shipyard.importers.mlflow_import as import_module
    import shipyard.metadata.sql.metric_chunks as chunks_module
    from shipyard.core.errors import IntegrityError
    from shipyard.metadata.base import MetadataStore
    from shipyard.metadata.sql.schema import metric_chunks

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    mlc = MlflowClient(tracking_uri=uri)
    exp = mlc.create_experiment("tamper", artifact_location=(tmp_path / "art").as_uri())
    run = mlc.create_run(exp).info.run_id
    points = [MlflowMetric(k, i + 0.25, 1_700_000_000_000 + i, i) for k in ("a", "b") for i in range(7)]
    mlc.log_batch(run, metrics=points)
    monkeypatch.setattr(import_module, "FLUSH_POINTS", 3)
    monkeypatch.setattr(chunks_module, "METRIC_CHUNKS_PER_PAGE", 2)
    stores = _stores()
    if per_key:  # the default: None, as a store without the chunk read answers
        monkeypatch.setattr(
            type(stores.metadata), "get_run_metric_chunks", MetadataStore.get_run_metric_chunks
        )
    try:
        summary = _import(uri, stores)
        assert summary.source == summary.imported and summary.source.metric_points == 14
        engine = stores.metadata.engine  # type: ignore[attr-defined]
        c = metric_chunks.c
        with engine.begin() as conn:
            first = conn.execute(sa.select(c.id, c["values"]).where(c.key == "a").order_by(c.id)).first()
            bits = bytearray(first[1])
            bits[0] ^= 1  # the lowest bit of the first value
            conn.execute(sa.update(metric_chunks).where(c.id == first[0]).values({"values": bytes(bits)}))
        with pytest.raises(IntegrityError, match="metric_points: source 14, shipyard 7"):
            _import(uri, stores)
        with engine.begin() as conn:
            conn.execute(sa.update(metric_chunks).where(c.id == first[0]).values({"values": first[1]}))
        assert _import(uri, stores).imported.metric_points == 14  # restored: equal again
        with engine.begin() as conn:
            moved = conn.execute(sa.select(c.id).where(c.key == "b").order_by(c.id)).scalar()
            conn.execute(sa.update(metric_chunks).where(c.id == moved).values(key="a"))
        with pytest.raises(IntegrityError, match="metric_points: source 14, shipyard 0"):
            _import(uri, stores)
    finally:
        stores.close()
