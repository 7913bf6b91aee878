"""scikit-learn estimators and pipelines via skops, which loads without pickle.

At load time the types in the file are listed with ``skops.io.get_untrusted_types`` and trusted only
when they come from scikit-learn, numpy or scipy; any other type makes the artifact ``unsafe``
(loaded only with ``allow_unsafe=True``). Estimators skops cannot dump fall through to pickle.
"""

from __future__ import annotations

from typing import Any

from shipyard.artifacts.cas import BlobWriter
from shipyard.artifacts.serializers.base import BlobSource, Dumped, Fallthrough, Serializer, loaded_module
from shipyard.artifacts.serializers.base import qualified_type as _qualified_type
from shipyard.artifacts.serializers.pickle_ import refuse_unsafe

TRUSTED_ROOTS = ("sklearn", "numpy", "scipy")


def _split(types: list[str]) -> tuple[list[str], list[str]]:
    trusted = [t for t in types if t.split(".", 1)[0] in TRUSTED_ROOTS]
    return trusted, [t for t in types if t not in trusted]


class SklearnSerializer(Serializer):
    name = "sklearn"

    def accepts(self, obj: object) -> bool:
        base = loaded_module("sklearn.base")
        return base is not None and isinstance(obj, base.BaseEstimator)

    def dump(self, obj: Any, out: BlobWriter) -> Dumped:
        try:
            import skops.io as sio
        except ImportError as exc:
            raise Fallthrough("skops is not installed: pip install 'shipyard[sklearn]'") from exc
        try:
            data = sio.dumps(obj)
            types = list(sio.get_untrusted_types(data=data))
        except Exception as exc:  # skops raises many types for objects it cannot handle
            raise Fallthrough(f"skops cannot store this estimator: {exc}") from exc
        out.write(data)
        _, untrusted = _split(types)
        meta = {"python_type": _qualified_type(obj), "untrusted_types": untrusted}
        return Dumped(meta, unsafe=bool(untrusted))

    def load(self, blob: BlobSource, meta: dict[str, Any], *, allow_unsafe: bool) -> Any:
        import skops.io as sio

        data = blob.read_bytes()
        trusted, untrusted = _split(list(sio.get_untrusted_types(data=data)))
        if untrusted and not allow_unsafe:
            raise refuse_unsafe(blob.label, f"contains types outside scikit-learn/numpy/scipy ({untrusted})")
        return sio.loads(data, trusted=trusted + untrusted)
