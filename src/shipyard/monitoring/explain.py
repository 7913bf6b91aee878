"""Explainability: global feature importance and per-prediction contributions.

- :func:`permutation_importance`: scikit-learn's permutation importance of a loaded model on a
  labelled frame (mean and std of the score drop per feature); :func:`shap_importance` when the
  optional ``shap`` package is installed (mean |SHAP value| per feature).
- :func:`explain_rows`: per-row contributions where they are cheap and exact — linear models
  (``coef_ x (value - mean)`` plus the intercept at the mean; pipelines ending in a linear model
  are explained on the transformed inputs); tree models via SHAP's TreeExplainer when installed.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from shipyard.core.errors import InvalidInputError

if TYPE_CHECKING:
    import pandas as pd


def _estimator(model: Any) -> Any:
    return getattr(model, "model", model)  # a LoadedModel wraps the flavor's object


def permutation_importance(
    model: Any,
    data: pd.DataFrame,
    labels: Sequence[Any],
    *,
    repeats: int = 5,
    seed: int = 0,
    max_rows: int = 5000,
) -> dict[str, dict[str, float]]:
    """``{feature: {"mean": ..., "std": ...}}``, sorted by mean importance (largest first)."""
    from sklearn.inspection import permutation_importance as sk_permutation

    est = _estimator(model)
    if not hasattr(est, "predict"):
        raise InvalidInputError("permutation importance needs a model with predict()")
    frame = data.iloc[:max_rows]
    y = list(labels)[:max_rows]
    if len(frame) != len(y):
        raise InvalidInputError(f"{len(frame)} rows but {len(y)} labels")
    inputs = frame if hasattr(est, "feature_names_in_") else frame.to_numpy()  # as it was fitted
    result = sk_permutation(est, inputs, y, n_repeats=repeats, random_state=seed)
    pairs = {
        str(c): {"mean": float(m), "std": float(s)}
        for c, m, s in zip(frame.columns, result.importances_mean, result.importances_std, strict=True)
    }
    return dict(sorted(pairs.items(), key=lambda kv: -kv[1]["mean"]))


def shap_available() -> bool:
    return importlib.util.find_spec("shap") is not None


def shap_importance(model: Any, data: pd.DataFrame, max_rows: int = 1000) -> dict[str, float]:
    import numpy as np
    import shap  # optional

    values = shap.Explainer(_estimator(model), data.iloc[:max_rows])(data.iloc[:max_rows]).values
    mean = np.abs(values).mean(axis=0)
    if mean.ndim > 1:
        mean = mean.mean(axis=-1)
    return {str(c): float(v) for c, v in zip(data.columns, mean, strict=True)}


def _linear(est: Any) -> tuple[Any, Any, Any] | None:
    """``(transform, coef, intercept)`` of a linear model or a pipeline ending in one."""
    steps = getattr(est, "steps", None)
    final = steps[-1][1] if steps else est
    if not hasattr(final, "coef_"):
        return None
    transform = None
    if steps and len(steps) > 1:
        from sklearn.pipeline import Pipeline

        transform = Pipeline(steps[:-1]).transform
    return transform, final.coef_, getattr(final, "intercept_", 0.0)


def explain_rows(model: Any, rows: pd.DataFrame, background: pd.DataFrame | None = None) -> dict[str, Any]:
    """Per-row feature contributions: ``{"method", "base", "contributions": [{feature: value}]}``.

    Linear: contribution = coef x (x - mean(background)) (background default: the rows); the
    base value is the model's raw output at the mean, so base + sum(contributions) = raw output.
    """
    import numpy as np

    est = _estimator(model)
    linear = _linear(est)
    if linear is not None:
        transform, coef, intercept = linear

        def fitted_form(frame: pd.DataFrame) -> Any:  # arrays for a model fitted on arrays
            data = frame if hasattr(est, "feature_names_in_") else frame.to_numpy()
            return transform(data) if transform else data

        x = np.asarray(fitted_form(rows), dtype=np.float64)
        ref = background if background is not None else rows
        mean = np.asarray(fitted_form(ref), dtype=np.float64).mean(axis=0)
        coef = np.atleast_2d(np.asarray(coef, dtype=np.float64))[-1]  # binary: the positive class
        contrib = (x - mean) * coef
        base = float(np.atleast_1d(intercept)[-1] + mean @ coef)
        names = [str(c) for c in rows.columns] if transform is None else [f"x{i}" for i in range(x.shape[1])]
        if transform is not None and x.shape[1] == rows.shape[1]:
            names = [str(c) for c in rows.columns]
        return {
            "method": "linear",
            "base": base,
            "contributions": [dict(zip(names, map(float, r), strict=True)) for r in contrib],
        }
    if shap_available() and hasattr(est, "feature_importances_"):
        import shap

        values = shap.TreeExplainer(est)(rows).values
        if values.ndim == 3:
            values = values[:, :, -1]
        return {
            "method": "shap",
            "base": None,
            "contributions": [dict(zip(map(str, rows.columns), map(float, r), strict=True)) for r in values],
        }
    raise InvalidInputError(
        f"no cheap per-prediction explanation for {type(est).__name__}: linear models are explained "
        "exactly; tree models need the optional shap package (pip install shap)"
    )
