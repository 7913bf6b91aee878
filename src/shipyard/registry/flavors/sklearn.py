"""scikit-learn estimators and pipelines, saved with skops (no pickle).

Loading runs no code the platform did not choose: before skops reads the file, every class and
function its schema names is checked against an explicit allow-list of exact names (the
scikit-learn estimators and the internal, numpy and scipy types fitted estimators hold; see
:mod:`shipyard.artifacts.serializers.skops_types`), and the zip's declared sizes are bounded.
Common parts (scalers, an imputer, linear models, in a Pipeline) are also compiled into a plan of
numpy arithmetic (:mod:`shipyard.registry.plan_build`), so that loading them does not import
scikit-learn; the skops file stays the model (``LoadedModel.native``, ``load_model(..., native=True)``).
Anything else (a custom transformer, a function of your own) must be named exactly in
``load_model(..., trusted=[...])`` or ``shipyard serve/batch --trust NAME``; names that run code
or reach files (``builtins.exec``, ``os.*``, ``operator.*``...) are refused even then.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.artifacts.unpack import UnpackLimits
from shipyard.core.errors import SerializationError
from shipyard.registry.flavors.base import Flavor, module_roots, package_file

if TYPE_CHECKING:
    from shipyard.registry.plan_eval import Plan
    from shipyard.registry.signature import Signature

_FILE = "model.skops"


class SklearnFlavor(Flavor):
    name = "sklearn"
    libraries = ("scikit-learn", "skops", "numpy", "scipy")
    serializer = "skops"

    @classmethod
    def accepts(cls, model: Any) -> bool:
        return "sklearn" in module_roots(model)

    def save(self, model: Any, folder: Path, options: dict[str, Any]) -> dict[str, Any]:
        from shipyard.artifacts.serializers.skops_import import skops_io

        sio = skops_io()

        try:
            sio.dump(model, folder / _FILE)
        except (TypeError, NotImplementedError) as exc:
            raise SerializationError(
                f"skops cannot save this {type(model).__name__} ({exc}); keep fitted attributes to numpy "
                "arrays and plain Python values, or pass flavor='python' (pickle, marked unsafe)"
            ) from None
        return {"file": _FILE, "class": f"{type(model).__module__}.{type(model).__qualname__}"}

    def load(
        self, files: Mapping[str, bytes], meta: dict[str, Any], trusted: Sequence[str], limits: UnpackLimits
    ) -> Any:
        from shipyard.artifacts.serializers import skops_audit

        data = package_file(files, meta, _FILE)
        return skops_audit.load(data, trusted, f"the package's {_FILE}", limits, _HINT)

    def compile(self, model: Any, folder: Path, signature: Signature, example: Any) -> dict[str, Any]:
        from shipyard.registry.plan_build import write_plan

        return write_plan(model, folder, signature, example)

    def load_plan(
        self, files: Mapping[str, bytes], meta: dict[str, Any], trusted: Sequence[str], limits: UnpackLimits
    ) -> Plan | None:
        if not meta.get("plan"):
            return None
        from shipyard.artifacts.serializers import skops_audit
        from shipyard.registry.plan_eval import read_plan

        # the model file is refused for exactly what loading it would refuse, though the plan is
        # what answers: a package loads, or does not, the same way with and without its plan
        skops_audit.audit(package_file(files, meta, _FILE), trusted, f"the package's {_FILE}", limits, _HINT)
        plan_json = package_file(files, {"file": meta["plan"]}, "")
        arrays = package_file(files, {"file": meta.get("plan_arrays", "")}, "")
        return read_plan(plan_json, arrays, "the package's compiled plan", limits)


_HINT = (
    "if you trust who wrote the package, name them exactly: load_model(..., trusted=[...]) or "
    "shipyard serve/batch --trust NAME"
)
