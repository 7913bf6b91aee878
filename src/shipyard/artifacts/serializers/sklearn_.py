"""scikit-learn estimators and pipelines via skops, which loads without pickle.

Every class and function the file names is checked against the explicit allow-list of
:mod:`shipyard.artifacts.serializers.skops_types` (exact names, no namespace wildcards) and the
zip's declared sizes are bounded (:mod:`shipyard.artifacts.serializers.skops_audit`). A file with
anything else (a custom transformer, a function of one's own) is stored marked ``unsafe`` and
loaded only with ``allow_unsafe=True``, which, as for a pickle, accepts whatever the file names.
The check reads the file itself, so a record that claims ``unsafe=False`` changes nothing.
Estimators skops cannot dump fall through to pickle.
"""

from __future__ import annotations

from typing import Any

from shipyard.artifacts.cas import BlobWriter
from shipyard.artifacts.serializers.base import BlobSource, Dumped, Fallthrough, Serializer, loaded_module
from shipyard.artifacts.serializers.base import qualified_type as _qualified_type
from shipyard.artifacts.unpack import UnpackLimits

_HINT = (
    "loading it runs code from the artifact; pass allow_unsafe=True only if you trust who wrote it "
    "(never inside the server)"
)


class SklearnSerializer(Serializer):
    name = "sklearn"

    def accepts(self, obj: object) -> bool:
        base = loaded_module("sklearn.base")
        return base is not None and isinstance(obj, base.BaseEstimator)

    def dump(self, obj: Any, out: BlobWriter) -> Dumped:
        from shipyard.artifacts.serializers.skops_import import skops_io

        try:
            sio = skops_io()
        except ImportError as exc:
            raise Fallthrough("skops is not installed: pip install 'shipyard[sklearn]'") from exc
        from shipyard.artifacts.serializers import skops_audit

        try:
            data = sio.dumps(obj)
        except Exception as exc:  # skops raises many types for objects it cannot handle
            raise Fallthrough(f"skops cannot store this estimator: {exc}") from exc
        unbounded = UnpackLimits(max_bytes=1 << 62, max_members=1 << 62)  # bytes skops just wrote
        _, refused, never = skops_audit.inspect(data, (), "the skops file", unbounded)
        if never:
            raise Fallthrough(f"skops would store names that are never loaded: {sorted(never)}")
        out.write(data)
        untrusted = sorted(refused)
        meta = {"python_type": _qualified_type(obj), "untrusted_types": untrusted}
        return Dumped(meta, unsafe=bool(untrusted))

    def load(self, blob: BlobSource, meta: dict[str, Any], *, allow_unsafe: bool) -> Any:
        from shipyard.artifacts.serializers import skops_audit

        label = f"artifact {blob.label!r}"
        return skops_audit.load(blob.read_bytes(), (), label, blob.limits, _HINT, trust_all=allow_unsafe)
