"""The float fast path strips feature names from a Pipeline fitted on a DataFrame (whose own
``feature_names_in_`` is a read-only property of its first step, not an attribute)."""

import warnings

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from shipyard.serving.models import _strip_names, _strippable


def test_a_pipeline_fitted_on_a_frame_is_stripped() -> None:
    x = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0], "b": [1.0, 0.0, 1.0, 0.0]})
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(x, [0, 0, 1, 1])
    assert _strippable(model, ["a", "b"])
    _strip_names(model)
    assert not hasattr(model, "feature_names_in_")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "X does not have valid feature names"
        assert model.predict(np.array([[3.0, 0.0]])).tolist() == [1]
