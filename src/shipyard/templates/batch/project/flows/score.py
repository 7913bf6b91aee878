"""Batch scoring, every night at 02:00 UTC: new rows -> predictions of the registered model -> a new
version of a dataset.

    shipyard run flows/score.py                  # once, now (make run)
    shipyard schedule list flows/                # its next fire times
    shipyard schedule run flows/score.py         # the local scheduler (or shipyard agent -e ENV)

Each run snapshots its input and its output as dataset versions (`shipyard data versions
OUTPUT_DATASET`), with lineage from the run that wrote them and the model version that scored.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from config import DATA_PATH, MODEL_NAME, OUTPUT_DATASET

import shipyard
from shipyard import flow, step


def read_rows(path: str, limit: int | None = None) -> pd.DataFrame:
    """The rows to score: a CSV/Parquet file, else scikit-learn's diabetes features (no labels)."""
    if path:
        file = Path(path)
        frame = pd.read_parquet(file) if file.suffix in (".parquet", ".pq") else pd.read_csv(file)
    else:
        from sklearn.datasets import load_diabetes

        frame = load_diabetes(as_frame=True).data
    frame = frame.drop(columns=["target"], errors="ignore")
    return frame.head(limit) if limit else frame


def score_frame(model: Any, rows: pd.DataFrame, model_uri: str, version: int | None) -> pd.DataFrame:
    """`rows` with the model's `prediction` and where it came from (`model_uri`, `model_version`)."""
    out = rows.copy()
    out["prediction"] = model.predict(rows)
    out["model_uri"] = model_uri
    out["model_version"] = version if version is not None else -1
    return out


@step
def load_input(path: str, limit: int) -> pd.DataFrame:
    rows = read_rows(path, limit or None)
    shipyard.log_dataset(f"{OUTPUT_DATASET}_input", rows, description="rows scored by flows/score.py")
    return rows


@step(retries=2)
def score(rows: pd.DataFrame, model: str) -> pd.DataFrame:
    loaded = shipyard.load_model(model)
    return score_frame(loaded, rows, model, getattr(loaded, "version", None))


@step
def publish(scored: pd.DataFrame, output: str) -> dict[str, Any]:
    version = shipyard.log_dataset(output, scored, description="predictions of flows/score.py")
    summary = scored["prediction"].describe()
    shipyard.card.markdown(f"## Scored {len(scored)} rows into `{version.uri}`")
    shipyard.card.chart("histogram", scored, x="prediction", title="predictions")
    print(f"wrote {version.uri}: {len(scored)} rows, mean prediction {summary['mean']:.2f}")
    return {"dataset": version.uri, "rows": len(scored), "mean_prediction": float(summary["mean"])}


@flow(schedule="0 2 * * *")
def scoring(
    model: str = f"models:/{MODEL_NAME}@candidate",
    source: str = DATA_PATH,
    output: str = OUTPUT_DATASET,
    limit: int = 0,
):
    return publish(score(load_input(source, limit), model), output)
