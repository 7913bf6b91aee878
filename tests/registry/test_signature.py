from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from shipyard.core.errors import InvalidInputError
from shipyard.registry.signature import Signature, SignatureError, enforce, infer_signature


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "age": np.array([30, 40], dtype=np.int64),
            "income": [1.5, 2.5],
            "city": ["a", "b"],
            "vip": [True, False],
        }
    )


def test_infer_from_dataframe_records_names_and_types() -> None:
    sig = infer_signature(_frame())
    assert sig.input_kind == "dataframe"
    assert [(c.name, c.type) for c in sig.inputs] == [
        ("age", "int64"),
        ("income", "float64"),
        ("city", "string"),
        ("vip", "bool"),
    ]
    assert Signature.from_dict(sig.to_dict()) == sig


def test_infer_from_dict_of_columns_and_array() -> None:
    sig = infer_signature({"a": [1, 2], "b": [0.5, 1.0]})
    assert [c.type for c in sig.inputs] == ["int64", "float64"]
    arr = infer_signature(np.zeros((3, 4), dtype=np.float32))
    assert arr.input_kind == "ndarray" and arr.column_names == ["c0", "c1", "c2", "c3"]
    assert infer_signature(np.zeros((3, 2)), columns=["x", "y"]).column_names == ["x", "y"]
    tensor = infer_signature(np.zeros((2, 3, 8, 8), dtype=np.float32))
    assert tensor.input_kind == "tensor" and tensor.inputs[0].shape == (3, 8, 8)


def test_missing_column_names_it() -> None:
    sig = infer_signature(_frame())
    with pytest.raises(SignatureError, match="missing column 'income'"):
        enforce(sig, _frame().drop(columns=["income"]))


def test_extra_column_names_it() -> None:
    sig = infer_signature(_frame())
    with pytest.raises(SignatureError, match="unexpected column 'zip'"):
        enforce(sig, _frame().assign(zip=[1, 2]))


def test_wrong_type_names_column_and_types() -> None:
    sig = infer_signature(_frame())
    bad = _frame().assign(age=["x", "y"])
    with pytest.raises(SignatureError, match=r"column 'age' has type .* expects int64"):
        enforce(sig, bad)
    with pytest.raises(SignatureError, match="column 'income'"):
        enforce(sig, _frame().assign(income=["1.0", "2.0"]))
    with pytest.raises(SignatureError, match="column 'vip'"):
        enforce(sig, _frame().assign(vip=[1, 0]))
    assert issubclass(SignatureError, InvalidInputError)


def test_safe_casts_are_applied() -> None:
    sig = infer_signature(_frame())
    ok = enforce(sig, _frame().assign(income=[1, 2]))  # int -> float
    assert ok["income"].dtype == np.float64
    reordered = enforce(sig, _frame()[["vip", "city", "income", "age"]])
    assert list(reordered.columns) == ["age", "income", "city", "vip"]
    with pytest.raises(SignatureError, match="column 'age'"):
        enforce(sig, _frame().assign(age=[1.5, 2.0]))  # float -> int is never silent


def test_array_models_get_arrays_and_column_count_is_checked() -> None:
    sig = infer_signature(np.zeros((2, 3)))
    out = enforce(sig, np.ones((4, 3), dtype=np.int64))
    assert isinstance(out, np.ndarray) and out.dtype == np.float64 and out.shape == (4, 3)
    with pytest.raises(SignatureError, match="2 columns but the model expects 3"):
        enforce(sig, np.ones((4, 2)))
    frame_in = enforce(sig, {"c0": [1.0], "c1": [2.0], "c2": [3.0]})
    assert frame_in.tolist() == [[1.0, 2.0, 3.0]]


def test_tensor_shape_is_checked() -> None:
    sig = infer_signature(np.zeros((2, 3, 4), dtype=np.float32))
    assert enforce(sig, np.zeros((5, 3, 4))).dtype == np.float32
    with pytest.raises(SignatureError, match=r"per-row shape \[4, 3\]"):
        enforce(sig, np.zeros((5, 4, 3)))


def test_unsupported_input_is_a_clear_error() -> None:
    with pytest.raises(InvalidInputError, match="must be a pandas DataFrame"):
        enforce(infer_signature(_frame()), "age=3")


def test_exact_input_is_passed_through_unchanged() -> None:
    sig = infer_signature(_frame())
    frame = _frame()
    assert enforce(sig, frame) is frame  # nothing to check or cast: no copy
    arr_sig = infer_signature(np.zeros((2, 3)))
    arr = np.ones((5, 3))
    assert enforce(arr_sig, arr) is arr
    cast = enforce(arr_sig, np.ones((5, 3), dtype=np.float32))
    assert cast.dtype == np.float64
