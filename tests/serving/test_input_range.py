"""Values a model cannot take are a 422 naming the column, never a 500 or a 200 with ``null``:
float inputs are bounded (2^511 for float64, 2^63 for float32, stated in the OpenAPI document),
and a model that overflows on a bounded input (raises, or answers inf/NaN) is mapped back to the
columns with the row's largest magnitudes (serving/finite.py)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from shipyard.core.errors import InvalidInputError
from shipyard.registry.signature import ColumnSpec, Signature
from shipyard.serving import ServingConfig, create_serving_app
from shipyard.serving.schema import FLOAT_BOUNDS, build_models, parse_body
from tests.serving.conftest import FEATURES, Env, auth, live, make_data


def _signature(kind: str) -> Signature:
    return Signature((ColumnSpec("x", kind), ColumnSpec("y", kind)))


@pytest.mark.parametrize("kind", ["float32", "float64"])
def test_a_float_column_takes_values_up_to_its_bound_and_names_the_column_beyond(kind: str) -> None:
    models = build_models(_signature(kind))
    bound = FLOAT_BOUNDS[kind]
    columns, rows = parse_body(models, f'[{{"x": {-bound!r}, "y": {bound!r}}}]'.encode())
    assert rows == 1 and columns == {"x": [-bound], "y": [bound]}
    for value in (bound * 2, -5e295, -bound * 1.0000001):
        with pytest.raises(InvalidInputError) as caught:
            parse_body(models, f'[{{"x": 0.5, "y": {value!r}}}]'.encode())
        assert "column 'y' (row 0)" in caught.value.message
        assert "out of the range the model takes" in caught.value.message
    # the square of the bound, and the sum of two squares, stay finite in the column's dtype
    import numpy as np

    b = np.asarray(bound, dtype=kind)
    with np.errstate(over="raise"):
        assert np.isfinite(b * b + b * b)


def test_huge_finite_floats_are_a_422_naming_the_column(env: Env) -> None:
    config = ServingConfig("models:/fraud@champion", log_dir=None)
    row = dict.fromkeys(FEATURES, 0.0) | {"f3": -5e295}
    with live(create_serving_app(config, stores=env.stores)) as url:
        r = httpx.post(url + "/predict", json=[row], headers=auth(env))
        columns = {"columns": {f: [v, 1.0] for f, v in row.items()}}
        c = httpx.post(url + "/predict", json=columns, headers=auth(env))
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "invalid_input"
    assert "column 'f3' (row 0)" in r.json()["error"]["message"]
    assert c.status_code == 422 and "column 'f3'" in c.json()["error"]["message"], c.text


@pytest.fixture(scope="module")
def overflowing(env: Env) -> Iterator[None]:
    """Model ``overflow``: version 1 raises on overflow, version 2 answers inf."""
    from shipyard.registry.service import ModelRegistry
    from shipyard.tracking.client import TrackingClient
    from tests.serving.fakes import Cubing

    reg = ModelRegistry(env.stores)
    sig = {
        "input_kind": "dataframe",
        "inputs": [{"name": f, "type": "float64"} for f in FEATURES],
        "outputs": {"kind": "ndarray", "type": "float64", "shape": [-1]},
    }
    for raises in (True, False):
        run = TrackingClient(env.stores).create_run("overflow-tests")
        record = reg.log_model(
            run.id, Cubing(raises), "overflow", input_example=make_data(5, 3)[0], signature=sig
        )
        reg.register_record(record, "overflow")
    yield


@pytest.mark.parametrize(("version", "what"), [(1, "FloatingPointError"), (2, "not finite")])
def test_a_model_overflowing_on_bounded_input_is_a_422_naming_the_columns(
    env: Env, overflowing: None, version: int, what: str
) -> None:
    config = ServingConfig(f"models:/overflow/{version}", allow_unsafe_model=True, log_dir=None)
    fine = dict.fromkeys(FEATURES, 0.0) | {"f0": 2.0}
    huge = dict.fromkeys(FEATURES, 1.0) | {"f0": 1e150, "f7": -3e20}
    with live(create_serving_app(config, stores=env.stores)) as url:
        ok = httpx.post(url + "/predict", json=[fine], headers=auth(env))
        bad = httpx.post(url + "/predict", json=[fine, huge], headers=auth(env))
    assert ok.status_code == 200 and ok.json()["predictions"] == [8.0]
    assert bad.status_code == 422, bad.text
    error = bad.json()["error"]
    assert error["code"] == "invalid_input" and what in error["message"]
    assert "column 'f0' (1e+150), column 'f7' (-3e+20)" in error["message"]
    if version == 2:
        assert "row 1" in error["message"]  # the row whose answer overflowed
