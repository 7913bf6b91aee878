"""XGBoost models (scikit-learn wrappers and Booster), saved in XGBoost's own JSON format."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from shipyard.artifacts.unpack import UnpackLimits
from shipyard.registry.flavors.base import (
    Flavor,
    checked_class_path,
    class_path,
    import_class,
    module_roots,
    package_file,
)

_FILE = "model.json"
_ALLOWED = frozenset(
    {
        "xgboost.core:Booster",
        *(
            f"xgboost.sklearn:{name}"
            for name in ("XGBClassifier", "XGBRegressor", "XGBRanker", "XGBRFClassifier", "XGBRFRegressor")
        ),
    }
)


class XGBoostFlavor(Flavor):
    name = "xgboost"
    libraries = ("xgboost", "numpy")
    serializer = "xgboost-json"

    @classmethod
    def accepts(cls, model: Any) -> bool:
        return "xgboost" in module_roots(model)

    def save(self, model: Any, folder: Path, options: dict[str, Any]) -> dict[str, Any]:
        model.save_model(str(folder / _FILE))
        return {"file": _FILE, "class": class_path(type(model))}

    def load(
        self, files: Mapping[str, bytes], meta: dict[str, Any], trusted: Sequence[str], limits: UnpackLimits
    ) -> Any:
        cls = import_class(checked_class_path(meta, _ALLOWED, trusted))  # exact names, checked first
        model = cls()
        model.load_model(bytearray(package_file(files, meta, _FILE)))
        return model

    def _is_booster(self, model: Any) -> bool:
        return type(model).__name__ == "Booster"

    def predict(self, model: Any, data: Any) -> Any:
        if self._is_booster(model):
            import xgboost

            return model.predict(xgboost.DMatrix(data))
        return model.predict(data)

    def has_proba(self, model: Any) -> bool:
        return not self._is_booster(model) and callable(getattr(model, "predict_proba", None))
