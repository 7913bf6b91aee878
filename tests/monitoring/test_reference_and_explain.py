"""The reference profile travels with a model version registered from the training run; explanations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import shipyard
from shipyard.core.errors import InvalidInputError
from shipyard.monitoring.explain import explain_rows, permutation_importance
from shipyard.monitoring.service import reference_for
from shipyard.monitoring.store import MonitoringStore
from shipyard.tracking.fluent import get_stores


@pytest.fixture
def data() -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(0)
    x = pd.DataFrame({"a": rng.normal(size=400), "b": rng.normal(size=400), "noise": rng.normal(size=400)})
    y = (x["a"] * 2 - x["b"] + rng.normal(scale=0.3, size=400) > 0).astype(int).to_numpy()
    return x, y


def test_profile_logged_in_the_run_belongs_to_versions_registered_before_and_after(
    data: tuple[pd.DataFrame, np.ndarray],
) -> None:
    x, y = data
    model = LogisticRegression().fit(x, y)
    with shipyard.start_run():
        before = shipyard.log_model(model, "clf", input_example=x.head(), register=True).version
        shipyard.log_reference(x, outputs=model.predict(x))
        after = shipyard.log_model(model, "clf2", input_example=x.head(), register=True).version
    assert before is not None and after is not None
    stores = get_stores()
    first = reference_for(stores, "clf", before.version)  # indexed by log_reference
    second = reference_for(stores, "clf2", after.version)  # found through the source run's artifact
    assert first.rows == second.rows == 400 and set(first.features) == {"a", "b", "noise"}
    assert "prediction" in first.outputs
    with pytest.raises(InvalidInputError, match="active run"):
        shipyard.log_reference(x)


def test_linear_contributions_add_up_and_importance_ranks_the_signal(
    data: tuple[pd.DataFrame, np.ndarray],
) -> None:
    x, y = data
    model = LogisticRegression().fit(x, y)
    explained = explain_rows(model, x.head(5), x)
    assert explained["method"] == "linear"
    raw = model.decision_function(x.head(5))
    sums = [explained["base"] + sum(row.values()) for row in explained["contributions"]]
    assert np.allclose(sums, raw)
    importance = permutation_importance(model, x, y, repeats=3)
    assert next(iter(importance)) == "a" and importance["noise"]["mean"] < importance["b"]["mean"]
    from sklearn.tree import DecisionTreeClassifier

    from shipyard.monitoring.explain import shap_available

    tree = DecisionTreeClassifier().fit(x, y)
    if shap_available():
        assert explain_rows(tree, x.head(2))["method"] == "shap"
    else:
        with pytest.raises(InvalidInputError, match="shap"):
            explain_rows(tree, x.head(2))


def test_importance_is_stored_with_the_profile(data: tuple[pd.DataFrame, np.ndarray]) -> None:
    from shipyard.monitoring.profile import build_profile

    x, _ = data
    store = MonitoringStore(get_stores())
    with pytest.raises(Exception, match="no reference profile"):
        store.set_importance("m", 1, {"a": 1.0})
    store.save_profile("m", 1, build_profile(x))
    store.set_importance("m", 1, {"a": {"mean": 0.3, "std": 0.01}})
    store.save_profile("m", 1, build_profile(x))  # a new profile keeps the importance
    assert store.get_importance("m", 1) == {"a": {"mean": 0.3, "std": 0.01}}


def test_a_2d_array_profiles_under_the_signature_column_names() -> None:
    from shipyard.monitoring.profile import build_profile
    from shipyard.registry.signature import infer_signature

    x = np.random.default_rng(1).normal(size=(200, 3))
    profile = build_profile(x)
    names = [c.name for c in infer_signature(x).inputs]
    assert sorted(profile.features) == sorted(names) == ["c0", "c1", "c2"]
    assert profile.rows == 200
    with pytest.raises(InvalidInputError, match="3-D array"):
        build_profile(np.zeros((2, 2, 2)))
