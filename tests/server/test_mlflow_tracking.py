"""The real MLflow client against a live shipyard server: experiments, runs, params, metrics, tags,
search, history, inputs, errors — over SQLite and Postgres (one server per backend per module).

A run logged through MLflow is a shipyard run (the native API and store see it), and a run the
shipyard API writes is seen through MLflow."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.server.live import LiveServer
from tests.server.mlflow_live import mlflow_server, unique

mlflow = pytest.importorskip("mlflow")
pytestmark = [
    pytest.mark.usefixtures("server"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::FutureWarning"),
]
# every test on SQLite; the core of the tracking API on Postgres too (one server per backend)
BOTH = pytest.mark.parametrize(
    "server", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True, scope="module"
)
SQLITE = pytest.mark.parametrize("server", ["sqlite"], indirect=True, scope="module")


@pytest.fixture(scope="module")
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    root = tmp_path_factory.mktemp("mlflow-tracking")
    if request.param == "sqlite":
        with mlflow_server(root) as live:
            yield live
        return
    import uuid

    import psycopg

    from tests.contract.conftest import _plain_pg, postgres_schema_uri
    from tests.services import require_postgres

    base = require_postgres()
    schema = f"shipyard_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_plain_pg(base), autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        with mlflow_server(root, uri=postgres_schema_uri(base, schema)) as live:
            yield live
    finally:
        with psycopg.connect(_plain_pg(base), autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture(scope="module")
def api(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {server.token}"}) as client:
        yield client


@BOTH
def test_a_run_logged_through_mlflow_is_a_shipyard_run(server: LiveServer, api: httpx.Client) -> None:
    mlflow.set_experiment(unique("logged"))
    with mlflow.start_run(run_name="first-run") as run:
        mlflow.log_param("lr", 0.1)
        mlflow.log_params({"depth": 3, "kind": "tree"})
        mlflow.log_metric("loss", 0.5, step=1)
        mlflow.log_metrics({"loss": 0.25, "acc": 0.75}, step=2)
        mlflow.set_tag("team", "fraud")
        mlflow.set_tags({"stage": "dev", "owner": "me"})
    got = mlflow.get_run(run.info.run_id)
    assert got.info.status == "FINISHED" and got.info.run_name == "first-run"
    assert got.data.params == {"lr": "0.1", "depth": "3", "kind": "tree"}
    assert got.data.metrics == {"loss": 0.25, "acc": 0.75}
    assert {"team": "fraud", "stage": "dev", "owner": "me"}.items() <= got.data.tags.items()
    # the same run through shipyard's own API and store
    experiment = mlflow.get_experiment(got.info.experiment_id)
    native = api.get("/api/v1/runs", params={"namespace": experiment.name}).json()["runs"]
    assert [r["id"] for r in native] == [run.info.run_id]
    assert native[0]["status"] == "succeeded" and native[0]["metrics"] == {"loss": 0.25, "acc": 0.75}
    stored = server.stores.metadata.get_run(run.info.run_id)
    assert stored.params["lr"] == "0.1" and stored.tags["team"] == "fraud" and stored.user == "admin"


@BOTH
def test_a_shipyard_run_is_seen_through_mlflow(api: httpx.Client) -> None:
    namespace = unique("native")
    import uuid

    body = {
        "id": uuid.uuid4().hex,
        "name": "native-run",
        "namespace": namespace,
        "user": "admin",
        "start_time": "2026-01-01T00:00:00+00:00",
        "params": {"n": 7},
    }
    made = api.post("/api/v1/runs", json=body)
    assert made.status_code == 201, made.text
    run_id = made.json()["id"]
    points = {"metrics": [["score", 0.5, 0, 1000], ["score", 0.75, 1, 2000]]}
    assert api.post(f"/api/v1/runs/{run_id}/metrics", json=points).status_code < 300
    experiment = mlflow.get_experiment_by_name(namespace)
    assert experiment is not None and experiment.name == namespace
    runs = mlflow.search_runs([experiment.experiment_id], output_format="list")
    assert [r.info.run_id for r in runs] == [run_id]
    assert runs[0].info.run_name == "native-run" and runs[0].data.params == {"n": "7"}
    history = mlflow.MlflowClient().get_metric_history(run_id, "score")
    assert [(m.step, m.value, m.timestamp) for m in history] == [(0, 0.5, 1000), (1, 0.75, 2000)]


@BOTH
def test_search_runs_filters_orders_and_pages(api: httpx.Client) -> None:
    experiment_id = mlflow.create_experiment(unique("search"))
    for i, (kind, acc) in enumerate([("a", 0.9), ("b", 0.8), ("a", 0.6), ("a", 0.3), ("b", 0.95)]):
        with mlflow.start_run(experiment_id=experiment_id, run_name=f"r{i}"):
            mlflow.log_params({"kind": kind, "i": i})
            mlflow.log_metric("acc", acc)
    frame = mlflow.search_runs(
        [experiment_id],
        filter_string="metrics.acc > 0.5 and params.kind = 'a'",
        order_by=["metrics.acc DESC"],
    )
    assert list(frame["tags.mlflow.runName"]) == ["r0", "r2"]
    assert list(frame["metrics.acc"]) == [0.9, 0.6] and list(frame["params.kind"]) == ["a", "a"]
    ordered = mlflow.search_runs([experiment_id], order_by=["params.i ASC"], output_format="list")
    assert [r.info.run_name for r in ordered] == ["r0", "r1", "r2", "r3", "r4"]
    finished = mlflow.search_runs(
        [experiment_id], filter_string="attributes.status = 'FINISHED' and attributes.run_name = 'r3'"
    )
    assert list(finished["metrics.acc"]) == [0.3]
    client = mlflow.MlflowClient()
    first = client.search_runs([experiment_id], max_results=2, order_by=["metrics.acc ASC"])
    assert len(first) == 2 and first.token
    rest = client.search_runs(
        [experiment_id], max_results=10, order_by=["metrics.acc ASC"], page_token=first.token
    )
    assert [r.data.metrics["acc"] for r in [*first, *rest]] == [0.3, 0.6, 0.8, 0.9, 0.95]
    assert not rest.token


@SQLITE
def test_metric_history_pages_and_bulk_interval(api: httpx.Client) -> None:
    with mlflow.start_run() as run:
        for step in range(30):
            mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
    run_id = run.info.run_id
    history = mlflow.MlflowClient().get_metric_history(run_id, "loss")
    assert [m.step for m in history] == list(range(30))
    page = api.get(
        "/api/2.0/mlflow/metrics/get-history",
        params={"run_id": run_id, "metric_key": "loss", "max_results": 10},
    )
    body = page.json()
    assert len(body["metrics"]) == 10 and body["next_page_token"]
    steps = [m["step"] for m in body["metrics"]]
    token = body["next_page_token"]
    while token:
        body = api.get(
            "/api/2.0/mlflow/metrics/get-history",
            params={"run_id": run_id, "metric_key": "loss", "max_results": 10, "page_token": token},
        ).json()
        steps += [m["step"] for m in body["metrics"]]
        token = body.get("next_page_token")
    assert steps == list(range(30))
    bulk = api.get(
        "/ajax-api/2.0/mlflow/metrics/get-history-bulk-interval",
        params={"run_ids": [run_id], "metric_key": "loss", "start_step": 5, "end_step": 20, "max_results": 4},
    )
    sampled = bulk.json()["metrics"]
    assert [m["step"] for m in sampled] == [5, 10, 15, 20] and {m["run_id"] for m in sampled} == {run_id}


@SQLITE
def test_nested_runs_and_log_batch() -> None:
    with (
        mlflow.start_run(run_name="parent") as parent,
        mlflow.start_run(run_name="child", nested=True) as child,
    ):
        mlflow.MlflowClient().log_batch(
            child.info.run_id,
            metrics=[mlflow.entities.Metric("m", float(i), 0, i) for i in range(5)],
            params=[mlflow.entities.Param("p", "1")],
            tags=[mlflow.entities.RunTag("t", "x")],
        )
    kids = mlflow.search_runs(
        [parent.info.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'",
        output_format="list",
    )
    assert [k.info.run_id for k in kids] == [child.info.run_id]
    assert kids[0].data.params == {"p": "1"} and kids[0].data.tags["t"] == "x"
    assert len(mlflow.MlflowClient().get_metric_history(child.info.run_id, "m")) == 5


@SQLITE
def test_experiment_lifecycle_and_tags() -> None:
    client = mlflow.MlflowClient()
    name = unique("exp")
    experiment_id = client.create_experiment(name, tags={"team": "fraud"})
    client.set_experiment_tag(experiment_id, "stage", "dev")
    got = client.get_experiment_by_name(name)
    assert got is not None and got.experiment_id == experiment_id
    assert (
        got.tags == {"team": "fraud", "stage": "dev"}
        and got.artifact_location == f"mlflow-artifacts:/{experiment_id}"
    )
    client.rename_experiment(experiment_id, name + "-renamed")
    assert client.get_experiment(experiment_id).name == name + "-renamed"
    found = client.search_experiments(filter_string=f"name LIKE '{name}%'")
    assert [e.experiment_id for e in found] == [experiment_id]
    client.delete_experiment(experiment_id)
    assert client.get_experiment(experiment_id).lifecycle_stage == "deleted"
    assert client.search_experiments(filter_string=f"name = '{name}-renamed'") == []
    deleted = client.search_experiments(view_type=mlflow.entities.ViewType.DELETED_ONLY)
    assert experiment_id in [e.experiment_id for e in deleted]
    client.restore_experiment(experiment_id)
    assert client.get_experiment(experiment_id).lifecycle_stage == "active"


@SQLITE
def test_delete_and_restore_a_run() -> None:
    experiment_id = mlflow.create_experiment(unique("del"))
    with mlflow.start_run(experiment_id=experiment_id) as run:
        mlflow.log_metric("x", 1)
    client = mlflow.MlflowClient()
    client.delete_run(run.info.run_id)
    assert client.get_run(run.info.run_id).info.lifecycle_stage == "deleted"
    assert client.search_runs([experiment_id]) == []
    deleted = client.search_runs([experiment_id], run_view_type=mlflow.entities.ViewType.DELETED_ONLY)
    assert [r.info.run_id for r in deleted] == [run.info.run_id]
    client.restore_run(run.info.run_id)
    assert [r.info.run_id for r in client.search_runs([experiment_id])] == [run.info.run_id]


@SQLITE
def test_log_input_from_pandas() -> None:
    import pandas as pd

    frame = pd.DataFrame({"a": [1, 2, 3], "b": [0.5, 0.25, 0.125]})
    with mlflow.start_run() as run:
        mlflow.log_input(mlflow.data.from_pandas(frame, name="train"), context="training")
    inputs = mlflow.get_run(run.info.run_id).inputs.dataset_inputs
    assert [i.dataset.name for i in inputs] == ["train"]
    assert {t.key: t.value for t in inputs[0].tags}["mlflow.data.context"] == "training"
    assert inputs[0].dataset.digest and '"num_rows": 3' in inputs[0].dataset.profile


@BOTH
def test_errors_have_mlflow_shape_and_codes(server: LiveServer, api: httpx.Client) -> None:
    from mlflow.exceptions import MlflowException

    client = mlflow.MlflowClient()
    with pytest.raises(MlflowException) as missing:
        client.get_run("0" * 32)
    assert missing.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(MlflowException) as no_experiment:
        client.get_experiment("987654")
    assert no_experiment.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(MlflowException) as bad_filter:
        mlflow.search_runs(["0"], filter_string="metrics.acc >> 1")
    assert bad_filter.value.error_code == "INVALID_PARAMETER_VALUE"
    with pytest.raises(MlflowException) as bad_field:
        mlflow.search_runs(["0"], filter_string="attributes.artifact_uri = 'x'")
    assert bad_field.value.error_code == "INVALID_PARAMETER_VALUE" and "run_name" in str(bad_field.value)
    with mlflow.start_run() as run:
        mlflow.log_param("p", "1")
        with pytest.raises(MlflowException) as changed:
            mlflow.log_param("p", "2")
        assert changed.value.error_code == "INVALID_PARAMETER_VALUE"
    raw = api.get("/api/2.0/mlflow/runs/get", params={"run_id": "nope"})
    assert raw.status_code == 404
    assert raw.json() == {"error_code": "RESOURCE_DOES_NOT_EXIST", "message": raw.json()["message"]}
    anon = httpx.get(f"{server.url}/api/2.0/mlflow/runs/get", params={"run_id": run.info.run_id})
    assert anon.status_code == 401 and anon.json()["error_code"] == "UNAUTHENTICATED"
    unknown = api.get("/api/2.0/mlflow/no-such-endpoint")
    assert unknown.status_code == 404 and unknown.json()["error_code"] == "ENDPOINT_NOT_FOUND"


@SQLITE
def test_searches_are_not_audited_but_writes_are(server: LiveServer, api: httpx.Client) -> None:
    """MLflow sends its searches as POSTs; they only read, so (like GETs) they leave no audit row,
    while logging to a run does."""
    ctx = server.app.state.ctx
    ctx.audit.flush()
    before = {e.id for e in ctx.security.list_audit(limit=10_000)}
    created = api.post("/api/2.0/mlflow/runs/create", json={"experiment_id": "0"})
    run_id = created.json()["run"]["info"]["run_id"]
    logged = api.post(
        "/api/2.0/mlflow/runs/log-metric",
        json={"run_id": run_id, "key": "m", "value": 1.0, "timestamp": 1, "step": 0},
    )
    found = api.post("/api/2.0/mlflow/runs/search", json={"experiment_ids": ["0"], "max_results": 1})
    found_ajax = api.post("/ajax-api/2.0/mlflow/experiments/search", json={"max_results": 1})
    assert [r.status_code for r in (created, logged, found, found_ajax)] == [200] * 4
    ctx.audit.flush()
    new = [e.action for e in ctx.security.list_audit(limit=10_000) if e.id not in before]
    assert any("log-metric" in a for a in new) and any("runs/create" in a for a in new)
    assert not any("search" in a for a in new), new


@SQLITE
def test_log_batch_reads_every_metric_form_as_log_metric_does(api: httpx.Client) -> None:
    """log-batch reads the client's usual metric (a float or int value, int step and time) on a
    quick path and any other form through log-metric's readers: the same points, the same errors,
    and a batch with one bad metric logs none of it."""
    base = "/api/2.0/mlflow"

    def new_run() -> str:
        made = api.post(f"{base}/runs/create", json={"experiment_id": "0"})
        return str(made.json()["run"]["info"]["run_id"])

    def history(run_id: str, key: str) -> list[dict[str, object]]:
        found = api.get(f"{base}/metrics/get-history", params={"run_id": run_id, "metric_key": key})
        return list(found.json().get("metrics", []))

    items = [
        {"key": "a", "value": 1, "timestamp": 5, "step": 2},  # an int value
        {"key": "a", "value": 0.25, "timestamp": 6, "step": 3},
        {"key": "b", "value": "NaN", "timestamp": "7", "step": "3"},  # protobuf JSON strings
        {"key": "c", "value": 0.5, "timestamp": 0},  # no time: now; no step: 0
        {"key": "d", "value": -2.5, "timestamp": 9, "step": 4.0},  # a whole float step
    ]
    batched, single = new_run(), new_run()
    assert api.post(f"{base}/runs/log-batch", json={"run_id": batched, "metrics": items}).status_code == 200
    for item in items:
        assert api.post(f"{base}/runs/log-metric", json={"run_id": single, **item}).status_code == 200
    for key in "abd":
        assert history(batched, key) == history(single, key) != []
    assert history(batched, "a") == [
        {"key": "a", "value": 1.0, "timestamp": 5, "step": 2},
        {"key": "a", "value": 0.25, "timestamp": 6, "step": 3},
    ]
    assert history(batched, "b") == [{"key": "b", "value": "NaN", "timestamp": 7, "step": 3}]
    (now,) = history(batched, "c")
    assert now["step"] == 0 and isinstance(now["timestamp"], int) and now["timestamp"] > 1_700_000_000_000
    for bad in (
        {"key": "../x", "value": 1.0, "timestamp": 1, "step": 0},
        {"key": "e", "value": True, "timestamp": 1, "step": 0},
        {"key": "e", "value": 1.0, "timestamp": 1, "step": 2**63},
        {"key": "e" * 251, "value": 1.0, "timestamp": 1, "step": 0},
    ):
        batch = api.post(f"{base}/runs/log-batch", json={"run_id": batched, "metrics": [items[0], bad]})
        alone = api.post(f"{base}/runs/log-metric", json={"run_id": batched, **bad})
        assert batch.status_code == alone.status_code == 400, bad
        assert batch.json() == alone.json(), bad
    assert len(history(batched, "a")) == 2  # nothing of the refused batches was logged
