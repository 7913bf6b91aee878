"""Model quality per time window, once labels arrived (see :func:`shipyard.monitoring.logs.log_labels`).

Classification: accuracy, precision, recall, F1 (binary: of the positive class — ``1``/``True`` or
the larger label; more classes: macro averages) and ROC AUC (binary, when probabilities were
logged). Regression: MAE and RMSE. Each window also has its prediction count and labelled count;
a window without labelled rows says so (``metrics`` empty, ``note="no data"``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from shipyard.monitoring.logs import join_labels, read_labels, read_log
from shipyard.monitoring.windows import Window, buckets

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    import pandas as pd


@dataclass
class WindowQuality:
    start: datetime | None
    end: datetime | None
    predictions: int
    labelled: int
    metrics: dict[str, float] = field(default_factory=dict)
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "start": self.start.isoformat() if self.start else None,
            "end": self.end.isoformat() if self.end else None,
            "predictions": self.predictions,
            "labelled": self.labelled,
            "metrics": self.metrics,
            "note": self.note,
        }


def infer_task(labels: npt.NDArray[Any]) -> str:
    import numpy as np

    if labels.dtype.kind == "f" and not np.all(np.mod(labels[np.isfinite(labels)], 1) == 0):
        return "regression"
    return "classification"


def roc_auc(y: npt.NDArray[np.bool_], score: npt.NDArray[np.float64]) -> float:
    """ROC AUC by the rank-sum (Mann-Whitney U) formula, ties counted half."""
    from scipy.stats import rankdata

    pos, neg = int(y.sum()), int((~y).sum())
    if not pos or not neg:
        return float("nan")
    ranks = rankdata(score)
    return float((ranks[y].sum() - pos * (pos + 1) / 2) / (pos * neg))


def classification_metrics(
    y_true: npt.NDArray[Any], y_pred: npt.NDArray[Any], proba: npt.NDArray[np.float64] | None = None
) -> dict[str, float]:
    import numpy as np

    classes = np.unique(np.concatenate([y_true, y_pred]))
    out = {"accuracy": float(np.mean(y_true == y_pred))}
    if len(classes) <= 2:
        positive = True if True in classes.tolist() else (1 if 1 in classes.tolist() else classes.max())
        targets = [positive]
    else:
        targets = list(classes)
    precisions, recalls, f1s = [], [], []
    for c in targets:  # one vectorized pass per class
        tp = float(np.sum((y_pred == c) & (y_true == c)))
        predicted, actual = float(np.sum(y_pred == c)), float(np.sum(y_true == c))
        p = tp / predicted if predicted else 0.0
        r = tp / actual if actual else 0.0
        precisions.append(p)
        recalls.append(r)
        f1s.append(2 * p * r / (p + r) if p + r else 0.0)
    out.update(precision=float(np.mean(precisions)), recall=float(np.mean(recalls)), f1=float(np.mean(f1s)))
    if proba is not None and len(classes) <= 2:
        auc = roc_auc(y_true == targets[0], proba)
        if not math.isnan(auc):
            out["roc_auc"] = auc
    return out


def regression_metrics(y_true: npt.NDArray[Any], y_pred: npt.NDArray[Any]) -> dict[str, float]:
    import numpy as np

    err = y_pred.astype(np.float64) - y_true.astype(np.float64)
    return {"mae": float(np.mean(np.abs(err))), "rmse": float(np.sqrt(np.mean(err * err)))}


def _positive_proba(frame: pd.DataFrame) -> npt.NDArray[np.float64] | None:
    import numpy as np

    if "proba" not in frame.columns or frame["proba"].isna().any():
        return None
    try:
        stacked = np.stack(list(frame["proba"].to_numpy())).astype(np.float64)
    except (ValueError, TypeError):  # ragged or empty
        return None
    if stacked.ndim != 2 or stacked.shape[1] != 2:
        return None
    positive: npt.NDArray[np.float64] = stacked[:, 1]
    return positive


def window_quality(
    frame: pd.DataFrame, start: datetime | None, end: datetime | None, task: str | None = None
) -> WindowQuality:
    """Quality of the labelled rows of ``frame`` (predictions joined with labels)."""
    import numpy as np

    labelled = frame[frame["label"].notna()] if "label" in frame.columns else frame.iloc[:0]
    result = WindowQuality(start, end, len(frame), len(labelled))
    if not len(labelled):
        result.note = "no data" if not len(frame) else "no labels yet"
        return result
    y_true = labelled["label"].to_numpy()
    y_pred = labelled["prediction"].to_numpy()
    if y_true.dtype == object:
        try:
            y_true = y_true.astype(y_pred.dtype)
        except (TypeError, ValueError):
            y_true, y_pred = y_true.astype(str), y_pred.astype(str)
    kind = task or infer_task(np.asarray(y_true))
    if kind == "regression":
        result.metrics = regression_metrics(y_true, y_pred)
    else:
        result.metrics = classification_metrics(y_true, y_pred, _positive_proba(labelled))
    return result


def quality_over_time(
    log_dir: str,
    deployment: str,
    start: datetime,
    end: datetime,
    every: timedelta | None,
    *,
    task: str | None = None,
) -> list[WindowQuality]:
    """One :class:`WindowQuality` per ``every``-long bucket of ``[start, end)`` (by prediction time:
    a label that arrives late counts in the window of its prediction); ``every=None``: one window."""
    import pandas as pd

    table = read_log(log_dir, deployment, Window(start, end), columns=["prediction", "proba"])
    frame = (
        table.to_pandas()
        if table.num_rows
        else pd.DataFrame({"ts": pd.Series([], dtype="datetime64[us, UTC]")})
    )
    if len(frame):
        frame = join_labels(frame, read_labels(log_dir, deployment))
    out = []
    for lo, hi in buckets(start, end, every) if every is not None else [(start, end)]:
        part = (
            frame[(frame["ts"] >= pd.Timestamp(lo)) & (frame["ts"] < pd.Timestamp(hi))]
            if len(frame)
            else frame
        )
        out.append(window_quality(part, lo, hi, task))
    return out
