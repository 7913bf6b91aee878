"""A baseline model to explain: `shipyard run flows/train.py`.

Registers a logistic regression as MODEL_NAME (alias `candidate`) with the training data's drift
reference and its permutation importance (what the dashboard's importance chart shows; for any
version: `shipyard monitor explain models:/NAME/VERSION data.parquet --label target`).
"""

from __future__ import annotations

from typing import Any

from config import DATA_PATH, MODEL_NAME
from data import LABEL, labelled_table

import shipyard
from shipyard import flow, step


def train_and_register(path: str, seed: int) -> dict[str, Any]:
    """Fit, register as MODEL_NAME@candidate, store the drift reference and the importance (in the
    active run: the flow's task, or `with shipyard.start_run():`)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from shipyard.monitoring.explain import permutation_importance
    from shipyard.monitoring.store import MonitoringStore
    from shipyard.registry.api import get_registry
    from shipyard.tracking.fluent import get_stores

    table = labelled_table(path)
    x, y = table.drop(columns=[LABEL]), table[LABEL]
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.3, random_state=seed, stratify=y)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(x_train, y_train)
    f1 = float(f1_score(y_test, model.predict(x_test)))
    shipyard.log_metric("f1", f1)
    shipyard.log_model(model, "model", input_example=x_train.head(5))
    version = shipyard.register_model("model", MODEL_NAME, description=f"baseline (f1 {f1:.3f})")
    get_registry().set_alias(MODEL_NAME, "candidate", version.version)
    shipyard.log_reference(x_train, outputs=model.predict(x_train))
    importance = permutation_importance(model, x_test, y_test.tolist(), repeats=3)
    MonitoringStore(get_stores()).set_importance(MODEL_NAME, version.version, importance)
    return {"model": version.uri, "f1": f1}


@step
def fit(path: str, seed: int) -> dict[str, Any]:
    # a step is tracked (shipyard.log_* write to its run) when its own code names shipyard
    shipyard.set_tag("template", "explainability")
    return train_and_register(path, seed)


@flow
def baseline(seed: int = 0, data: str = DATA_PATH):
    return fit(data, seed)
