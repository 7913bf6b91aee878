"""scikit-learn estimators and pipelines, saved with skops (no pickle).

On load, skops refuses types it does not know; types from scikit-learn, numpy and scipy are trusted,
anything else (a custom transformer) must be named in ``load_model(..., trusted=[...])``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from shipyard.core.errors import SerializationError
from shipyard.registry.flavors.base import Flavor, module_roots, package_file

_TRUSTED_ROOTS = ("sklearn.", "numpy.", "scipy.", "builtins.", "collections.")
_FILE = "model.skops"


class SklearnFlavor(Flavor):
    name = "sklearn"
    libraries = ("scikit-learn", "skops", "numpy", "scipy")
    serializer = "skops"

    @classmethod
    def accepts(cls, model: Any) -> bool:
        return "sklearn" in module_roots(model)

    def save(self, model: Any, folder: Path, options: dict[str, Any]) -> dict[str, Any]:
        import skops.io as sio

        try:
            sio.dump(model, folder / _FILE)
        except (TypeError, NotImplementedError) as exc:
            raise SerializationError(
                f"skops cannot save this {type(model).__name__} ({exc}); keep fitted attributes to numpy "
                "arrays and plain Python values, or pass flavor='python' (pickle, marked unsafe)"
            ) from None
        return {"file": _FILE, "class": f"{type(model).__module__}.{type(model).__qualname__}"}

    def load(self, files: Mapping[str, bytes], meta: dict[str, Any], trusted: Sequence[str]) -> Any:
        import skops.io as sio
        from skops.io.exceptions import UntrustedTypesFoundException

        data = package_file(files, meta, _FILE)
        try:  # fast path: nothing beyond skops' own defaults and what the caller trusts
            return sio.loads(data, trusted=list(trusted) or None)
        except UntrustedTypesFoundException:
            pass
        found = sio.get_untrusted_types(data=data)
        refused = [t for t in found if not t.startswith(_TRUSTED_ROOTS) and t not in trusted]
        if refused:
            raise SerializationError(_refusal(refused))
        return sio.loads(data, trusted=[*found, *trusted])


def _refusal(types: list[str]) -> str:
    return (
        f"the model package contains types shipyard does not trust by default: {types}; "
        "if you trust the package's source, pass them as load_model(..., trusted=[...])"
    )
