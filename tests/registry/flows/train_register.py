"""A flow whose last step logs and registers a model (lineage: load_data -> scale -> train)."""

from typing import Any

import shipyard
from shipyard import flow, step


@step
def load_data(n: int) -> Any:
    from sklearn.datasets import load_breast_cancer

    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    frame = X.iloc[:n, :4].copy()
    frame["target"] = y.iloc[:n]
    return frame


@step
def scale(frame: Any) -> Any:
    features = frame.drop(columns="target")
    out = (features - features.mean()) / features.std()
    out["target"] = frame["target"]
    return out


@step
def train(frame: Any) -> int:
    from sklearn.linear_model import LogisticRegression

    X, y = frame.drop(columns="target"), frame["target"]
    model = LogisticRegression(max_iter=200).fit(X, y)
    shipyard.log_metric("train_acc", float(model.score(X, y)))
    info = shipyard.log_model(model, "bc", input_example=X.head(3), register=True, description="from a flow")
    assert info.version is not None
    return info.version.version


@flow
def train_register(n: int = 300):
    return train(scale(load_data(n)))
