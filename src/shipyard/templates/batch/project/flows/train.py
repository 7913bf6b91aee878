"""A baseline model, so this project runs on its own: `shipyard run flows/train.py`.

It registers a ridge regression on scikit-learn's diabetes data as MODEL_NAME (alias `candidate`).
In a real project the model comes from your training project (`shipyard init --template training`):
set MODEL_NAME in flows/config.py to its name and delete this file.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from config import MODEL_NAME

import shipyard
from shipyard import flow, step


def diabetes() -> pd.DataFrame:
    from sklearn.datasets import load_diabetes

    frame: pd.DataFrame = load_diabetes(as_frame=True).frame
    return frame


@step
def fit(alpha: float) -> dict[str, Any]:
    from sklearn.linear_model import Ridge

    table = diabetes()
    x, y = table.drop(columns=["target"]), table["target"]
    model = Ridge(alpha=alpha).fit(x, y)
    shipyard.log_metric("train/r2", float(model.score(x, y)))
    shipyard.log_model(model, "model", input_example=x.head(5))
    version = shipyard.register_model("model", MODEL_NAME, description=f"baseline ridge (alpha={alpha})")
    from shipyard.registry.api import get_registry

    get_registry().set_alias(MODEL_NAME, "candidate", version.version)
    return {"model": version.uri}


@flow
def baseline(alpha: float = 1.0):
    return fit(alpha)
