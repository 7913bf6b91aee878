"""The float-matrix fast path takes a Pipeline fitted on a DataFrame (its feature_names_in_ is
a read-only property: only the steps' own names are removed)."""

from __future__ import annotations

import copy

import pytest

pytest.importorskip("sklearn")


def test_strip_names_of_a_pipeline_fitted_on_a_dataframe() -> None:
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from shipyard.serving.models import _strip_names, _strippable

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(50, 3)), columns=["a", "b", "c"])
    y = (frame["a"] > 0).astype("int64")
    pipe = make_pipeline(StandardScaler(), LogisticRegression()).fit(frame, y)
    assert _strippable(pipe, ["a", "b", "c"])
    stripped = copy.deepcopy(pipe)
    _strip_names(stripped)  # raised AttributeError: the Pipeline's property has no deleter
    assert not hasattr(stripped, "feature_names_in_")
    # a plain matrix now predicts without the "X does not have valid feature names" warning
    assert (stripped.predict(frame.to_numpy()) == pipe.predict(frame)).all()
    assert list(pipe.feature_names_in_) == ["a", "b", "c"]  # the served original keeps its names
