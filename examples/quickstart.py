"""shipyard quickstart: track a training run, run a training flow, serve the registered model
(predictions over HTTP), send it shifted traffic and late labels and show the drift and quality
report, score a file with batch inference, build a training set from a feature view and predict
by entity key from the online store, list runs, and deliver the model through a two-environment
``shipyard.yaml``: staging takes it, production's policy refuses it until it is approved.

Run it with ``.venv/bin/python examples/quickstart.py``. With nothing configured, runs go to a
SQLite file and artifacts to a folder under ``.shipyard/`` in this repository (``SHIPYARD_HOME``).
Afterwards try ``.venv/bin/shipyard runs list`` and ``.venv/bin/shipyard runs show <id>``.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

import shipyard


def track_training_run() -> str:
    """A fake training loop: params, a 100-step metric series, an array and a text file."""
    params = {"lr": 0.05, "epochs": 100, "model": "linear"}
    with shipyard.start_run(name="quickstart", params=params, tags={"example": "quickstart"}) as run:
        rng = np.random.default_rng(0)
        weights = rng.normal(size=(4, 3))
        for step in range(params["epochs"]):
            loss = 2.0 * math.exp(-params["lr"] * step) + 0.01 * rng.random()
            shipyard.log_metric("train/loss", loss, step=step)
            shipyard.log_metric("train/acc", 1.0 - loss / 2.5, step=step)
        shipyard.log_metrics({"val/loss": loss * 1.1, "val/acc": 1.0 - loss / 2.2}, step=step)

        shipyard.log_artifact(weights, name="weights")  # stored as .npy, loads back as an array
        with tempfile.TemporaryDirectory() as tmp:
            report = Path(tmp) / "report.txt"
            report.write_text(f"final loss {loss:.4f}\n")
            shipyard.log_artifact(report)  # a file keeps its name: "report.txt"
    print(f"logged run {run.id} ({run.name})")
    return run.id


def show_run(run_id: str) -> None:
    run = shipyard.get_run(run_id)
    history = shipyard.get_metric_history(run_id, "train/loss")
    weights = shipyard.load_artifact(run_id, "weights")
    print(f"status={run.status.value} loss: {history[0].value:.3f} -> {history[-1].value:.3f}")
    print(f"weights {weights.shape}, params {run.params}")


def list_runs() -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"runs in {shipyard.get_namespace()}")
    for column in ("id", "name", "status", "train/loss", "started (UTC)"):
        table.add_column(column)
    for run in shipyard.search_runs(order_by="start_time DESC", max_results=10):
        loss = run.metrics.get("train/loss")
        table.add_row(
            run.id[:12],
            run.name,
            run.status.value,
            "-" if loss is None else f"{loss:.4f}",
            run.start_time.strftime("%Y-%m-%d %H:%M:%S"),
        )
    Console().print(table)


def run_train_flow() -> None:
    """The same from a flow: fan out over hyper-parameters (see examples/train_flow.py)."""
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from train_flow import train_models

    run = train_models.run(cs=[0.1, 1.0])
    print(f"flow run {run.id}: {run.status.value}, best {run.output['best']}")


@contextmanager
def _serving(app: object) -> Iterator[str]:
    """Run ``app`` on a free loopback port in a thread (as ``shipyard serve`` does); yield its URL
    once /ready says the model is loaded and warmed up."""
    import socket
    import threading
    import time

    import httpx
    import uvicorn

    with socket.socket() as sock:  # a free loopback port
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))  # type: ignore[arg-type]
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/ready").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the model server did not become ready")
            time.sleep(0.05)
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def serve_and_score() -> None:
    """Serve the model the flow registered (like ``shipyard serve models:/breast_cancer/latest``),
    send it predictions, then score a Parquet file with batch inference (``shipyard batch``)."""
    import httpx
    import pandas as pd

    from shipyard.serving import ServingConfig, batch_predict, create_serving_app, read_prediction_log
    from shipyard.tracking.fluent import get_stores

    stores = get_stores()
    log_dir = str(stores.settings.home / "predictions")
    config = ServingConfig("models:/breast_cancer/latest", auth=False, log_dir=log_dir, log_flush_s=0.2)
    with _serving(create_serving_app(config, stores=stores)) as url:
        doc = httpx.get(f"{url}/openapi.json").json()  # the body schema comes from the signature
        schema = doc["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]["schema"]
        frame, _ = _breast_cancer(list(schema["example"][0]))  # the example holds placeholders only
        example = frame.head(5).to_dict("records")  # type: ignore[attr-defined]
        answer = httpx.post(f"{url}/predict", json=example).json()
        print(f"served version {answer['version']}: predictions {answer['predictions']}")
        bad = httpx.post(f"{url}/predict", json=[{"not a feature": 1}])
        print(f"a wrong body gets {bad.status_code}: {bad.json()['error']['message'][:80]}...")
        send_shifted_traffic_and_labels(url, list(example[0]))
    # leaving the block stops the app: the prediction log is flushed
    logged = read_prediction_log(log_dir, config.deployment_name)
    print(f"prediction log: {len(logged)} rows, columns {list(logged.columns)[:8]}...")
    show_monitoring(log_dir, config.deployment_name)
    with tempfile.TemporaryDirectory() as tmp:
        rows = pd.DataFrame(example * 2000)
        rows.to_parquet(Path(tmp) / "in.parquet", index=False)
        result = batch_predict(
            config.model_uri,
            str(Path(tmp) / "in.parquet"),
            str(Path(tmp) / "scored.parquet"),
            chunk_rows=2500,
            workers=2,
            stores=stores,
        )
        print(f"batch: scored {result.rows} rows in {result.chunks} chunks ({result.rows_per_s:,.0f} rows/s)")


def features_to_prediction() -> None:
    """A feature view over a dataset of generated transactions, a point-in-time training set logged
    as a dataset version, a model trained on it, and a prediction by customer id through the served
    app (like ``shipyard serve models:/churn/latest --features customer_spend``)."""
    import httpx
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    from shipyard.features import DatasetSource, Entity, FeatureStore, FeatureView
    from shipyard.serving import ServingConfig, create_serving_app
    from shipyard.tracking.fluent import get_stores

    stores = get_stores()
    rng = np.random.default_rng(7)
    days = pd.date_range("2024-01-01", periods=30, freq="D", tz="UTC")
    tx = pd.DataFrame(
        {
            "customer_id": np.repeat(np.arange(50), len(days)),
            "ts": np.tile(days, 50),
            "spend_7d": rng.gamma(2.0, 50.0, size=50 * len(days)),
            "visits_7d": rng.poisson(3, size=50 * len(days)).astype("int64"),
        }
    )
    source = shipyard.log_dataset("customer_activity", tx)
    view = FeatureView(
        name="customer_spend",
        entity=Entity("customer", "customer_id"),
        source=DatasetSource(source.uri),
        timestamp="ts",
        features={"spend_7d": "float64", "visits_7d": "int64"},
        ttl="7d",
    )
    online = f"sqlite:///{stores.settings.home / 'quickstart-online.db'}"
    with FeatureStore([view], stores=stores, online=online) as store:
        versions = store.apply()  # as `shipyard features apply`
        entities = pd.DataFrame(
            {"customer_id": rng.integers(0, 50, 400), "event_timestamp": rng.choice(days[7:], 400)}
        )
        with shipyard.start_run(name="churn"):
            training = store.log_training_set(
                "churn_training", entities, ["customer_spend:spend_7d", "customer_spend:visits_7d"]
            )
            frame = shipyard.load_dataset(training.uri)
            x = frame[["spend_7d", "visits_7d"]]
            y = (x["spend_7d"] < 80).astype("int64")  # a made-up label: low spenders churn
            shipyard.log_model(
                LogisticRegression().fit(x, y), "churn", input_example=x.head(5), register=True
            )
        version = versions["customer_spend"]
        print(f"training set {training.uri}: {training.num_rows} rows from customer_spend v{version}")
        store.materialize()
        config = ServingConfig(
            "models:/churn/latest",
            auth=False,
            log_dir=None,
            features=("customer_spend",),
            online_store=online,
        )
        with _serving(create_serving_app(config, stores=stores)) as url:
            answer = httpx.post(f"{url}/predict", json={"entities": [{"customer_id": 7}, {"customer_id": 8}]})
        print(f"by entity key: customers 7 and 8 -> {answer.json()['predictions']}")


def _breast_cancer(columns: list[str]) -> tuple[object, object]:
    import pandas as pd
    from sklearn.datasets import load_breast_cancer

    features, labels = load_breast_cancer(return_X_y=True)
    return pd.DataFrame(features, columns=columns), labels


def send_shifted_traffic_and_labels(url: str, columns: list[str]) -> None:
    """Store the training data's reference profile with the served version, send 300 requests whose
    first five features are scaled up by 30 % (drift), then their true labels to POST /feedback."""
    import time
    import uuid

    import httpx

    from shipyard.monitoring import save_reference
    from shipyard.tracking.fluent import get_stores

    frame, labels = _breast_cancer(columns)
    model = shipyard.load_model("models:/breast_cancer/latest")
    save_reference(get_stores(), "models:/breast_cancer/latest", frame, outputs=model.predict(frame))
    current = frame.sample(300, random_state=1).copy()
    current[columns[:5]] *= 1.3
    feedback = []
    run_tag = uuid.uuid4().hex[:8]  # request ids are unique across quickstart runs
    with httpx.Client(base_url=url) as client:
        for i, (index, row) in enumerate(current.iterrows()):
            rid = f"qs-{run_tag}-{i}"
            client.post("/predict", json=[row.to_dict()], headers={"X-Request-ID": rid})
            feedback.append({"request_id": rid, "label": int(labels[index])})
        feedback.append({"request_id": "never-sent", "label": 1})
        time.sleep(0.5)  # labels join logged predictions: let the log's 0.2 s flush write the last ones
        answer = client.post("/feedback", json={"labels": feedback}).json()
    print(f"feedback: {answer['matched']} labels joined, {answer['unknown']} unknown request id")


def show_monitoring(log_dir: str, deployment: str) -> None:
    """Drift of the last hour against the training reference, and quality from the labels
    (the same as ``shipyard monitor drift breast_cancer --window 1h`` and ``monitor quality``)."""
    from datetime import timedelta

    from shipyard.core.clock import utcnow
    from shipyard.monitoring import deployment_drift
    from shipyard.monitoring.quality import quality_over_time
    from shipyard.monitoring.windows import Window
    from shipyard.tracking.fluent import get_stores

    now = utcnow()
    outcome = deployment_drift(get_stores(), deployment, Window.parse("1h", now), log_dir=log_dir)
    report = outcome.report
    assert report is not None, outcome.note
    print(
        f"drift: {len(report.drifted)} of {len(report.features)} features drifted, e.g. {report.drifted[:3]}"
    )
    window = quality_over_time(
        log_dir,
        deployment,
        now - timedelta(hours=1),
        now + timedelta(minutes=1),
        None,  # one window
    )[0]
    metrics = ", ".join(f"{k}={v:.3f}" for k, v in window.metrics.items())
    print(f"quality of the last hour ({window.labelled} labelled of {window.predictions}): {metrics}")


SHIPYARD_YAML = """\
project: {name: quickstart, owners: [you]}
environments:
  staging: {}
  production:
    policies:
      models: {require: {approved: true}}
deployments:
  classifier:
    model: models:/breast_cancer@candidate
    replicas: 1
overrides:
  production:
    deployments:
      classifier: {replicas: 2}
"""


def deliver() -> None:
    """Point @candidate at the flow's newest model, write a two-environment shipyard.yaml and run
    ``shipyard apply -e staging`` (a release) and ``shipyard plan -e production`` (refused: the
    version is not approved) in a temporary project folder."""
    import os

    from shipyard.cli.main import main as shipyard
    from shipyard.registry.api import get_registry
    from shipyard.tracking.fluent import get_stores

    registry = get_registry()
    version = registry.get_model("breast_cancer").latest_version
    assert version is not None
    registry.set_alias("breast_cancer", "candidate", version)
    here = Path.cwd()
    # the new project folder would get a store of its own (<project>/.shipyard): keep this one's
    home = os.environ.get("SHIPYARD_HOME")
    os.environ["SHIPYARD_HOME"] = str(get_stores().settings.home)
    with tempfile.TemporaryDirectory() as project:
        (Path(project) / "shipyard.yaml").write_text(SHIPYARD_YAML)
        os.chdir(project)
        try:
            print("$ shipyard apply -e staging")
            assert shipyard(["apply", "-e", "staging"]) == 0
            print("$ shipyard plan -e production")
            refused = shipyard(["plan", "-e", "production"])
        finally:
            os.chdir(here)
            if home is None:
                del os.environ["SHIPYARD_HOME"]
            else:
                os.environ["SHIPYARD_HOME"] = home
    print(
        f"production plan exit code {refused}: refused until "
        f"`shipyard models approve breast_cancer {version}`"
    )


def main() -> None:
    run_id = track_training_run()
    show_run(run_id)
    run_train_flow()
    serve_and_score()
    features_to_prediction()
    list_runs()
    deliver()


if __name__ == "__main__":
    main()
