"""Compile a fitted scikit-learn model into a plan (:mod:`shipyard.registry.plan_eval`) at log time.

Supported, by exact class (a subclass may compute something else, so it gets no plan):

- ``Pipeline`` of the parts below (``None`` / ``"passthrough"`` steps are skipped), or one part alone;
- transformers: ``StandardScaler``, ``MinMaxScaler`` (with ``clip``), ``RobustScaler``,
  ``MaxAbsScaler``, ``SimpleImputer`` (``missing_values=nan``, no indicator, every column fitted);
- the final model: ``LogisticRegression`` / ``LogisticRegressionCV`` (two classes: logistic; more:
  softmax), ``RidgeClassifier``, ``LinearSVC`` (``predict`` only), ``LinearRegression``, ``Ridge``,
  ``RidgeCV``, ``Lasso``, ``LassoCV``, ``ElasticNet``, ``ElasticNetCV``; ``DecisionTreeClassifier``
  / ``Regressor``, ``RandomForestClassifier`` / ``Regressor``, ``ExtraTreesClassifier`` /
  ``Regressor`` (one output; :mod:`shipyard.registry.plan_trees`).

The signature must be columns of float64 / int32 / int64 (a DataFrame or a 2-D array), fitted in
signature order. Before the plan is kept, it must answer as scikit-learn does through the same
signature checks (:func:`verify`): on the input example and a few hundred generated rows (around
the example's values and on several scales), classes identical and
floats within ``rtol=1e-9`` (``atol=1e-12``). Otherwise no plan is written (the reason is logged
at debug) and loading uses the skops file alone, as before.
"""

from __future__ import annotations

import io
import json
import logging
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.registry.plan_eval import ARRAYS_FILE, PLAN_FILE, PLAN_FORMAT, Plan, read_plan

if TYPE_CHECKING:
    import numpy as np

    from shipyard.registry.signature import Signature

log = logging.getLogger(__name__)

RTOL = 1e-9
ATOL = 1e-12
_ROWS = 300
_NUMERIC = ("float64", "int32", "int64")
_TRANSFORMERS = ("StandardScaler", "MinMaxScaler", "RobustScaler", "MaxAbsScaler", "SimpleImputer")
_CLASSIFIERS = ("LogisticRegression", "LogisticRegressionCV", "RidgeClassifier", "LinearSVC")
_REGRESSORS = ("LinearRegression", "Ridge", "RidgeCV", "Lasso", "LassoCV", "ElasticNet", "ElasticNetCV")
_TREES = {"DecisionTreeClassifier": False, "DecisionTreeRegressor": False}
_FORESTS = {
    "RandomForestClassifier": True,
    "RandomForestRegressor": True,
    "ExtraTreesClassifier": True,
    "ExtraTreesRegressor": True,
}


class Unsupported(Exception):
    """The model (or its signature) has a part this compiler does not know exactly."""


def _sklearn_classes() -> dict[str, type]:
    """The supported classes by name (scikit-learn is imported already: the model is one)."""
    from sklearn import ensemble, impute, linear_model, pipeline, preprocessing, svm, tree

    names = {"Pipeline": pipeline}
    names.update(dict.fromkeys(_TRANSFORMERS, preprocessing))
    names["SimpleImputer"] = impute
    names.update(dict.fromkeys(_CLASSIFIERS + _REGRESSORS, linear_model))
    names["LinearSVC"] = svm
    names.update(dict.fromkeys(_TREES, tree))
    names.update(dict.fromkeys(_FORESTS, ensemble))
    return {name: getattr(module, name) for name, module in names.items()}


def _kind(est: Any, known: dict[str, type]) -> str:
    for name, cls in known.items():
        if type(est) is cls:
            return name
    raise Unsupported(f"{type(est).__module__}.{type(est).__qualname__} has no plan")


def _f64(value: Any, what: str) -> np.ndarray[Any, Any]:
    import numpy as np

    arr = np.asarray(value)
    if arr.dtype != np.float64:
        raise Unsupported(f"{what} is {arr.dtype}, not float64")
    return arr


def compile_model(model: Any, sig: Signature) -> tuple[dict[str, Any], dict[str, np.ndarray[Any, Any]]]:
    """The plan's JSON and arrays for ``model``; :class:`Unsupported` when it has none."""
    import numpy as np

    if sig.input_kind not in ("dataframe", "ndarray") or not sig.inputs:
        raise Unsupported(f"a {sig.input_kind} signature")
    odd = [c.name for c in sig.inputs if c.type not in _NUMERIC or c.shape]
    if odd:
        raise Unsupported(f"columns {odd} are not float64/int32/int64 scalars")
    known = _sklearn_classes()
    parts = [model]
    if _kind(model, known) == "Pipeline":
        parts = [est for _, est in model.steps if est is not None and not (isinstance(est, str))]
        if any(isinstance(est, str) and est != "passthrough" for _, est in model.steps) or not parts:
            raise Unsupported("a pipeline step that is a string other than 'passthrough'")
    k = len(sig.inputs)
    names = getattr(parts[0], "feature_names_in_", None)
    if names is not None and [str(n) for n in names] != sig.column_names:
        raise Unsupported("the model was fitted on other columns (or another order) than the signature's")
    arrays: dict[str, np.ndarray[Any, Any]] = {}

    def keep(value: Any, what: str, shape: tuple[int, ...] | None = (k,)) -> str:
        arr = _f64(value, what)
        if shape is not None and arr.shape != shape:
            raise Unsupported(f"{what} has shape {arr.shape}")
        key = f"a{len(arrays)}"
        arrays[key] = arr
        return key

    steps = []
    for est in parts[:-1]:
        if getattr(est, "n_features_in_", k) != k:
            raise Unsupported(f"{type(est).__name__} takes {est.n_features_in_} features, not {k}")
        steps.append(_step(_kind(est, known), est, keep))
    head_est = parts[-1]
    head_kind = _kind(head_est, known)
    if head_kind in _TREES or head_kind in _FORESTS:
        trees = _forest_head(head_est, head_kind, arrays, k)
        return {"format": PLAN_FORMAT, "n_features": k, "steps": steps, "head": trees}, arrays
    if head_kind not in _CLASSIFIERS + _REGRESSORS:
        raise Unsupported(f"the final step {head_kind} is not a model")
    coef = _f64(head_est.coef_, "coef_")
    if coef.ndim not in (1, 2) or coef.shape[-1] != k:
        raise Unsupported(f"coef_ has shape {coef.shape}")
    outputs = 1 if coef.ndim == 1 else coef.shape[0]
    intercept = np.asarray(head_est.intercept_, dtype="float64")
    if intercept.shape not in ((), (outputs,)):
        raise Unsupported(f"intercept_ has shape {intercept.shape}")
    head: dict[str, Any] = {
        "name": head_kind,
        "coef": keep(coef, "coef_", None),
        "intercept": keep(intercept, "intercept_", None),
        "classes": None,
        "proba": None,
    }
    if head_kind in _CLASSIFIERS:
        head["classes"] = _classes(head_est)
        if head_kind.startswith("LogisticRegression"):
            head["proba"] = "logistic" if outputs == 1 else "softmax"
    spec = {"format": PLAN_FORMAT, "n_features": k, "steps": steps, "head": head}
    return spec, arrays


def _classes(est: Any) -> dict[str, Any]:
    import numpy as np

    classes = np.asarray(est.classes_)
    if (
        classes.ndim != 1
        or classes.dtype.kind not in "iubUO"
        or (classes.dtype.kind == "O" and not all(isinstance(c, str) for c in classes.tolist()))
    ):
        raise Unsupported(f"classes of dtype {classes.dtype}{classes.shape}")
    return {"dtype": classes.dtype.str, "values": classes.tolist()}


def _forest_head(est: Any, kind: str, arrays: dict[str, np.ndarray[Any, Any]], k: int) -> dict[str, Any]:
    from shipyard.registry.plan_trees import compile_forest

    if getattr(est, "n_features_in_", k) != k:
        raise Unsupported(f"{kind} takes {est.n_features_in_} features, not {k}")

    def store(value: np.ndarray[Any, Any], what: str) -> str:
        key = f"a{len(arrays)}"
        arrays[key] = value
        return key

    try:
        head = compile_forest(est, kind, store, _FORESTS.get(kind, False))
    except ValueError as exc:
        raise Unsupported(str(exc)) from None
    head["classes"] = _classes(est) if kind.endswith("Classifier") else None
    return head


def _step(kind: str, est: Any, keep: Any) -> dict[str, Any]:
    import numpy as np

    ops: list[list[Any]] = []
    if kind == "StandardScaler":
        if est.with_mean:
            ops.append(["sub", keep(est.mean_, "mean_")])
        if est.with_std:
            ops.append(["div", keep(est.scale_, "scale_")])
    elif kind == "MinMaxScaler":
        ops += [["mul", keep(est.scale_, "scale_")], ["add", keep(est.min_, "min_")]]
        if est.clip:
            low, high = (float(v) for v in est.feature_range)
            ops.append(["clip", [low, high]])
    elif kind == "RobustScaler":
        if est.with_centering:
            ops.append(["sub", keep(est.center_, "center_")])
        if est.with_scaling:
            ops.append(["div", keep(est.scale_, "scale_")])
    elif kind == "MaxAbsScaler":
        ops.append(["div", keep(est.scale_, "scale_")])
    elif kind == "SimpleImputer":
        missing = est.missing_values
        if not (isinstance(missing, float) and math.isnan(missing)) or est.add_indicator:
            raise Unsupported("a SimpleImputer for values other than NaN, or with an indicator")
        stats = _f64(est.statistics_, "statistics_")
        if bool(np.isnan(stats).any()):
            raise Unsupported("a SimpleImputer with a column it could not fit (it drops the column)")
        ops.append(["fill_nan", keep(stats, "statistics_")])
    else:
        raise Unsupported(f"{kind} is not a transformer")
    return {"name": kind, "allow_nan": True, "ops": ops}


def _save_arrays(arrays: dict[str, np.ndarray[Any, Any]]) -> bytes:
    import numpy as np

    buffer = io.BytesIO()
    np.savez(buffer, allow_pickle=False, **arrays)
    return buffer.getvalue()


def write_plan(model: Any, folder: Path, sig: Signature, example: Any) -> dict[str, str]:
    """Write the plan files into ``folder`` when ``model`` compiles and :func:`verify` passes;
    the flavor options that name them (empty when there is no plan)."""
    import warnings

    from shipyard.artifacts.unpack import UnpackLimits

    try:
        spec, arrays = compile_model(model, sig)
        plan_json = json.dumps(spec, allow_nan=False).encode()
        arrays_npz = _save_arrays(arrays)
        plan = read_plan(plan_json, arrays_npz, "the new plan", UnpackLimits())
        with warnings.catch_warnings():  # the model's own warnings were shown when it predicted
            warnings.simplefilter("ignore")
            verify(model, plan, sig, example)
    except Unsupported as exc:
        log.debug("no compiled plan for this %s: %s", type(model).__name__, exc)
        return {}
    except Exception as exc:  # a plan is an optimisation: logging the model never fails for it
        log.debug("no compiled plan for this %s: %s: %s", type(model).__name__, type(exc).__name__, exc)
        return {}
    (folder / PLAN_FILE).write_bytes(plan_json)
    (folder / ARRAYS_FILE).write_bytes(arrays_npz)
    return {"plan": PLAN_FILE, "plan_arrays": ARRAYS_FILE}


# ---- verification: the plan must answer as scikit-learn does ---------------------------------
def generated_inputs(sig: Signature, example: Any, seed: int = 0) -> list[Any]:
    """Inputs to compare on (one DataFrame, or array for an array signature): the example followed
    by a few hundred rows around its values and on several scales. One input: each call costs
    scikit-learn's input checks, and logging a model stays fast. (NaN and infinity are checked
    where scikit-learn checks them, per part: tests/registry/test_plans.py.)"""
    import numpy as np
    import pandas as pd

    from shipyard.registry.signature import example_rows

    rng = np.random.default_rng(seed)
    names = sig.column_names
    base = None
    if example is not None:
        base = example_rows(example)
        base = pd.DataFrame(base, columns=names) if isinstance(base, np.ndarray) else base
    columns = {}
    for col in sig.inputs:
        seen = np.asarray(base[col.name], dtype="float64") if base is not None else np.zeros(1)
        seen = seen[np.isfinite(seen)] if seen.size else seen
        center = float(seen.mean()) if seen.size else 0.0
        spread = max(float(seen.std()) if seen.size else 0.0, abs(center), 1.0)
        scales = 10.0 ** rng.uniform(-2, 2, size=_ROWS)
        values = np.where(
            np.arange(_ROWS) % 2 == 0,
            rng.normal(center, 3 * spread, size=_ROWS),
            rng.normal(0.0, 1.0, size=_ROWS) * scales,
        )
        columns[col.name] = np.round(values).astype(col.type) if col.type != "float64" else values
    rows = pd.DataFrame(columns)
    inputs: list[Any] = [rows if base is None else pd.concat([base, rows], ignore_index=True)]
    if sig.input_kind == "ndarray":
        inputs = [frame.to_numpy() for frame in inputs]
    return inputs


def _outcome(call: Any) -> tuple[str, Any]:
    try:
        return "ok", call()
    except ValueError as exc:
        return "error", next(iter(str(exc).splitlines()), "")


def _same(native: tuple[str, Any], planned: tuple[str, Any], what: str) -> None:
    import numpy as np

    if native[0] != planned[0]:
        raise Unsupported(f"{what}: scikit-learn gave {native[0]} ({native[1]!r:.80}), the plan {planned[0]}")
    if native[0] == "error":
        if native[1] != planned[1]:
            raise Unsupported(f"{what}: errors differ ({native[1]!r} vs {planned[1]!r})")
        return
    a, b = np.asarray(native[1]), np.asarray(planned[1])
    if a.shape != b.shape or a.dtype != b.dtype:
        raise Unsupported(f"{what}: {a.dtype}{a.shape} from scikit-learn, {b.dtype}{b.shape} from the plan")
    if a.dtype.kind == "f":
        if not np.allclose(a, b, rtol=RTOL, atol=ATOL, equal_nan=True):
            raise Unsupported(f"{what}: values differ beyond rtol={RTOL}")
    elif not np.array_equal(a, b):
        raise Unsupported(f"{what}: different answers")


def verify(model: Any, plan: Plan, sig: Signature, example: Any) -> None:
    """:class:`Unsupported` unless the plan answers as ``model`` on :func:`generated_inputs`,
    both called through the signature checks the loaded model applies."""
    from shipyard.registry.matrix import enforce_matrix
    from shipyard.registry.signature import enforce

    has_proba = callable(getattr(model, "predict_proba", None))
    if has_proba != plan.has_predict_proba:
        raise Unsupported("predict_proba is not the same")
    for i, data in enumerate(generated_inputs(sig, example)):
        _same(
            _outcome(lambda d=data: model.predict(enforce(sig, d))),
            _outcome(lambda d=data: plan.predict(enforce_matrix(sig, d))),
            f"predict on input {i}",
        )
        if has_proba:
            _same(
                _outcome(lambda d=data: model.predict_proba(enforce(sig, d))),
                _outcome(lambda d=data: plan.predict_proba(enforce_matrix(sig, d))),
                f"predict_proba on input {i}",
            )
