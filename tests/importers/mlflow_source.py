"""A small MLflow tracking store written with the real mlflow client, and what it should import as.

Two experiments, three runs (params, tags, metric histories with repeated steps, NaN and +-inf,
nested artifacts with binary bytes), one registered scikit-learn model with two versions and two
aliases. Used against a file store, a SQLite database and a live ``mlflow server``.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

MODEL = "mlflow-clf"


def write_source(uri: str, scratch: Path) -> dict[str, Any]:
    """Fill the store at ``uri``; returns what was written (run ids, the model's training data)."""
    import logging

    import mlflow
    import numpy as np
    import pandas as pd
    from mlflow.tracking import MlflowClient
    from sklearn.linear_model import LogisticRegression

    logging.getLogger("mlflow").setLevel(logging.ERROR)
    os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    try:
        X = pd.DataFrame({"a": np.linspace(0, 1, 40), "b": np.arange(40, dtype=float) % 5})
        y = (X.a > 0.5).astype(int)
        # a database store's default artifact root is ./mlruns of the working directory (the
        # repository, under pytest): keep the artifacts in the scratch folder (a server has its own)
        local = not uri.startswith(("http://", "https://"))

        def where(name: str) -> str | None:
            return (scratch / "mlflow-artifacts" / name).as_uri() if local else None

        exp1 = client.create_experiment("team/fraud", artifact_location=where("fraud"))
        exp2 = client.create_experiment("churn", artifact_location=where("churn"))
        runs = []
        for i, exp in enumerate((exp1, exp1, exp2)):
            run = client.create_run(exp, run_name=f"run-{i}", tags={"team": "risk", "i": str(i)})
            rid = run.info.run_id
            client.log_param(rid, "lr", str(0.1 * (i + 1)))
            client.log_param(rid, "layers", "[64, 32]")
            for step in range(25):
                client.log_metric(
                    rid, "loss", 1.0 / (step + 1) + i, step=step, timestamp=1_700_000_000_000 + step
                )
            client.log_metric(rid, "loss", 0.125, step=3, timestamp=1_700_000_000_999)  # a repeated step
            client.log_metric(rid, "odd", float("nan"), step=0, timestamp=1_700_000_000_000)
            client.log_metric(rid, "odd", float("inf"), step=1, timestamp=1_700_000_000_001)
            client.log_metric(rid, "odd", -2.5e-300, step=2, timestamp=1_700_000_000_002)
            notes = scratch / f"notes-{i}"
            (notes / "deep").mkdir(parents=True)
            (notes / "readme.txt").write_text(f"run {i}\n")
            (notes / "deep" / "blob.bin").write_bytes(bytes(range(256)) * (i + 1))
            client.log_artifacts(rid, str(notes), "notes")
            runs.append(rid)
        client.set_terminated(runs[0], "FINISHED", end_time=1_700_000_100_000)
        client.set_terminated(runs[1], "FAILED", end_time=1_700_000_200_000)
        client.set_terminated(runs[2], "KILLED", end_time=1_700_000_300_000)
        versions = []
        for c, rid in ((0.5, runs[0]), (2.0, runs[1])):
            with mlflow.start_run(run_id=rid), warnings.catch_warnings():
                warnings.simplefilter("ignore")  # MLflow's own example handling warns under pandas 3
                info = mlflow.sklearn.log_model(
                    LogisticRegression(C=c).fit(X, y),
                    name="model",
                    input_example=X.head(3),
                    pip_requirements=["scikit-learn"],
                )
            client.set_terminated(rid, "FINISHED" if rid == runs[0] else "FAILED")
            versions.append(mlflow.register_model(info.model_uri, MODEL))
        client.set_registered_model_alias(MODEL, "champion", versions[1].version)
        client.set_registered_model_alias(MODEL, "challenger", versions[0].version)
        client.update_registered_model(MODEL, description="fraud classifier")
        client.set_registered_model_tag(MODEL, "owner", "risk")
        client.set_model_version_tag(MODEL, versions[0].version, "validated", "yes")
    finally:
        mlflow.set_tracking_uri(previous)
    return {"runs": runs, "X": X, "y": y}
