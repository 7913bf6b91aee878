"""Train scikit-learn models on the breast-cancer data set, fanning out over hyper-parameters.

    shipyard run examples/train_flow.py -p "cs=[0.01,0.1,1,10]" -p trees=25,100
    shipyard runs show RUN_ID --graph

Each ``train`` task logs its metrics to the run with ``shipyard.log_metric`` and its model as a
package with ``shipyard.log_model``; ``pick_best`` keeps the best configuration by ``metric`` and
registers its model as the next version of ``breast_cancer`` (``shipyard models show
breast_cancer`` shows it, with lineage back to ``load_data``), with a reference profile of its
training data for drift monitoring (``shipyard monitor drift``). The data set ships with
scikit-learn: no download.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import shipyard
from shipyard import flow, step


@step(cache=True)
def load_data() -> np.ndarray:
    """Features and label (last column) in one array: stored as .npy, no pickle."""
    features, labels = load_breast_cancer(return_X_y=True)
    print(f"loaded {features.shape[0]} rows, {features.shape[1]} features")
    return np.column_stack([features, labels])


def split(table: np.ndarray, test_size: float, seed: int) -> list[np.ndarray]:
    features, labels = table[:, :-1], table[:, -1].astype(int)
    parts: list[np.ndarray] = train_test_split(
        features, labels, test_size=test_size, random_state=seed, stratify=labels
    )
    return parts


@step
def grid(cs: list[float], trees: list[int]) -> list[dict[str, Any]]:
    return [{"model": "logreg", "C": c} for c in cs] + [{"model": "forest", "n_estimators": n} for n in trees]


@step(retries=1, resources={"cpu": 1})
def train(config: dict[str, Any], data: np.ndarray, test_size: float, seed: int) -> dict[str, Any]:
    x_train, x_test, y_train, y_test = split(data, test_size, seed)
    if config["model"] == "logreg":
        model = make_pipeline(StandardScaler(), LogisticRegression(C=config["C"], max_iter=500))
        name = f"logreg_C{config['C']:g}"
    else:
        model = RandomForestClassifier(n_estimators=config["n_estimators"], random_state=seed, n_jobs=1)
        name = f"forest_{config['n_estimators']}"
    model.fit(x_train, y_train)
    predicted = model.predict(x_test)
    scores = {
        "accuracy": float(accuracy_score(y_test, predicted)),
        "f1": float(f1_score(y_test, predicted)),
        "auc": float(roc_auc_score(y_test, model.predict_proba(x_test)[:, 1])),
    }
    for key, value in scores.items():
        shipyard.log_metric(f"{name}/{key}", value)
    shipyard.log_model(model, name, input_example=x_train[:5])  # a package: skops, signature, hashes
    print(f"{name}: {scores}")
    return {"name": name, "config": config, **scores}


@step
def pick_best(
    results: list[dict[str, Any]], metric: str, data: np.ndarray, test_size: float, seed: int
) -> dict[str, Any]:
    best = max(results, key=lambda r: r[metric])
    shipyard.log_metric(f"best/{metric}", best[metric])
    ranking = [r["name"] for r in sorted(results, key=lambda r: -r[metric])]
    version = shipyard.register_model(best["name"], "breast_cancer", description=f"best by {metric}")
    # the monitoring reference: training features and this model's predictions on them
    x_train = split(data, test_size, seed)[0]
    predictions = shipyard.load_model(version.uri).predict(x_train)
    shipyard.log_reference(x_train, outputs=predictions)
    return {
        "best": best["name"],
        "config": best["config"],
        metric: best[metric],
        "ranking": ranking,
        "model": version.uri,
    }


@flow
def train_models(
    cs: list[float] = [0.01, 0.1, 1.0, 10.0],  # noqa: B006
    trees: list[int] = [50],  # noqa: B006
    metric: Literal["accuracy", "f1", "auc"] = "f1",
    test_size: float = 0.25,
    seed: int = 0,
):
    data = load_data()
    results = train.map(grid(cs, trees), data=data, test_size=test_size, seed=seed)
    return pick_best(results, metric, data=data, test_size=test_size, seed=seed)


if __name__ == "__main__":
    run = train_models.run()
    print(run.id, run.status.value, run.output)
