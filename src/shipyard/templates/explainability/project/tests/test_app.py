"""The Streamlit app through Streamlit's AppTest, over a fresh store: empty, then with a registered
model and a day of simulated traffic."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[1] / "app.py")


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("SHIPYARD_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("SHIPYARD_URI", raising=False)
    yield tmp_path / "home"
    from shipyard.tracking import fluent

    fluent.reset()


def test_an_empty_store_says_what_to_do(home) -> None:
    app = AppTest.from_file(APP, default_timeout=60).run()
    assert not app.exception
    assert "make run" in app.info[0].value


def test_the_dashboard_shows_quality_drift_importance_and_predictions(home) -> None:
    import shipyard
    from simulate import log_traffic
    from train import train_and_register

    with shipyard.start_run(name="baseline"):
        train_and_register("", 0)
    logged = log_traffic(hours=6, per_hour=40, shift_from=3, seed=0, path="")
    assert logged["labelled"] == 240

    app = AppTest.from_file(APP, default_timeout=60).run()
    assert not app.exception
    titles = [h.value for h in app.subheader]
    assert titles == [
        "F1 per time window",
        "Feature drift over time",
        "Feature importance",
        "Prediction distribution",
    ]
    f1 = float(app.metric[0].value)
    assert 0.5 < f1 <= 1.0
    drifted = app.metric[1].value
    assert int(drifted.split(" of ")[0]) >= 1  # the simulated shift is seen
    assert len(app.get("vega_lite_chart")) == 4  # F1, drift, importance, predictions
    counts = app.dataframe[0].value
    assert counts["count"].sum() == 240
    assert "240 predictions" in app.caption[0].value

    app.sidebar.slider[0].set_value(2).run()  # the last two hours only
    assert not app.exception
    assert 0 < app.dataframe[0].value["count"].sum() < 240
