"""The fallback: pickle (cloudpickle when installed). Loading it may run code, so it is marked
``unsafe`` and only loaded when the caller allows it."""

from __future__ import annotations

import importlib.util
import pickle
from typing import Any

from shipyard.artifacts.cas import BlobWriter
from shipyard.artifacts.serializers.base import BlobSource, Dumped, Serializer, qualified_type
from shipyard.core.errors import SerializationError

PROTOCOL = 5


def refuse_unsafe(label: str, why: str) -> SerializationError:
    return SerializationError(
        f"artifact {label!r} {why}: loading it runs code from the artifact; pass allow_unsafe=True "
        "only if you trust who wrote it (never inside the server), or store the value as a numpy "
        "array, DataFrame, JSON value, bytes or scikit-learn model instead"
    )


class PickleSerializer(Serializer):
    name = "pickle"
    unsafe = True

    def accepts(self, obj: object) -> bool:
        return True

    def dump(self, obj: Any, out: BlobWriter) -> Dumped:
        use_cloudpickle = importlib.util.find_spec("cloudpickle") is not None
        try:
            if use_cloudpickle:
                import cloudpickle

                cloudpickle.dump(obj, out, protocol=PROTOCOL)
            else:
                pickle.dump(obj, out, protocol=PROTOCOL)
        except Exception as exc:
            raise SerializationError(
                f"cannot store a value of type {qualified_type(obj)}: no serializer supports it and "
                f"pickle fails ({type(exc).__name__}: {exc}). Convert it to data first (e.g. a list, a "
                "numpy array, a DataFrame, bytes) or make it picklable (define __getstate__/__reduce__)"
            ) from exc
        return Dumped(
            {"python_type": qualified_type(obj), "pickler": "cloudpickle" if use_cloudpickle else "pickle"},
            unsafe=True,
        )

    def load(self, blob: BlobSource, meta: dict[str, Any], *, allow_unsafe: bool) -> Any:
        if not allow_unsafe:
            raise refuse_unsafe(blob.label, f"is a pickle of {meta.get('python_type', 'an object')}")
        if meta.get("pickler") == "cloudpickle":
            import cloudpickle  # noqa: F401 - objects pickled by value need it importable

        return pickle.loads(blob.read_bytes())  # noqa: S301 - allowed explicitly by the caller
