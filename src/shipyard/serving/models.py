"""The served versions: loading (verified, pickle refused unless allowed), the input example, and
the fast predict path used by the micro-batcher (one DataFrame per micro-batch, built from columns).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shipyard.core.errors import InvalidInputError, SerializationError, UntrustedContentError
from shipyard.serving.config import ServingConfig

if TYPE_CHECKING:
    from shipyard.registry.predictor import LoadedModel
    from shipyard.tracking.stores import Stores

_NUMPY_TYPES = {
    "bool": "bool",
    "int32": "int32",
    "int64": "int64",
    "float32": "float32",
    "float64": "float64",
}


@dataclass
class Variant:
    """One loaded version. ``label`` is what metrics and responses call it (the version number, or
    the run URI for ``runs:/`` models); ``role`` is ``primary`` or ``shadow``."""

    model: LoadedModel
    name: str
    version: int | None
    label: str
    #: the package's input example, for warm-up: a DataFrame or array, or (a model answered by its
    #: compiled plan, which needs no pandas) the first rows as JSON records
    example: Any = None
    role: str = "primary"
    weight: int = 100
    fast: Any = None  # a copy of a scikit-learn estimator that takes a float matrix (see enable_fast_path)

    def frame(self, columns: dict[str, list[Any]]) -> Any:
        """The model input for a micro-batch: one DataFrame (or array) with the signature's dtypes
        (a float matrix for a compiled plan or the fast path)."""
        plan = self.model.plan
        rows = len(next(iter(columns.values()), []))
        if self.fast is not None or (plan is not None and not plan.hands_over(rows)):
            import numpy as np

            names = self.model.signature.column_names
            return np.array([columns[n] for n in names], dtype="float64").T
        return build_input(self.model, columns)

    def predict(self, data: Any) -> tuple[list[Any], list[list[float]] | None]:
        """Predictions (and class probabilities where the flavor has them) as plain lists."""
        import numpy as np

        plan = self.model.plan
        if plan is not None and isinstance(data, np.ndarray):  # checked building the matrix
            preds = plan.predict(data)
            proba_arr = plan.predict_proba(data) if self.model.has_predict_proba else None
        elif self.fast is not None:
            preds = np.asarray(self.fast.predict(data))
            proba_arr = self.fast.predict_proba(data) if self.model.has_predict_proba else None
        else:
            preds = np.asarray(self.model.predict(data))
            proba_arr = self.model.predict_proba(data) if self.model.has_predict_proba else None
        proba = np.asarray(proba_arr, dtype="float64").tolist() if proba_arr is not None else None
        return preds.tolist(), proba

    def enable_fast_path(self) -> bool:
        """Serve a scikit-learn estimator from a float matrix instead of a DataFrame (pandas
        validation costs more than the model for one row). Only for all-float signatures and plain
        estimators or pipelines without column selectors, and only when both paths give the same
        answers on the input example; otherwise the DataFrame path stays."""
        import copy

        import numpy as np

        sig = self.model.signature
        if (
            self.model.plan is not None  # numpy already: nothing to strip
            or self.model.flavor.name != "sklearn"
            or sig.input_kind != "dataframe"
            or any(c.type not in ("float32", "float64") or c.shape for c in sig.inputs)
            or not _strippable(self.model.model, sig.column_names)
        ):
            return False
        stripped = copy.deepcopy(self.model.model)
        _strip_names(stripped)
        records = example_records(self) or [_zeros(sig.column_names)]
        columns = {n: [r[n] for r in records] for n in sig.column_names}
        try:
            slow = self.predict(build_input(self.model, columns))
            self.fast = stripped
            fast = self.predict(self.frame(columns))
        except Exception:
            self.fast = None
            return False
        same = slow[0] == fast[0] and (slow[1] is None or np.allclose(slow[1], fast[1] or []))
        if not same:
            self.fast = None
        return self.fast is not None


def _zeros(names: list[str]) -> dict[str, float]:
    return dict.fromkeys(names, 0.0)


def _estimators(model: Any) -> list[Any]:
    steps = getattr(model, "steps", None)
    if isinstance(steps, list):
        return [est for _, est in steps if est not in (None, "passthrough")]
    return [model]


def _strippable(model: Any, names: list[str]) -> bool:
    """A plain estimator (or a Pipeline of them) fitted on exactly these columns, in this order."""
    fitted = getattr(model, "feature_names_in_", None)
    if fitted is None or list(fitted) != names:
        return False
    for est in _estimators(model):
        module = type(est).__module__
        if not module.startswith("sklearn.") or hasattr(est, "transformers_") or hasattr(est, "estimators_"):
            return False
    return True


def _strip_names(model: Any) -> None:
    """Forget the fitted column names (set on each estimator; a Pipeline's is a read-only
    property answering its first step's, gone once the steps' are)."""
    for est in {id(e): e for e in [model, *_estimators(model)]}.values():
        # an attribute of the fitted object; a Pipeline's is a property reading its first step's
        if "feature_names_in_" in vars(est):
            delattr(est, "feature_names_in_")


def build_input(model: LoadedModel, columns: dict[str, list[Any]]) -> Any:
    import numpy as np
    import pandas as pd

    sig = model.signature
    arrays = {}
    for col in sig.inputs:
        values = columns[col.name]
        dtype = _NUMPY_TYPES.get(col.type)
        if col.type == "datetime":
            arrays[col.name] = pd.to_datetime(pd.Series(values)).to_numpy()
        elif dtype is not None:
            arrays[col.name] = np.asarray(values, dtype=dtype)
        else:
            arrays[col.name] = np.asarray(values, dtype=object)
    if sig.input_kind == "ndarray":
        return np.column_stack([arrays[c.name] for c in sig.inputs])
    return pd.DataFrame(arrays, copy=False)


def example_records(variant: Variant) -> list[dict[str, Any]]:
    """The input example as JSON-ready records (empty when the package has none)."""
    example = variant.example
    if example is None:
        return []
    if isinstance(example, list):
        return example[:5]
    import numpy as np
    import pandas as pd

    names = variant.model.signature.column_names
    if isinstance(example, np.ndarray):
        example = pd.DataFrame(example, columns=names)
    assert isinstance(example, pd.DataFrame)
    out = []
    for row in example.head(5).itertuples(index=False):
        out.append({n: _jsonable(v) for n, v in zip(names, row, strict=True)})
    return out


def json_records(data: bytes, names: list[str], rows: int = 5) -> list[dict[str, Any]] | None:
    """The first ``rows`` of a stored input example as records, read with ``json`` alone (no pandas);
    None when the file is not the plain numeric table this expects (read it the full way)."""
    import json

    try:
        payload = json.loads(data)
        table = payload["data"][:rows]
        columns = payload["columns"] if payload.get("kind") == "dataframe" else names
        if list(columns) != names:
            return None
        records = [dict(zip(names, row, strict=True)) for row in table]
    except (ValueError, TypeError, KeyError, AttributeError):
        return None
    numbers = all(type(v) in (int, float) for r in records for v in r.values())
    return records if numbers else None


def _jsonable(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "item"):
        return value.item()
    return value


def load_variant(
    stores: Stores,
    uri: str,
    *,
    allow_unsafe: bool,
    trusted: Sequence[str] = (),
    role: str = "primary",
    weight: int = 100,
) -> Variant:
    """Load ``uri`` (verified) with its input example. Pickle packages need ``allow_unsafe``;
    classes beyond the flavor's allow-list must be in ``trusted`` (``--trust``)."""
    from shipyard.registry.package import EXAMPLE, files_from_tar, read_example
    from shipyard.registry.predictor import load_package, package_label
    from shipyard.registry.service import ModelRegistry
    from shipyard.registry.uri import parse_model_uri

    registry = ModelRegistry(stores)
    ref = parse_model_uri(uri)
    if ref.run_id is not None:
        assert ref.artifact is not None
        record = registry.find_package(ref.run_id, ref.artifact)
        digest, version, name = record.digest, None, ref.artifact
    else:
        mv = registry.resolve(ref)
        digest, version, name = mv.package_digest, mv.version, mv.model_name
    limits = stores.artifacts.limits
    where = package_label(uri, name if version is not None else None, version, digest)
    files = files_from_tar(stores.artifacts.get_bytes(digest, where), where, limits)  # sha256-verified
    try:
        model = load_package(
            files,
            allow_unsafe=allow_unsafe,
            trusted=trusted,
            digest=digest,
            uri=uri,
            version=version,
            model_name=name,
            limits=limits,
        )
    except SerializationError as exc:
        if isinstance(exc, UntrustedContentError) and "pickle-based" in str(exc):
            raise SerializationError(
                f"{uri} is a pickle-based model: serving it would run arbitrary code from the package; "
                "pass --allow-unsafe-model only if you trust where it came from"
            ) from None
        raise
    example = None
    if EXAMPLE in files:
        if model.plan is not None:
            example = json_records(files[EXAMPLE], model.signature.column_names)
        if example is None:
            example = read_example(files[EXAMPLE], where)
    label = str(version) if version is not None else uri
    variant = Variant(model, name, version, label, example, role=role, weight=weight)
    variant.enable_fast_path()
    return variant


def _ref_uri(base: str, ref: str) -> str:
    """``champion`` / ``3`` / a full URI → a URI of the same model as ``base``."""
    from shipyard.registry.uri import parse_model_uri

    if ref.startswith(("models:/", "runs:/")):
        return ref
    parsed = parse_model_uri(base)
    if parsed.name is None:
        raise InvalidInputError(f"--route/--shadow {ref!r} needs a models:/ URI to serve, not {base}")
    return f"models:/{parsed.name}/{ref}" if ref.isdigit() else f"models:/{parsed.name}@{ref}"


def load_variants(stores: Stores, config: ServingConfig) -> tuple[list[Variant], Variant | None]:
    """The routed versions (weights from ``config.routes``) and the shadow, loaded and checked."""
    unsafe, trusted = config.allow_unsafe_model, tuple(config.trusted)
    routes: Sequence[tuple[str, int]] = [(config.model_uri, 100)]
    if config.routes:
        routes = [(_ref_uri(config.model_uri, r.ref), r.weight) for r in config.routes]
    variants = [
        load_variant(stores, uri, allow_unsafe=unsafe, trusted=trusted, weight=w) for uri, w in routes
    ]
    labels = [v.label for v in variants]
    if len(set(labels)) != len(labels):
        raise InvalidInputError(f"--route names the same version twice: {labels}")
    shadow = None
    if config.shadow:
        shadow = load_variant(
            stores, _ref_uri(config.model_uri, config.shadow), allow_unsafe=unsafe, trusted=trusted
        )
        shadow.role = "shadow"
    first = variants[0].model.signature
    for v in [*variants[1:], *([shadow] if shadow else [])]:
        if v.model.signature.column_names != first.column_names:
            raise InvalidInputError(
                f"version {v.label} takes columns {v.model.signature.column_names}, "
                f"but {variants[0].label} takes {first.column_names}: routed versions must share a signature"
            )
    return variants, shadow


def warm_up(variant: Variant) -> None:
    """One predict on the input example (or one zero row), so the first request is not slow."""
    from shipyard.serving.schema import zero_row

    records = example_records(variant) or [zero_row(variant.model.signature)]
    columns = {n: [r[n] for r in records] for n in variant.model.signature.column_names}
    variant.predict(variant.frame(columns))
