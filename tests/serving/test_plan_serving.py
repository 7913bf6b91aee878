"""A served scikit-learn version answers from its compiled plan (issue 20), exactly as the model,
and ``SHIPYARD_NATIVE_MODELS=1`` serves the scikit-learn object instead."""

from __future__ import annotations

import httpx
import numpy as np
import pandas as pd
import pytest

from shipyard.serving import ServingConfig, create_serving_app
from tests.serving.conftest import Env, auth, live, rows


@pytest.mark.parametrize("native", [False, True], ids=["plan", "native"])
def test_served_answers_equal_the_model(env: Env, native: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    if native:
        monkeypatch.setenv("SHIPYARD_NATIVE_MODELS", "1")
    app = create_serving_app(ServingConfig("models:/fraud/2", log_dir=None), stores=env.stores)
    variant = app.state.deployment.primary
    assert (variant.model.plan is None) is native
    assert variant.fast is None if not native else True  # the plan needs no stripped copy
    data = rows(50, 21)
    model = env.models[2]
    with live(app) as url:
        r = httpx.post(url + "/predict", json=data, headers=auth(env))
        bad = httpx.post(url + "/predict", json=[{**data[0], "f1": "x"}], headers=auth(env))
    assert r.status_code == 200, r.text
    assert r.json()["predictions"] == model.predict(pd.DataFrame(data)).tolist()
    np.testing.assert_allclose(r.json()["probabilities"], model.predict_proba(pd.DataFrame(data)), rtol=1e-9)
    assert bad.status_code == 422 and "'f1'" in bad.json()["error"]["message"]
