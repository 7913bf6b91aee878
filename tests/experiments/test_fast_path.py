"""The experiment reader (DuckDB scans, the sort-based label join of
:mod:`shipyard.experiments.keyjoin`) gives what the straightforward computation gives: the
prediction log and :func:`shipyard.monitoring.logs.read_labels` (pandas: newest label per row and
request) joined with Arrow, on random logs with late labels, duplicates, own-row labels, missing
labels and failed rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from shipyard.experiments.config import ExperimentSpec
from shipyard.experiments.data import read_rows, rows_from_table
from shipyard.experiments.keyjoin import newest
from shipyard.experiments.outcomes import log_outcomes, read_outcomes
from shipyard.experiments.runner import evaluate
from shipyard.monitoring.logs import log_labels, read_labels, read_log

T0 = datetime(2026, 5, 1, tzinfo=UTC)


def _write_log(folder: Path, rng: np.random.Generator, requests: int) -> list[str]:
    """Requests of 1-3 rows over two days (two segments a day), ~10 % failed, 30 % challenger."""
    sizes = rng.integers(1, 4, requests)
    ids = [f"q{i:05d}" for i in range(requests)]
    req = np.repeat(np.arange(requests), sizes)
    row = np.concatenate([np.arange(k) for k in sizes]).astype(np.int32)
    # distinct times (the comparison sorts by them); a request's rows share its time
    ts_req = np.sort(rng.choice(48 * 3600, requests, replace=False)).astype(np.int64) * 10**6
    ts = int(T0.timestamp() * 1e6) + ts_req[req] + row  # + row µs keeps each row's time distinct
    arm = (rng.random(requests) < 0.3)[req]
    failed = (rng.random(requests) < 0.1)[req]
    table = pa.table(
        {
            "request_id": pa.array([ids[r] for r in req], pa.string()),
            "ts": pa.array(ts.astype("datetime64[us]"), pa.timestamp("us", tz="UTC")),
            "deployment": pa.array(["api"] * len(req)),
            "model": pa.array(["fraud"] * len(req)),
            "version": pa.array(np.where(arm, 2, 1), pa.int64()),
            "role": pa.array(np.where(failed, "error", "primary").astype(object), pa.string()),
            "latency_ms": pa.array(rng.gamma(2.0, 4.0, len(req))),
            "row": pa.array(row),
            "arm": pa.array(np.where(arm, "challenger", "control").astype(object), pa.string()),
            "prediction": pa.array(np.where(failed, -1, rng.integers(0, 2, len(req))), pa.int64()),
            "customer_id": pa.array(rng.integers(0, 40, len(req))),
        }
    )
    days = ts.astype("datetime64[us]").astype("datetime64[D]")
    for day in np.unique(days):
        folder_day = folder / "api" / str(day)
        folder_day.mkdir(parents=True)
        part = table.filter(pa.array(days == day))
        half = part.num_rows // 2
        pq.write_table(part.slice(0, half), folder_day / "000000-1-000001.parquet")
        pq.write_table(part.slice(half), folder_day / "120000-1-000002.parquet")
    return ids


def _label(folder: Path, rng: np.random.Generator, ids: list[str]) -> None:
    """Late labels in several batches: some requests never labelled, some labelled again (the
    newer wins), some rows labelled on their own (before or after their request's label), ids
    repeated inside one batch (the later position wins), and one batch of nulls."""
    for batch in range(6):
        at = T0 + timedelta(days=3, hours=batch)
        pick = rng.choice(len(ids), len(ids) // 3, replace=True)  # repeats inside the batch
        pick = pick[pick % 7 != 0]  # every 7th request never gets a label
        chosen = [ids[i] for i in pick]
        values = rng.integers(0, 2, len(chosen)).tolist()
        if batch == 4:
            values = [None if i % 5 == 0 else v for i, v in enumerate(values)]
        if batch % 2:
            rows = rng.integers(0, 3, len(chosen)).tolist()
            log_labels(chosen, values, deployment="api", log_dir=str(folder), rows=rows, at=at)
        else:
            log_labels(chosen, values, deployment="api", log_dir=str(folder), at=at)
    for _ in range(3):  # outcomes: some requests several times (summed), most never (0)
        pick = rng.choice(len(ids), len(ids) // 4, replace=True)
        log_outcomes(
            [ids[i] for i in pick], "revenue", rng.integers(1, 50, len(pick)).tolist(), log_dir=str(folder)
        )


def _spec() -> ExperimentSpec:
    return ExperimentSpec.model_validate(
        {
            "deployment": "api",
            "challenger": "models:/fraud/2",
            "share": 30,
            "unit": "customer_id",
            "metrics": [
                {"name": "accuracy"},
                {"name": "squared_error"},
                {"name": "latency_ms"},
                {"name": "error_rate"},
                {"name": "outcome:revenue"},
            ],
            "min_samples": 10,
        }
    )


def _straightforward(folder: Path, spec: ExperimentSpec):  # type: ignore[no-untyped-def]
    labels = read_labels(str(folder), "api")
    table = read_log(str(folder), "api", role=None)
    return rows_from_table(
        table,
        spec,
        pa.Table.from_pandas(labels[["request_id", "row", "label", "seq"]], preserve_index=False),
        {"revenue": read_outcomes(str(folder), "revenue")},
    )


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_fast_reader_equals_the_straightforward_join(tmp_path: Path, seed: int) -> None:
    rng = np.random.default_rng(seed)
    ids = _write_log(tmp_path, rng, 300)
    _label(tmp_path, rng, ids)
    spec = _spec()
    fast = read_rows(spec, str(tmp_path), None, None)
    slow = _straightforward(tmp_path, spec)
    assert len(fast) == len(slow) > 300
    f, s = np.argsort(fast.ts_us), np.argsort(slow.ts_us)
    np.testing.assert_array_equal(fast.ts_us[f], slow.ts_us[s])
    np.testing.assert_array_equal(fast.arm[f], slow.arm[s])
    np.testing.assert_array_equal(fast.first[f], slow.first[s])
    for name in ("accuracy", "squared_error", "latency_ms", "error_rate", "outcome:revenue"):
        np.testing.assert_array_equal(fast.values[name][f], slow.values[name][s], err_msg=name)
    assert (fast.values["outcome:revenue"] > 0).sum() > 50
    labelled = np.isfinite(fast.values["accuracy"])
    assert 0.3 < labelled.mean() < 0.95  # late, missing and null labels all present
    # the analysis of both: the same decisions and counts, effects equal to rounding
    end = T0 + timedelta(days=2)
    a = evaluate("x", spec, fast, T0, end).to_dict()
    b = evaluate("x", spec, slow, T0, end).to_dict()
    for ma, mb in zip(a["metrics"], b["metrics"], strict=True):
        for wa, wb in zip(ma["windows"], mb["windows"], strict=True):
            assert (wa["n"], wa["cum_n"], wa["decision"]) == (wb["n"], wb["cum_n"], wb["decision"])
            for x, y in zip([wa["cum_diff"], *wa["cs"]], [wb["cum_diff"], *wb["cs"]], strict=True):
                assert (x is None and y is None) or x == pytest.approx(y, rel=1e-9, abs=1e-12)


def test_labels_out_of_file_order_follow_their_instant(tmp_path: Path) -> None:
    """A label file whose rows are not in ``labelled_at`` order (not written by log_labels): the
    newest by instant wins, as in read_labels, not the later position."""
    rng = np.random.default_rng(9)
    ids = _write_log(tmp_path, rng, 50)
    folder = tmp_path / "api" / "_labels"
    folder.mkdir(parents=True)
    early, late = T0 + timedelta(days=3), T0 + timedelta(days=4)
    pq.write_table(
        pa.table(
            {
                "request_id": pa.array([ids[0], ids[0], ids[1], ids[1]]),
                "row": pa.array([-1, -1, -1, -1], pa.int32()),
                "label": pa.array([1, 0, 0, 1]),
                "labelled_at": pa.array([late, early, early, late], pa.timestamp("us", tz="UTC")),
            }
        ),
        folder / "20260504T000000000000-0-1-a.parquet",
    )
    spec = _spec()
    fast, slow = read_rows(spec, str(tmp_path), None, None), _straightforward(tmp_path, spec)
    f, s = np.argsort(fast.ts_us), np.argsort(slow.ts_us)
    np.testing.assert_array_equal(fast.values["squared_error"][f], slow.values["squared_error"][s])
    assert np.isfinite(fast.values["squared_error"]).sum() >= 2


def _brute(right: np.ndarray, left: np.ndarray) -> np.ndarray:
    last: dict[int, int] = {}
    for i, key in enumerate(right.tolist()):
        last[key] = i
    return np.array([last.get(key, -1) for key in left.tolist()], dtype=np.int64)


@pytest.mark.parametrize("spread", ["narrow", "wide"])
def test_newest_matches_a_dictionary_even_when_hashes_collide(spread: str) -> None:
    """Keys are (h1, h2). 'narrow' h1 values share their high bits (every group is mixed: the
    exact re-sort runs); equal h1 with different h2 are different keys."""
    rng = np.random.default_rng(4)
    for _ in range(50):
        m, n = int(rng.integers(0, 60)), int(rng.integers(0, 60))
        right, left = rng.integers(0, 25, m), rng.integers(0, 25, n)
        scale = 1 if spread == "narrow" else 0x9E3779B97F4A7C15

        def h1(x: np.ndarray, scale: int = scale) -> np.ndarray:
            return (x // 2).astype(np.uint64) * np.uint64(scale)  # pairs of keys share h1

        def h2(x: np.ndarray) -> np.ndarray:
            return x.astype(np.uint64) * np.uint64(0xC2B2AE3D27D4EB4F)

        got = newest(h1(right), h2(right), h1(left), h2(left))
        np.testing.assert_array_equal(got, _brute(right, left))
