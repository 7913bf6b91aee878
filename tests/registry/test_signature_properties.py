"""Property tests: any frame matches the signature inferred from it; dropping, adding or
retyping a column is always a SignatureError naming that column."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shipyard.registry.signature import SignatureError, enforce, infer_signature

_KINDS = ("int", "float", "bool", "str")


@st.composite
def frames(draw: st.DrawFn) -> pd.DataFrame:
    n_rows = draw(st.integers(1, 5))
    names = draw(
        st.lists(st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True), min_size=1, max_size=6, unique=True)
    )
    data = {}
    for name in names:
        kind = draw(st.sampled_from(_KINDS))
        if kind == "int":
            values: list[object] = draw(
                st.lists(st.integers(-(2**40), 2**40), min_size=n_rows, max_size=n_rows)
            )
            data[name] = np.array(values, dtype=np.int64)
        elif kind == "float":
            data[name] = draw(
                st.lists(st.floats(allow_nan=True, allow_infinity=False), min_size=n_rows, max_size=n_rows)
            )
        elif kind == "bool":
            data[name] = draw(st.lists(st.booleans(), min_size=n_rows, max_size=n_rows))
        else:
            data[name] = draw(st.lists(st.text(max_size=5), min_size=n_rows, max_size=n_rows))
    return pd.DataFrame(data)


@settings(max_examples=60, deadline=None)
@given(frames(), st.data())
def test_inferred_signature_accepts_its_frame_and_names_every_mismatch(
    frame: pd.DataFrame, data: st.DataObject
) -> None:
    sig = infer_signature(frame)
    out = enforce(sig, frame)
    pd.testing.assert_frame_equal(out, frame, check_dtype=False)
    reordered = frame[list(reversed(frame.columns))]
    assert list(enforce(sig, reordered).columns) == list(frame.columns)

    victim = data.draw(st.sampled_from(list(frame.columns)))
    with pytest.raises(SignatureError, match=f"missing column.*'{victim}'"):
        enforce(sig, frame.drop(columns=[victim]))
    with pytest.raises(SignatureError, match="unexpected column 'zz_extra_col'"):
        enforce(sig, frame.assign(zz_extra_col=1))
    wanted = next(c.type for c in sig.inputs if c.name == victim)
    wrong = ["x"] * len(frame) if wanted != "string" else [1.5] * len(frame)
    with pytest.raises(SignatureError, match=f"column '{victim}'"):
        enforce(sig, frame.assign(**{victim: wrong}))
