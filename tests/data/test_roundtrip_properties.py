"""Generated frames round-trip exactly through a snapshot (Hypothesis)."""

from __future__ import annotations

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.pandas import column, data_frames, range_indexes

from shipyard.data.service import DatasetService

FRAMES = data_frames(
    [
        column("i", dtype="int64"),
        column("f", elements=st.floats(allow_nan=False, allow_infinity=False, width=64)),
        column("s", elements=st.text(max_size=20)),
        column("b", dtype="bool"),
    ],
    index=range_indexes(max_size=40),
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(frame=FRAMES)
def test_generated_frames_round_trip(service: DatasetService, frame: pd.DataFrame) -> None:
    version = service.snapshot("gen", frame).version
    assert version.num_rows == len(frame)
    back = service.load(version)
    pd.testing.assert_frame_equal(back, frame, check_index_type=False)
    again = service.snapshot("gen", frame)
    assert again.written == 0  # the same frame writes no blob
