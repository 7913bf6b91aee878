"""A custom scikit-learn transformer (importable; imported only by the tests that need it)."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin


class ShiftTransformer(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    def fit(self, X: Any, y: Any = None) -> ShiftTransformer:
        self.mean_ = np.asarray(X, dtype=float).mean(axis=0)
        return self

    def transform(self, X: Any) -> Any:
        return np.asarray(X, dtype=float) - self.mean_
