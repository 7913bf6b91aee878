"""Compiled plans (issue 20): a supported scikit-learn model answers with numpy alone, exactly as
scikit-learn does; anything else falls back to skops; the plan is covered by the package's hashes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    GradientBoostingClassifier,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import (
    ElasticNet,
    Lasso,
    LinearRegression,
    LogisticRegression,
    Ridge,
    RidgeClassifier,
)
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import (
    MaxAbsScaler,
    MinMaxScaler,
    PolynomialFeatures,
    RobustScaler,
    StandardScaler,
)
from sklearn.svm import LinearSVC
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from shipyard.artifacts.unpack import UnpackLimits
from shipyard.core.errors import IntegrityError, InvalidInputError
from shipyard.registry.package import write_package
from shipyard.registry.plan_build import RTOL, Unsupported, compile_model, verify
from shipyard.registry.plan_eval import ARRAYS_FILE, PLAN_FILE, Plan, read_plan
from shipyard.registry.predictor import LoadedModel, load_from_folder
from shipyard.registry.signature import Signature

COLUMNS = ["a", "b", "c", "d"]


def _data(rows: int, seed: int, *, ints: bool = False) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, len(COLUMNS))) * [1.0, 10.0, 0.1, 3.0] + [0.0, 5.0, -1.0, 2.0]
    frame = pd.DataFrame(x, columns=COLUMNS)
    return frame.round().astype("int64") if ints else frame


def _binary(x: pd.DataFrame) -> np.ndarray:
    return (x["a"] + x["b"] / 10 - x["d"] / 3 > 0).astype("int64").to_numpy()


def _three(x: pd.DataFrame) -> np.ndarray:
    return np.digitize(x["a"] + (x["c"] + 1) * 5, [-0.5, 0.5])


def _target(x: pd.DataFrame) -> np.ndarray:
    return (x.to_numpy() @ [1.5, -0.2, 3.0, 0.7] + 0.3).astype("float64")


#: name -> (estimator, target function); every part the compiler knows, at least once
CASES: dict[str, tuple[Callable[[], Any], Callable[[pd.DataFrame], Any]]] = {
    "standard+logistic-binary": (lambda: make_pipeline(StandardScaler(), LogisticRegression()), _binary),
    "minmax-clip+logistic-multinomial": (
        lambda: make_pipeline(MinMaxScaler(clip=True), LogisticRegression(C=10)),
        _three,
    ),
    "robust+ridge": (lambda: make_pipeline(RobustScaler(), Ridge(alpha=0.5)), _target),
    "maxabs+lasso": (lambda: make_pipeline(MaxAbsScaler(), Lasso(alpha=0.01)), _target),
    "imputer+standard-nomean+elasticnet": (
        lambda: make_pipeline(
            SimpleImputer(strategy="median"), StandardScaler(with_mean=False), ElasticNet()
        ),
        _target,
    ),
    "linear-regression-alone": (LinearRegression, _target),
    "linear-regression-one-column-target": (LinearRegression, lambda x: _target(x).reshape(-1, 1)),
    "linear-regression-two-outputs": (
        LinearRegression,
        lambda x: np.column_stack([_target(x), -_target(x)]),
    ),
    "logistic-string-classes": (
        lambda: make_pipeline(StandardScaler(), LogisticRegression()),
        lambda x: np.where(_binary(x) == 1, "yes", "no"),
    ),
    "ridge-classifier-three": (lambda: make_pipeline(StandardScaler(), RidgeClassifier()), _three),
    "linear-svc": (lambda: make_pipeline(StandardScaler(), LinearSVC()), _binary),
    "passthrough-step": (lambda: make_pipeline("passthrough", LogisticRegression()), _binary),
    "tree-classifier": (lambda: DecisionTreeClassifier(max_depth=6, random_state=0), _three),
    "scaled-tree-regressor": (
        lambda: make_pipeline(StandardScaler(), DecisionTreeRegressor(min_samples_leaf=3, random_state=0)),
        _target,
    ),
    "random-forest-classifier": (lambda: RandomForestClassifier(n_estimators=15, random_state=0), _three),
    "random-forest-regressor": (lambda: RandomForestRegressor(n_estimators=10, random_state=0), _target),
    "extra-trees-classifier-strings": (
        lambda: ExtraTreesClassifier(n_estimators=10, random_state=0),
        lambda x: np.where(_binary(x) == 1, "yes", "no"),
    ),
    "extra-trees-regressor": (lambda: ExtraTreesRegressor(n_estimators=10, random_state=0), _target),
}


def _package(tmp_path: Path, model: Any, example: Any) -> Path:
    folder = tmp_path / "pkg"
    write_package(folder, model, input_example=example)
    return folder


def _answers(loaded: LoadedModel, data: Any) -> tuple[Any, Any]:
    proba = loaded.predict_proba(data) if loaded.has_predict_proba else None
    return loaded.predict(data), proba


def _assert_same(native: tuple[Any, Any], planned: tuple[Any, Any]) -> None:
    a, b = np.asarray(native[0]), np.asarray(planned[0])
    assert a.dtype == b.dtype and a.shape == b.shape
    if a.dtype.kind == "f":
        np.testing.assert_allclose(b, a, rtol=RTOL, atol=1e-12)
    else:
        assert a.tolist() == b.tolist()
    if native[1] is None:
        assert planned[1] is None
    else:
        np.testing.assert_allclose(planned[1], native[1], rtol=RTOL, atol=1e-12)


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("ints", [False, True], ids=["float-columns", "int-columns"])
def test_the_plan_answers_as_scikit_learn_on_random_data(tmp_path: Path, case: str, ints: bool) -> None:
    build, target = CASES[case]
    x = _data(300, 1, ints=ints)
    model = build().fit(x, target(x))
    folder = _package(tmp_path, model, x.head(3))
    assert (folder / PLAN_FILE).exists() and (folder / ARRAYS_FILE).exists()
    planned, native = load_from_folder(folder), load_from_folder(folder, native=True)
    assert planned.plan is not None and native.plan is None
    fresh = _data(500, 7, ints=ints)  # not what the log-time check saw
    for data in (fresh, fresh.to_dict("records"), fresh.to_dict("list"), fresh.to_numpy()):
        _assert_same(_answers(native, data), _answers(planned, data))
    for bad in () if ints else (np.nan, np.inf, -np.inf):  # refused or imputed where sklearn does
        damaged = fresh.head(9).astype("float64")
        damaged.iloc[::2, 1] = bad
        outcomes = []
        for loaded in (native, planned):
            try:
                outcomes.append(("ok", _answers(loaded, damaged)))
            except ValueError as exc:
                outcomes.append(("error", str(exc)))
        assert outcomes[0][0] == outcomes[1][0], outcomes
        if outcomes[0][0] == "ok":
            _assert_same(outcomes[0][1], outcomes[1][1])
        else:
            assert outcomes[0][1] == outcomes[1][1]
    assert type(planned.native) is type(model)  # the scikit-learn object, loaded on demand


@pytest.mark.parametrize(
    "build",
    [
        lambda: make_pipeline(PolynomialFeatures(2), StandardScaler(), LogisticRegression()),
        lambda: GradientBoostingClassifier(n_estimators=5),
        lambda: make_pipeline(SimpleImputer(add_indicator=True), LogisticRegression()),
    ],
    ids=["polynomial-features", "gradient-boosting", "imputer-with-indicator"],
)
def test_an_unsupported_part_falls_back_to_skops(tmp_path: Path, build: Callable[[], Any]) -> None:
    x = _data(200, 2)
    model = build().fit(x, _binary(x))
    folder = _package(tmp_path, model, x.head(3))
    assert not (folder / PLAN_FILE).exists() and not (folder / ARRAYS_FILE).exists()
    loaded = load_from_folder(folder)
    assert loaded.plan is None
    assert loaded.predict(x.head(5)).tolist() == model.predict(x.head(5)).tolist()


def test_float32_columns_get_no_plan(tmp_path: Path) -> None:
    x = _data(200, 2).astype("float32")
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(x, _binary(x))
    folder = _package(tmp_path, model, x.head(3))
    assert not (folder / PLAN_FILE).exists()


@pytest.mark.parametrize("name", [PLAN_FILE, ARRAYS_FILE])
def test_a_tampered_plan_file_fails_the_hash_check(tmp_path: Path, name: str) -> None:
    x = _data(200, 3)
    folder = _package(tmp_path, make_pipeline(StandardScaler(), LogisticRegression()).fit(x, _binary(x)), x)
    data = bytearray((folder / name).read_bytes())
    data[-40] ^= 0x01
    (folder / name).write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match=name.replace(".", r"\.") + " was altered"):
        load_from_folder(folder)


def test_a_plan_that_differs_from_the_model_is_refused_at_log_time() -> None:
    x = _data(200, 4)
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(x, _binary(x))
    sig = Signature.from_dict(
        {"input_kind": "dataframe", "inputs": [{"name": c, "type": "float64"} for c in COLUMNS]}
    )
    spec, arrays = compile_model(model, sig)
    import io

    plan_json = json.dumps(spec).encode()

    def npz(values: dict[str, np.ndarray]) -> bytes:
        buffer = io.BytesIO()
        np.savez(buffer, **values)
        return buffer.getvalue()

    verify(model, read_plan(plan_json, npz(arrays), "ok", UnpackLimits()), sig, x.head(3))  # passes
    coef = spec["head"]["coef"]
    nudged = {**arrays, coef: arrays[coef] * (1 + 1e-7)}
    with pytest.raises(Unsupported, match=r"differ|different"):
        verify(model, read_plan(plan_json, npz(nudged), "nudged", UnpackLimits()), sig, x.head(3))


def test_native_can_be_forced_by_argument_or_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    x = _data(200, 5)
    folder = _package(tmp_path, make_pipeline(StandardScaler(), LogisticRegression()).fit(x, _binary(x)), x)
    assert load_from_folder(folder).plan is not None
    assert load_from_folder(folder, native=True).plan is None
    monkeypatch.setenv("SHIPYARD_NATIVE_MODELS", "1")
    assert load_from_folder(folder).plan is None
    assert load_from_folder(folder, native=False).plan is not None


BAD_INPUTS: dict[str, Any] = {
    "missing-column": [{"a": 1.0, "b": 2.0, "c": 3.0}],
    "extra-column": [{"a": 1.0, "b": 2.0, "c": 3.0, "d": 4.0, "e": 5.0}],
    "string-value": [{"a": "x", "b": 2.0, "c": 3.0, "d": 4.0}],
    "bool-value": [{"a": True, "b": 2.0, "c": 3.0, "d": 4.0}],
    "narrow-array": np.zeros((2, 3)),
    "one-d-array": np.zeros(4),
    "unequal-dict": {"a": [1.0], "b": [1.0, 2.0], "c": [1.0], "d": [1.0]},
    "not-a-table": "a,b,c,d",
    "nan-value": [{"a": None, "b": 2.0, "c": 3.0, "d": 4.0}],
    "infinity": np.array([[np.inf, 0.0, 0.0, 0.0]]),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_fails_with_the_native_error(tmp_path: Path, case: str) -> None:
    x = _data(200, 6)
    folder = _package(tmp_path, make_pipeline(StandardScaler(), LogisticRegression()).fit(x, _binary(x)), x)
    planned, native = load_from_folder(folder), load_from_folder(folder, native=True)
    errors = []
    for loaded in (native, planned):
        with pytest.raises((InvalidInputError, ValueError)) as info:
            loaded.predict(BAD_INPUTS[case])
        errors.append((type(info.value), str(info.value)))
    assert errors[0] == errors[1]


def test_a_fresh_process_predicts_without_pandas_sklearn_or_scipy(tmp_path: Path) -> None:
    x = _data(200, 8)
    model = make_pipeline(SimpleImputer(), StandardScaler(), LogisticRegression()).fit(x, _three(x))
    folder = _package(tmp_path, model, x.head(3))
    rows = [{"a": 0.1, "b": 5.0, "c": -1.0, "d": None}, {"a": -2.0, "b": 1.0, "c": -0.9, "d": 4}]
    script = f"""
import json, sys
from pathlib import Path
from shipyard.registry.predictor import load_from_folder
loaded = load_from_folder(Path({str(folder)!r}))
answers = [loaded.predict({rows!r}).tolist(), loaded.predict_proba({rows!r}).tolist()]
print(json.dumps({{"answers": answers, "plan": loaded.plan is not None,
    "imported": sorted(m for m in ("pandas", "sklearn", "scipy") if m in sys.modules)}}))
"""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["plan"] is True
    assert result["imported"] == []
    frame = pd.DataFrame(rows, dtype="float64")
    assert result["answers"][0] == model.predict(frame).tolist()
    np.testing.assert_allclose(result["answers"][1], model.predict_proba(frame), rtol=RTOL, atol=1e-12)


def test_the_plan_reader_refuses_what_it_does_not_know() -> None:
    import io

    buffer = io.BytesIO()
    np.savez(buffer, a0=np.zeros(4), a1=np.zeros(4), a2=np.zeros(()))
    arrays = buffer.getvalue()
    spec = {
        "format": "shipyard-plan/1",
        "n_features": 4,
        "steps": [{"name": "X", "allow_nan": True, "ops": [["exec", "a0"]]}],
        "head": {"name": "H", "coef": "a1", "intercept": "a2", "classes": None, "proba": None},
    }
    from shipyard.core.errors import SerializationError

    with pytest.raises(SerializationError, match="unknown operation 'exec'"):
        read_plan(json.dumps(spec).encode(), arrays, "p", UnpackLimits())
    spec["steps"] = []
    plan = read_plan(json.dumps(spec).encode(), arrays, "p", UnpackLimits())
    assert isinstance(plan, Plan) and plan.predict(np.ones((2, 4))).tolist() == [0.0, 0.0]
    objects = io.BytesIO()
    np.savez(objects, a0=np.zeros(4), a1=np.array([{"x": 1}] * 4, dtype=object), a2=np.zeros(()))
    with pytest.raises(SerializationError, match="compiled plan is not readable"):
        read_plan(json.dumps(spec).encode(), objects.getvalue(), "p", UnpackLimits())


def test_a_tree_whose_walk_would_not_end_is_refused(tmp_path: Path) -> None:
    import io

    from shipyard.core.errors import SerializationError

    x = _data(200, 9)
    folder = _package(tmp_path, DecisionTreeClassifier(max_depth=3).fit(x, _binary(x)), x.head(3))
    plan_json = (folder / PLAN_FILE).read_bytes()
    arrays = dict(np.load(folder / ARRAYS_FILE, allow_pickle=False))
    assert read_plan(plan_json, (folder / ARRAYS_FILE).read_bytes(), "ok", UnpackLimits()) is not None
    left = json.loads(plan_json)["head"]["trees"][0]["left"]
    looped = arrays[left].copy()
    looped[0] = 0  # the root's left child is the root itself
    buffer = io.BytesIO()
    np.savez(buffer, **{**arrays, left: looped})
    with pytest.raises(SerializationError, match="out of order or range"):
        read_plan(plan_json, buffer.getvalue(), "looped", UnpackLimits())


def test_a_large_input_to_a_forest_is_answered_by_scikit_learn(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shipyard.registry import plan_trees

    monkeypatch.setattr(plan_trees, "LARGE_INPUT", 100)  # rows x trees
    x = _data(300, 10)
    model = RandomForestClassifier(n_estimators=10, random_state=0).fit(x, _three(x))
    loaded = load_from_folder(_package(tmp_path, model, x.head(3)))
    assert loaded.plan is not None
    assert loaded.predict(x.head(10)).tolist() == model.predict(x.head(10)).tolist()
    assert loaded._load_native is not None  # 100 walks: the plan answered, nothing else loaded
    assert loaded.predict(x.head(11)).tolist() == model.predict(x.head(11)).tolist()
    assert loaded._load_native is None  # 110 walks: handed to the scikit-learn forest
