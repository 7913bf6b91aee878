"""Training: data -> features -> a fan-out hyper-parameter search -> evaluation -> a registered model.

    shipyard run flows/train.py                       # or: make run
    shipyard run flows/train.py -p "cs=[0.1,1,10]" -p "trees=[50,200]"

Every step's output is versioned; each `train` task logs its metrics and its model; `evaluate`
keeps the best by `metric` and draws a card (the UI's task page, `shipyard card get RUN evaluate`);
`register` registers the best model as the next version of MODEL_NAME with a model card
(`shipyard models show MODEL_NAME`), points the `candidate` alias at it (what shipyard.yaml deploys)
and stores the training data's reference profile for drift monitoring.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from config import DATA_PATH, MODEL_NAME

import shipyard
from shipyard import flow, step

LABEL = "target"


def read_table(path: str) -> pd.DataFrame:
    """The raw data: a CSV or Parquet file with a `target` column, else scikit-learn's breast-cancer set."""
    if not path:
        from sklearn.datasets import load_breast_cancer

        frame: pd.DataFrame = load_breast_cancer(as_frame=True).frame
        return frame
    file = Path(path)
    table = pd.read_parquet(file) if file.suffix in (".parquet", ".pq") else pd.read_csv(file)
    if LABEL not in table.columns:
        raise ValueError(f"{path} has no {LABEL!r} column (the label); columns: {list(table.columns)[:10]}")
    return table


def split(table: pd.DataFrame, test_size: float, seed: int) -> tuple[Any, Any, Any, Any]:
    from sklearn.model_selection import train_test_split

    x, y = table.drop(columns=[LABEL]), table[LABEL]
    parts = train_test_split(x, y, test_size=test_size, random_state=seed, stratify=y)
    return parts[0], parts[1], parts[2], parts[3]


@step(cache=True)
def load_data(path: str) -> pd.DataFrame:
    raw = read_table(path)
    print(f"loaded {len(raw)} rows, {raw.shape[1] - 1} columns")
    return raw


@step
def build_features(raw: pd.DataFrame) -> pd.DataFrame:
    """Snake-case column names, numeric columns only, missing values filled with the median."""
    table = raw.rename(columns=lambda c: re.sub(r"[^0-9a-z]+", "_", str(c).lower()).strip("_"))
    label = table.pop(LABEL)
    table = table.select_dtypes("number")
    table = table.fillna(table.median())
    table[LABEL] = label.astype(int)
    return table


@step
def grid(cs: list[float], trees: list[int]) -> list[dict[str, Any]]:
    return [{"model": "logreg", "C": c} for c in cs] + [{"model": "forest", "n_estimators": n} for n in trees]


def make_model(config: dict[str, Any], seed: int) -> Any:
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if config["model"] == "logreg":
        return make_pipeline(StandardScaler(), LogisticRegression(C=config["C"], max_iter=1000))
    return RandomForestClassifier(n_estimators=config["n_estimators"], random_state=seed, n_jobs=1)


def model_label(config: dict[str, Any]) -> str:
    return f"logreg_C{config['C']:g}" if config["model"] == "logreg" else f"forest_{config['n_estimators']}"


def scores(y_true: Any, y_pred: Any, proba: Any) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "f1": float(f1_score(y_true, y_pred)),
        "auc": float(roc_auc_score(y_true, proba)),
    }


@step(retries=1, resources={"cpu": 1})
def train(config: dict[str, Any], table: pd.DataFrame, test_size: float, seed: int) -> dict[str, Any]:
    x_train, x_test, y_train, y_test = split(table, test_size, seed)
    model = make_model(config, seed).fit(x_train, y_train)
    name = model_label(config)
    result = scores(y_test, model.predict(x_test), model.predict_proba(x_test)[:, 1])
    shipyard.log_metrics({f"{name}/{key}": value for key, value in result.items()})
    shipyard.log_model(model, name, input_example=x_train.head(5))
    print(f"{name}: {result}")
    return {"name": name, "config": config, **result}


def rank(results: list[dict[str, Any]], metric: str) -> list[dict[str, Any]]:
    """The candidates, best first by `metric` (ties: by name, so reruns agree)."""
    return sorted(results, key=lambda r: (-r[metric], r["name"]))


@step
def evaluate(results: list[dict[str, Any]], metric: str) -> dict[str, Any]:
    """Rank the candidates by `metric`; the card shows the ranking and a bar chart."""
    ranked = rank(results, metric)
    best = ranked[0]
    # the run's own accuracy/f1/auc: what shipyard.yaml's min_quality reads from the model's run
    shipyard.log_metrics({key: best[key] for key in ("accuracy", "f1", "auc")})
    table = pd.DataFrame([{k: r[k] for k in ("name", "accuracy", "f1", "auc")} for r in ranked])
    shipyard.card.markdown(f"## Hyper-parameter search\n\nBest by **{metric}**: `{best['name']}`")
    shipyard.card.table(table, title="candidates")
    shipyard.card.chart("bar", table, x="name", y=metric, title=metric)
    return {"best": best, "ranking": [r["name"] for r in ranked], "metric": metric}


@step
def register(evaluation: dict[str, Any], table: pd.DataFrame, test_size: float, seed: int) -> dict[str, Any]:
    """Register the best model (with its card), alias it `candidate`, store the drift reference."""
    best = evaluation["best"]
    metric = evaluation["metric"]
    version = shipyard.register_model(
        best["name"],
        MODEL_NAME,
        description=f"{best['name']}: best of {len(evaluation['ranking'])} by {metric} ({best[metric]:.3f})",
        tags={"intended_use": "a template example: replace with your model's intended use"},
    )
    from shipyard.registry.api import get_registry

    get_registry().set_alias(MODEL_NAME, "candidate", version.version)
    x_train = split(table, test_size, seed)[0]
    predictions = shipyard.load_model(version.uri).predict(x_train)
    shipyard.log_reference(x_train, outputs=predictions)
    print(f"registered {version.uri} (alias candidate)")
    return {"model": version.uri, "version": version.version, metric: best[metric]}


@flow
def training(
    cs: list[float] = [0.1, 1.0],  # noqa: B006
    trees: list[int] = [25],  # noqa: B006
    metric: Literal["accuracy", "f1", "auc"] = "f1",
    test_size: float = 0.25,
    seed: int = 0,
    data: str = DATA_PATH,
):
    table = build_features(load_data(data))
    results = train.map(grid(cs, trees), table=table, test_size=test_size, seed=seed)
    return register(evaluate(results, metric), table, test_size=test_size, seed=seed)


if __name__ == "__main__":
    run = training.run()
    print(run.id, run.status.value, run.output)
