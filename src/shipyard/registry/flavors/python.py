"""Anything else with a ``predict(frame)`` method, saved with cloudpickle.

This is the only pickle-based flavor: packages are marked ``unsafe`` in model.yaml and
``load_model`` refuses them unless called with ``allow_unsafe=True`` (never inside the server).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from shipyard.artifacts.unpack import UnpackLimits
from shipyard.registry.flavors.base import Flavor, package_file

_FILE = "model.pkl"


class PythonFlavor(Flavor):
    name = "python"
    libraries = ("cloudpickle",)
    unsafe = True
    serializer = "cloudpickle"

    @classmethod
    def accepts(cls, model: Any) -> bool:
        return callable(getattr(model, "predict", None))

    def save(self, model: Any, folder: Path, options: dict[str, Any]) -> dict[str, Any]:
        try:  # cloudpickle also saves classes defined in __main__ or a notebook
            import cloudpickle as pickler
        except ImportError:  # pragma: no cover - plain pickle needs importable classes
            import pickle as pickler

        with open(folder / _FILE, "wb") as fh:
            pickler.dump(model, fh)
        return {"file": _FILE, "class": f"{type(model).__module__}.{type(model).__qualname__}"}

    def load(
        self, files: Mapping[str, bytes], meta: dict[str, Any], trusted: Sequence[str], limits: UnpackLimits
    ) -> Any:
        import pickle

        return pickle.loads(package_file(files, meta, _FILE))  # noqa: S301 - only with allow_unsafe=True
