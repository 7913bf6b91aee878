"""Training for the online deployment: snapshot the source -> point-in-time training set from the
feature view -> model -> registered `candidate` -> features materialized into the online store.

    shipyard run flows/train.py          # (make run runs it, then the serving demo and the monitor)
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pandas as pd
from config import DATA_PATH, MODEL_NAME, SOURCE_DATASET
from features import FEATURES, patients

import shipyard
from shipyard import flow, step

LABEL = "target"


def patient_table(path: str, now: pd.Timestamp) -> pd.DataFrame:
    """One row per patient: `patient_id`, `ts` (when the features were known), features, `target`."""
    if path:
        file = Path(path)
        frame = pd.read_parquet(file) if file.suffix in (".parquet", ".pq") else pd.read_csv(file)
    else:
        from sklearn.datasets import load_breast_cancer

        frame = load_breast_cancer(as_frame=True).frame
        frame.insert(0, "patient_id", range(len(frame)))
    frame = frame.rename(columns=lambda c: re.sub(r"[^0-9a-z]+", "_", str(c).lower()).strip("_"))
    frame["ts"] = now
    return frame[["patient_id", "ts", *FEATURES, LABEL]]


def feature_store() -> Any:
    from shipyard.tracking.fluent import get_stores

    stores = get_stores()
    return shipyard.FeatureStore([patients], stores=stores, online=stores.settings.online_store_uri)


@step
def snapshot_source(path: str) -> pd.DataFrame:
    table = patient_table(path, pd.Timestamp.now(tz="UTC").floor("s"))
    version = shipyard.log_dataset(SOURCE_DATASET, table.drop(columns=[LABEL]))
    print(f"source {version.uri}: {len(table)} patients")
    return table[["patient_id", LABEL]]


@step
def train(labels: pd.DataFrame, seed: int) -> dict[str, Any]:
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    with feature_store() as store:
        store.apply()
        entities = labels[["patient_id"]].assign(event_timestamp=pd.Timestamp.now(tz="UTC"))
        names = [f"{patients.name}:{f}" for f in FEATURES]
        training = store.log_training_set(f"{MODEL_NAME}_training", entities, names)
    frame = shipyard.load_dataset(training.uri).merge(labels, on="patient_id")
    x, y = frame[list(FEATURES)], frame[LABEL]
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, random_state=seed, stratify=y)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(x_train, y_train)
    f1 = float(f1_score(y_test, model.predict(x_test)))
    shipyard.log_metric("f1", f1)
    shipyard.log_model(model, "model", input_example=x_train.head(5))
    version = shipyard.register_model("model", MODEL_NAME, description=f"served by entity key (f1 {f1:.3f})")
    from shipyard.registry.api import get_registry

    get_registry().set_alias(MODEL_NAME, "candidate", version.version)
    shipyard.log_reference(x_train, outputs=model.predict(x_train))
    return {"model": version.uri, "f1": f1, "training_set": training.uri}


@step
def materialize(trained: dict[str, Any]) -> dict[str, Any]:
    with feature_store() as store:
        store.materialize()
    return trained


@flow
def training(seed: int = 0, data: str = DATA_PATH):
    return materialize(train(snapshot_source(data), seed))
