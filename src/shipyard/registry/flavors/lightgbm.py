"""LightGBM models, saved in LightGBM's own text format.

A scikit-learn wrapper (``LGBMClassifier``/``LGBMRegressor``) is saved as its booster plus the
classes it predicts; it loads back as a small adapter with ``predict`` and ``predict_proba`` that
return what the wrapper returned.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from shipyard.artifacts.unpack import UnpackLimits
from shipyard.registry.flavors.base import Flavor, module_roots, package_file

_FILE = "model.txt"


class LightGBMModel:
    """A loaded LightGBM model with the wrapper's predict/predict_proba semantics."""

    def __init__(self, booster: Any, classes: list[Any] | None) -> None:
        self.booster = booster
        self.classes = classes

    def predict_proba(self, data: Any) -> Any:
        import numpy as np

        raw = np.asarray(self.booster.predict(data))
        if raw.ndim == 1:
            return np.column_stack([1.0 - raw, raw])
        return raw

    def predict(self, data: Any) -> Any:
        import numpy as np

        if self.classes is None:
            return self.booster.predict(data)
        idx = np.argmax(self.predict_proba(data), axis=1)
        return np.asarray(self.classes)[idx]


class LightGBMFlavor(Flavor):
    name = "lightgbm"
    libraries = ("lightgbm", "numpy")
    serializer = "lightgbm-text"

    @classmethod
    def accepts(cls, model: Any) -> bool:
        return "lightgbm" in module_roots(model)

    def save(self, model: Any, folder: Path, options: dict[str, Any]) -> dict[str, Any]:
        booster = getattr(model, "booster_", model)
        booster.save_model(str(folder / _FILE))
        classes = getattr(model, "classes_", None)
        return {
            "file": _FILE,
            "classes": None if classes is None else [c.item() if hasattr(c, "item") else c for c in classes],
        }

    def load(
        self, files: Mapping[str, bytes], meta: dict[str, Any], trusted: Sequence[str], limits: UnpackLimits
    ) -> Any:
        import lightgbm

        booster = lightgbm.Booster(model_str=package_file(files, meta, _FILE).decode("utf-8"))
        classes = meta.get("classes")
        return LightGBMModel(booster, list(classes) if classes is not None else None)

    def has_proba(self, model: Any) -> bool:
        if isinstance(model, LightGBMModel):
            return model.classes is not None
        return callable(getattr(model, "predict_proba", None))
