"""Model flavors, tried in order; the first whose ``accepts`` is true saves the model."""

from __future__ import annotations

from typing import Any

from shipyard.core.errors import InvalidInputError
from shipyard.registry.flavors.base import Flavor
from shipyard.registry.flavors.lightgbm import LightGBMFlavor
from shipyard.registry.flavors.mlflow_pyfunc import MlflowFlavor
from shipyard.registry.flavors.python import PythonFlavor
from shipyard.registry.flavors.sklearn import SklearnFlavor
from shipyard.registry.flavors.torch import TorchFlavor
from shipyard.registry.flavors.xgboost import XGBoostFlavor

#: most specific first: XGBoost/LightGBM wrappers are also scikit-learn estimators; an MLflow model
#: folder (a Path holding MLmodel) is no model object, so it goes first
FLAVORS: tuple[type[Flavor], ...] = (
    MlflowFlavor,
    TorchFlavor,
    XGBoostFlavor,
    LightGBMFlavor,
    SklearnFlavor,
    PythonFlavor,
)

__all__ = ["FLAVORS", "Flavor", "flavor_by_name", "flavor_for"]


def flavor_for(model: Any, name: str | None = None) -> Flavor:
    """The flavor that saves ``model`` (or the one named ``name``)."""
    if name is not None:
        flavor = flavor_by_name(name)
        if not flavor.accepts(model):
            raise InvalidInputError(f"flavor {name!r} cannot save a {type(model).__name__}")
        return flavor
    for cls in FLAVORS:
        if cls.accepts(model):
            return cls()
    raise InvalidInputError(
        f"cannot save a {type(model).__name__} as a model: use a scikit-learn, XGBoost, LightGBM or "
        "PyTorch model, or any object with a predict(frame) method"
    )


def flavor_by_name(name: str) -> Flavor:
    for cls in FLAVORS:
        if cls.name == name:
            return cls()
    raise InvalidInputError(f"unknown model flavor {name!r}; known: {[c.name for c in FLAVORS]}")
