"""A compiled scikit-learn model: its arithmetic as data, evaluated with numpy alone.

Importing scikit-learn costs about a second (``sklearn.base`` imports scipy.stats and pandas), more
than everything else a fresh process pays to load a model and answer. So when a model is logged,
:mod:`shipyard.registry.plan_build` writes beside the skops file a **plan** of what its ``predict``
and ``predict_proba`` compute, for the common parts it knows exactly (see that module), and checks
that the plan answers as scikit-learn does before keeping it. A plan is two files of the package:

- ``model.plan.json``: ``{"format": "shipyard-plan/1", "n_features": K, "steps": [...], "head": {...}}``;
  each step is a list of element-wise operations on the ``(rows, K)`` float64 matrix (``sub``,
  ``div``, ``mul``, ``add`` by a per-column array; ``clip``; ``fill_nan`` with per-column values)
  with the finiteness check scikit-learn applies before it; the head is a linear model
  (``X @ coef.T + intercept``) with, for a classifier, its classes and how probabilities are made
  (``logistic`` for two classes, ``softmax`` for more), or a tree or forest
  (:mod:`shipyard.registry.plan_trees`);
- ``model.plan.npz``: the arrays the plan names, stored uncompressed and read with
  ``allow_pickle=False`` (only float64 and int64 arrays, of the shapes the plan needs).

Nothing here runs code from the package: the plan is data, and both files are covered by the
package's per-file sha256 like every other file (:func:`shipyard.registry.package.read_manifest`),
so loading one is as safe as loading the weights. This module imports numpy only.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shipyard.artifacts.unpack import Budget, UnpackLimits, check_zip
from shipyard.core.errors import SerializationError
from shipyard.registry.plan_trees import Forest, read_forest

if TYPE_CHECKING:
    import numpy as np

PLAN_FORMAT = "shipyard-plan/1"
PLAN_FILE = "model.plan.json"
ARRAYS_FILE = "model.plan.npz"
MAX_PLAN_BYTES = 1 << 20
_OPS = frozenset({"sub", "div", "mul", "add", "fill_nan"})
_CLASS_KINDS = frozenset({"i", "u", "b", "U", "O"})

#: scikit-learn's own words for a NaN an estimator does not take (``sklearn.utils.validation``)
_NAN_HELP = (
    "{name} does not accept missing values encoded as NaN natively. For supervised learning, you "
    "might want to consider sklearn.ensemble.HistGradientBoostingClassifier and Regressor which "
    "accept missing values encoded as NaNs natively. Alternatively, it is possible to preprocess the "
    "data, for instance by using an imputer transformer in a pipeline or drop samples with missing "
    "values. See https://scikit-learn.org/stable/modules/impute.html You can find a list of all "
    "estimators that handle NaN values at the following page: "
    "https://scikit-learn.org/stable/modules/impute.html#estimators-that-handle-nan-values"
)


@dataclass(frozen=True)
class Step:
    """One fitted transformer: ``ops`` in order, after the finiteness check scikit-learn makes."""

    name: str  # the estimator's class name, for errors
    allow_nan: bool
    ops: tuple[tuple[str, Any], ...]


@dataclass(frozen=True)
class Head:
    """The final linear model: ``X @ coef.T + intercept`` (``coef`` 1-D or 2-D as fitted)."""

    name: str
    coef: np.ndarray[Any, Any]
    intercept: np.ndarray[Any, Any]
    classes: np.ndarray[Any, Any] | None  # None for a regressor
    proba: str | None  # "logistic" | "softmax" | None


class Plan:
    """``predict`` / ``predict_proba`` over a float64 matrix with the signature's columns in order."""

    def __init__(self, n_features: int, steps: tuple[Step, ...], head: Head | Forest) -> None:
        self.n_features = n_features
        self.steps = steps
        self.head = head

    def hands_over(self, rows: int) -> bool:
        """Whether ``rows`` rows are better answered by the library's own model (a large input to
        a forest: :data:`shipyard.registry.plan_trees.LARGE_INPUT`); the answers are the same."""
        return isinstance(self.head, Forest) and self.head.hands_over(rows)

    @property
    def has_predict_proba(self) -> bool:
        if isinstance(self.head, Forest):
            return self.head.classes is not None
        return self.head.proba is not None

    def _transform(self, X: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        import numpy as np

        first = self.steps[0].name if self.steps else self.head.name
        if X.ndim != 2 or X.shape[1] != self.n_features:
            raise ValueError(
                f"X has {X.shape[-1] if X.ndim else 0} features, but {first} is expecting "
                f"{self.n_features} features as input."
            )
        if X.shape[0] == 0:
            raise ValueError(
                f"Found array with 0 sample(s) (shape={tuple(X.shape)}) while a minimum of 1 is required "
                f"by {first}."
            )
        X = np.asarray(X, dtype="float64")
        for step in self.steps:
            check_finite(X, step.allow_nan, step.name)
            for op, value in step.ops:
                if op == "sub":
                    X = X - value
                elif op == "div":
                    X = X / value
                elif op == "mul":
                    X = X * value
                elif op == "add":
                    X = X + value
                elif op == "clip":
                    X = np.clip(X, value[0], value[1])
                else:  # fill_nan
                    X = np.where(np.isnan(X), value, X)
        return X

    def decision(self, X: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        """The linear model's scores (as scikit-learn's ``decision_function`` / ``predict``)."""
        import numpy as np

        head = self.head
        if isinstance(head, Forest):
            raise TypeError(f"{head.name} has no decision function")
        X = self._transform(X)
        check_finite(X, False, head.name)
        coef = head.coef
        scores: np.ndarray[Any, Any] = np.asarray(X @ (coef.T if coef.ndim == 2 else coef) + head.intercept)
        if head.classes is not None and scores.ndim > 1 and scores.shape[1] == 1:
            return scores.reshape(-1)  # a classifier's one score column (a regressor's stays 2-D)
        return scores

    def predict(self, X: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        import numpy as np

        classes = self.head.classes
        if isinstance(self.head, Forest):
            values = self.head.values(self._transform(X))
            if classes is None:
                return values
            return np.asarray(classes.take(np.argmax(values, axis=1), axis=0))
        scores = self.decision(X)
        if classes is None:
            return scores
        indices = (scores > 0).astype(np.intp) if scores.ndim == 1 else np.argmax(scores, axis=1)
        return np.asarray(classes.take(indices, axis=0))

    def predict_proba(self, X: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        import numpy as np

        if not self.has_predict_proba:
            raise AttributeError(f"{self.head.name} has no predict_proba")
        if isinstance(self.head, Forest):
            return self.head.values(self._transform(X))
        scores = self.decision(X)
        if self.head.proba == "logistic":
            with np.errstate(over="ignore"):
                prob = 1.0 / (1.0 + np.exp(-scores))
            return np.asarray(np.stack([1 - prob, prob], axis=1))
        scores = np.asarray(scores - scores.max(axis=1).reshape((-1, 1)))
        np.exp(scores, out=scores)
        scores /= scores.sum(axis=1).reshape((-1, 1))
        return scores


def check_finite(X: np.ndarray[Any, Any], allow_nan: bool, name: str, dtype: str = "float64") -> None:
    """scikit-learn's input check, with its messages: NaN (unless allowed) first, then infinity."""
    import numpy as np

    if np.isfinite(X).all():
        return
    if not allow_nan and np.isnan(X).any():
        raise ValueError("Input X contains NaN.\n" + _NAN_HELP.format(name=name))
    if np.isinf(X).any():
        raise ValueError(f"Input X contains infinity or a value too large for dtype('{dtype}').")


# ---- reading a plan from the package's files --------------------------------------------------
def read_plan(plan_json: bytes, arrays_npz: bytes, label: str, limits: UnpackLimits) -> Plan:
    """The plan in a package's two plan files; SerializationError naming ``label`` when they are
    not a plan this code reads (they were checked against the package's hashes already)."""
    try:
        if len(plan_json) > MAX_PLAN_BYTES:
            raise ValueError(f"{PLAN_FILE} is {len(plan_json):,} bytes")
        spec = json.loads(plan_json)
        if not isinstance(spec, dict) or spec.get("format") != PLAN_FORMAT:
            raise ValueError(f"{PLAN_FILE} does not declare format {PLAN_FORMAT!r}")
        arrays = _read_arrays(arrays_npz, label, limits)
        return _build(spec, arrays)
    except SerializationError:
        raise
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, OSError) as exc:
        raise SerializationError(
            f"{label}: its compiled plan is not readable ({type(exc).__name__}: {exc}); log and register "
            "the model again, or load it with native=True"
        ) from None


def _read_arrays(data: bytes, label: str, limits: UnpackLimits) -> dict[str, np.ndarray[Any, Any]]:
    import numpy as np

    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        check_zip(archive, f"{label} {ARRAYS_FILE}", Budget(f"{label} {ARRAYS_FILE}", limits))
        if any(info.compress_type != zipfile.ZIP_STORED for info in archive.infolist()):
            raise ValueError(f"{ARRAYS_FILE} holds compressed members")
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        out = {name: npz[name] for name in npz.files}
    for name, value in out.items():
        if value.dtype not in (np.dtype("float64"), np.dtype("int64")):
            raise ValueError(f"array {name!r} is {value.dtype}, not float64 or int64")
    return out


def _array(arrays: dict[str, np.ndarray[Any, Any]], key: Any, shape: tuple[int, ...]) -> np.ndarray[Any, Any]:
    value = arrays[str(key)]
    if value.dtype != "float64":
        raise ValueError(f"array {key!r} is {value.dtype}, not float64")
    if value.shape != shape:
        raise ValueError(f"array {key!r} has shape {value.shape}, expected {shape}")
    return value


def _build(spec: dict[str, Any], arrays: dict[str, np.ndarray[Any, Any]]) -> Plan:
    import numpy as np

    k = int(spec["n_features"])
    if k < 1:
        raise ValueError("n_features must be at least 1")
    steps = []
    for raw in spec["steps"]:
        ops: list[tuple[str, Any]] = []
        for op, arg in raw["ops"]:
            if op == "clip":
                low, high = float(arg[0]), float(arg[1])
                ops.append(("clip", (low, high)))
            elif op in _OPS:
                ops.append((str(op), _array(arrays, arg, (k,))))
            else:
                raise ValueError(f"unknown operation {op!r}")
        steps.append(Step(str(raw["name"]), bool(raw["allow_nan"]), tuple(ops)))
    raw_head = spec["head"]
    classes = _classes(raw_head.get("classes"))
    if raw_head.get("kind") == "trees":
        return Plan(k, tuple(steps), read_forest(raw_head, arrays, k, classes))
    coef = arrays[str(raw_head["coef"])]
    if coef.dtype != np.float64 or coef.ndim not in (1, 2) or coef.shape[-1] != k:
        raise ValueError(f"coef is {coef.dtype}{coef.shape} for {k} features")
    outputs = 1 if coef.ndim == 1 else coef.shape[0]
    intercept = arrays[str(raw_head["intercept"])]
    if intercept.dtype != np.float64 or intercept.shape not in ((), (outputs,)):
        raise ValueError(f"intercept is {intercept.dtype}{intercept.shape} for {outputs} outputs")
    proba = raw_head.get("proba")
    if classes is not None:
        expected = 2 if outputs == 1 else outputs
        if classes.shape != (expected,) or proba not in ("logistic", "softmax", None):
            raise ValueError(f"{len(classes)} classes for {outputs} score columns")
        if proba is not None and (proba == "logistic") != (outputs == 1):
            raise ValueError(f"{proba} probabilities for {outputs} score columns")
    elif proba is not None:
        raise ValueError("probabilities without classes")
    head = Head(str(raw_head["name"]), coef, intercept, classes, proba)
    return Plan(k, tuple(steps), head)


def _classes(raw: Any) -> np.ndarray[Any, Any] | None:
    """A classifier's ``classes_`` from the plan's JSON (None for a regressor)."""
    import numpy as np

    if raw is None:
        return None
    dtype = np.dtype(str(raw["dtype"]))
    if dtype.kind not in _CLASS_KINDS:
        raise ValueError(f"classes of dtype {dtype}")
    values = list(raw["values"])
    if dtype.kind == "O" and not all(isinstance(v, str) for v in values):
        raise ValueError("object classes must be strings")
    classes = np.array(values, dtype=dtype)
    if classes.ndim != 1 or len(classes) < 2:
        raise ValueError(f"classes of shape {classes.shape}")
    return classes
