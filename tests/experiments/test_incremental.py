"""The incremental analysis (cached per-group statistics next to the log) equals the full
recomputation: on a fresh log, after rows are appended, after late labels and outcomes arrive for
old rows (older or newer than the labels already given), after a segment is rewritten or a label
file removed, and over a corrupt cache; and it recomputes only the groups a change can reach."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from shipyard.experiments import segstats
from shipyard.experiments.config import ExperimentSpec
from shipyard.experiments.data import read_rows
from shipyard.experiments.incremental import analyse_log
from shipyard.experiments.outcomes import log_outcomes
from shipyard.experiments.runner import evaluate
from shipyard.monitoring.logs import log_labels

T0 = datetime(2026, 5, 1, tzinfo=UTC)
END = T0 + timedelta(days=3)


def _segment(
    log_dir: Path, name: str, rng: np.random.Generator, start_s: int, requests: int, tag: str
) -> list[str]:
    """One segment of requests (1-3 rows each, ~10 % failed, 30 % challenger units) from
    ``start_s`` seconds after T0, over the next 6 hours; returns the request ids."""
    sizes = rng.integers(1, 4, requests)
    ids = [f"{tag}-{i}" for i in range(requests)]
    req = np.repeat(np.arange(requests), sizes)
    row = np.concatenate([np.arange(k) for k in sizes]).astype(np.int32)
    ts_req = np.sort(rng.integers(0, 6 * 3600, requests)).astype(np.int64) * 10**6
    ts = int(T0.timestamp() * 1e6) + start_s * 10**6 + ts_req[req] + row
    customer = rng.integers(0, 60, requests)
    arm = (customer % 10 < 3)[req]
    failed = (rng.random(requests) < 0.1)[req]
    table = pa.table(
        {
            "request_id": pa.array([ids[r] for r in req], pa.string()),
            "ts": pa.array(ts.astype("datetime64[us]"), pa.timestamp("us", tz="UTC")),
            "deployment": pa.array(["api"] * len(req)),
            "model": pa.array(["fraud"] * len(req)),
            "version": pa.array(np.where(arm, 2, 1), pa.int64()),
            "role": pa.array(np.where(failed, "error", "primary").astype(object), pa.string()),
            "latency_ms": pa.array(rng.gamma(2.0, 4.0, len(req)) + np.where(arm, 3.0, 0.0)),
            "row": pa.array(row),
            "arm": pa.array(np.where(arm, "challenger", "control").astype(object), pa.string()),
            "prediction": pa.array(np.where(failed, -1, rng.integers(0, 2, len(req))), pa.int64()),
            "customer_id": pa.array(customer[req]),
        }
    )
    day = (T0 + timedelta(seconds=start_s)).date().isoformat()
    folder = log_dir / "api" / day
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, folder / name)
    return ids


def _labels(
    log_dir: Path, rng: np.random.Generator, ids: list[str], at: datetime, *, rows: bool = False
) -> None:
    pick = rng.choice(len(ids), max(1, len(ids) // 2), replace=True)
    chosen = [ids[i] for i in pick]
    values: list[Any] = rng.integers(0, 2, len(chosen)).tolist()
    values = [None if i % 9 == 0 else v for i, v in enumerate(values)]
    log_labels(
        chosen, values, deployment="api", log_dir=str(log_dir), at=at,
        rows=rng.integers(0, 3, len(chosen)).tolist() if rows else None,
    )  # fmt: skip


def _spec(min_requests: int = 20) -> ExperimentSpec:
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
            "guardrails": {"p99_latency_ms": 1.0, "error_rate": 0.5, "min_requests": min_requests},
        }
    )


def _both(log_dir: Path, spec: ExperimentSpec | None = None) -> dict[str, Any]:
    """The cached analysis, after checking it equals the full recomputation (nothing cached)."""
    spec = spec or _spec()
    cached = analyse_log("ab", spec, str(log_dir), END).to_dict()
    full = analyse_log("ab", spec, str(log_dir), END, cache=False).to_dict()
    assert cached == full
    return cached


def _world(tmp_path: Path, seed: int = 1) -> tuple[np.random.Generator, list[str]]:
    rng = np.random.default_rng(seed)
    ids = _segment(tmp_path, "000000-1-000001.parquet", rng, 0, 200, "a")
    ids += _segment(tmp_path, "060000-1-000002.parquet", rng, 6 * 3600, 200, "b")
    ids += _segment(tmp_path, "000000-1-000003.parquet", rng, 24 * 3600, 200, "c")
    _labels(tmp_path, rng, ids, T0 + timedelta(days=2))
    _labels(tmp_path, rng, ids, T0 + timedelta(days=2, hours=1), rows=True)
    log_outcomes(ids[:50], "revenue", rng.integers(1, 50, 50).tolist(), log_dir=str(tmp_path))
    return rng, ids


@pytest.mark.parametrize("seed", [1, 2])
def test_the_analysis_equals_the_row_reader_and_its_cached_repeat(tmp_path: Path, seed: int) -> None:
    _world(tmp_path, seed)
    spec = _spec()
    first = _both(tmp_path)
    assert any((tmp_path / "api" / "_analysis").rglob("*.json"))
    assert analyse_log("ab", spec, str(tmp_path), END).to_dict() == first  # read from the cache
    rows = read_rows(spec, str(tmp_path), None, END, "ab")
    start = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=int(rows.ts_us.min()))
    by_rows = evaluate("ab", spec, rows, start, END).to_dict()
    assert first["requests"] == by_rows["requests"] and first["decision"] == by_rows["decision"]
    assert first["srm_p"] == pytest.approx(by_rows["srm_p"], rel=1e-12)
    assert first["p99_ms"] == by_rows["p99_ms"] and None not in first["p99_ms"]  # exact, not close
    assert [b["guardrail"] for b in first["breaches"]] == [b["guardrail"] for b in by_rows["breaches"]]
    for ma, mb in zip(first["metrics"], by_rows["metrics"], strict=True):
        for wa, wb in zip(ma["windows"], mb["windows"], strict=True):
            assert (wa["start"], wa["n"], wa["cum_n"], wa["decision"]) == (
                wb["start"], wb["n"], wb["cum_n"], wb["decision"],
            ), ma["name"]  # fmt: skip
            for x, y in zip(
                [wa["cum_diff"], *wa["cs"], *wa["mean"]],
                [wb["cum_diff"], *wb["cs"], *wb["mean"]],
                strict=True,
            ):
                assert (x is None and y is None) or x == pytest.approx(y, rel=1e-9, abs=1e-12), ma["name"]


def _count_computes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    rows: list[int] = []
    real = segstats.compute

    def counting(part: Any, *args: Any, **kwargs: Any) -> segstats.GroupStats:
        rows.append(len(part))
        return real(part, *args, **kwargs)

    monkeypatch.setattr(segstats, "compute", counting)
    return rows


def test_appended_rows_are_read_alone_and_late_labels_reach_old_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng, ids = _world(tmp_path)
    before = _both(tmp_path)
    computed = _count_computes(monkeypatch)
    # new rows: a segment in an existing day and one in a new day; labels for the new rows only
    new = _segment(tmp_path, "120000-1-000004.parquet", rng, 12 * 3600, 100, "d")
    new += _segment(tmp_path, "000000-1-000005.parquet", rng, 48 * 3600, 100, "e")
    _labels(tmp_path, rng, new, T0 + timedelta(days=2, hours=5))
    computed.clear()
    after = analyse_log("ab", _spec(), str(tmp_path), END).to_dict()
    assert len(computed) == 2 and sum(computed) < 500  # only the two new segments were read
    assert after == analyse_log("ab", _spec(), str(tmp_path), END, cache=False).to_dict()
    assert after["requests"] != before["requests"]
    # late labels for old rows: the newest wins whatever file brings it, so a label given "before"
    # the ones already there (an older labelled_at) must change nothing for rows labelled since,
    # and one given after must replace them; whole-request and single-row labels, and nulls
    for at, rows in ((T0 + timedelta(days=1), False), (T0 + timedelta(days=2, hours=3), True), (END, False)):
        _labels(tmp_path, rng, ids[:150], at, rows=rows)  # names requests of the first segment only
        computed.clear()
        again = analyse_log("ab", _spec(), str(tmp_path), END).to_dict()
        assert len(computed) == 1  # the group of the first day's first two segments, alone
        assert again == analyse_log("ab", _spec(), str(tmp_path), END, cache=False).to_dict()
    assert again["metrics"][0] != after["metrics"][0]
    # late outcomes for old requests (of the second segment: the same group)
    log_outcomes(ids[250:260], "revenue", [7.0] * 10, log_dir=str(tmp_path))
    computed.clear()
    final = analyse_log("ab", _spec(), str(tmp_path), END).to_dict()
    assert len(computed) == 1
    assert final == analyse_log("ab", _spec(), str(tmp_path), END, cache=False).to_dict()
    assert final["metrics"][4] != again["metrics"][4]
    # a label file naming none of the logged requests changes no group
    log_labels([], [], deployment="api", log_dir=str(tmp_path), at=END)
    computed.clear()
    assert analyse_log("ab", _spec(), str(tmp_path), END).to_dict() == final
    assert computed == []


def test_a_rewritten_segment_or_a_removed_label_file_is_recomputed(tmp_path: Path) -> None:
    rng, _ = _world(tmp_path)
    _both(tmp_path)
    # rewritten in place (same name): fewer rows, other values
    _segment(tmp_path, "060000-1-000002.parquet", rng, 6 * 3600, 120, "b")
    rewritten = _both(tmp_path)
    assert rewritten["requests"][0] + rewritten["requests"][1] < 600
    labels = sorted((tmp_path / "api" / "_labels").glob("*.parquet"))
    labels[-1].unlink()  # the single-row labels
    _both(tmp_path)


def _corrupt(tmp_path: Path, how: str) -> None:
    for path in sorted((tmp_path / "api" / "_analysis").rglob("*.*")):
        if how == "garbage":
            path.write_bytes(b"\x00not a cache\xff" * 10)
        elif how == "truncated":
            path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
        elif how == "lies" and path.suffix == ".json":
            # valid JSON that claims other sums: shapes kept, values not (a tampered cache is
            # only caught when inconsistent; this one is: its arrays no longer match its counts)
            text = path.read_text().replace('"counts": [', '"counts": [1000000, ')
            path.write_text(text)
        elif how == "huge" and path.suffix == ".arrow":
            path.write_bytes(path.read_bytes() + b"\x00" * (64 << 20))


@pytest.mark.parametrize("how", ["garbage", "truncated", "lies", "huge"])
def test_a_corrupt_cache_is_ignored_and_rebuilt(tmp_path: Path, how: str) -> None:
    _world(tmp_path)
    first = _both(tmp_path)
    _corrupt(tmp_path, how)
    assert _both(tmp_path) == first
    # rebuilt: a further look reads it (and still agrees)
    assert analyse_log("ab", _spec(), str(tmp_path), END).to_dict() == first


def test_p99_is_exact_when_the_largest_latencies_sit_in_one_group(tmp_path: Path) -> None:
    """Each group keeps only its largest 2 % of latencies; when one group holds more than that of
    the whole arm's top 1 %, the kept ones cannot decide the p99 and every latency is read."""
    rng = np.random.default_rng(5)
    for i in range(3):
        _segment(tmp_path, f"{6 * i:02d}0000-1-00000{i}.parquet", rng, 6 * 3600 * i, 6000, f"s{i}")
    path = tmp_path / "api" / T0.date().isoformat() / "000000-1-000000.parquet"
    table = pq.read_table(path)
    spike = np.asarray(table["latency_ms"]) + 1000.0 * (np.arange(table.num_rows) % 5 == 0)
    pq.write_table(table.set_column(6, "latency_ms", pa.array(spike)), path)
    spec = _spec()
    full: list[bool] = []
    real = segstats.compute

    def watching(*args: Any, **kwargs: Any) -> segstats.GroupStats:
        full.append(bool(kwargs.get("all_latencies")))
        return real(*args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(segstats, "compute", watching)
        result = _both(tmp_path, spec)
    assert any(full)  # the kept latencies did not decide it
    rows = read_rows(spec, str(tmp_path), None, END, "ab")
    for arm in (0, 1):
        lat = rows.values["latency_ms"]
        assert result["p99_ms"][arm] == float(np.percentile(lat[(rows.arm == arm) & np.isfinite(lat)], 99))


def test_rows_after_the_end_are_left_out_and_not_cached(tmp_path: Path) -> None:
    _world(tmp_path)
    end = T0 + timedelta(hours=9)  # inside the second segment
    spec = _spec()
    cached = analyse_log("ab", spec, str(tmp_path), end).to_dict()
    assert cached == analyse_log("ab", spec, str(tmp_path), end, cache=False).to_dict()
    rows = read_rows(spec, str(tmp_path), None, end, "ab")
    assert sum(cached["requests"]) == int(rows.first.sum())
    # the later, complete look is not misled by what the earlier one saw
    assert _both(tmp_path)["requests"] != cached["requests"]


def test_numpy_percentile_is_reproduced_from_the_largest_values() -> None:
    rng = np.random.default_rng(0)
    for n in [1, 2, 3, 99, 100, 101, 1000, 12345]:
        values = rng.gamma(2.0, 4.0, n)
        top = np.sort(values)[::-1]
        assert segstats._percentile_99(top, n) == float(np.percentile(values, 99)), n


def test_a_new_segment_finds_its_labels_in_files_older_than_itself(tmp_path: Path) -> None:
    """A small new segment is joined only with the label files naming its requests (each file's
    ids are cached), whichever they are: here one written before the segment appeared."""
    rng, _ = _world(tmp_path)
    _both(tmp_path)
    folder = tmp_path / "api" / "_labels"
    early = pa.table(
        {
            "request_id": pa.array([f"f-{i}" for i in range(5)]),
            "row": pa.array([-1] * 5, pa.int32()),
            "label": pa.array([1, 0, 1, 0, 1]),
            "labelled_at": pa.array([T0 + timedelta(days=2, hours=2)] * 5, pa.timestamp("us", tz="UTC")),
        }
    )
    pq.write_table(early, folder / "20260503T020000000000-0-1-early.parquet")
    before = _both(tmp_path)  # names nothing logged yet: no group changes
    ids = _segment(tmp_path, "180000-1-000009.parquet", rng, 18 * 3600, 12, "f")
    log_labels(ids[3:8], [0] * 5, deployment="api", log_dir=str(tmp_path), at=T0 + timedelta(days=2, hours=4))
    after = _both(tmp_path)
    assert after["metrics"][0] != before["metrics"][0]
    labelled = after["metrics"][0]["windows"][-1]["cum_n"]
    assert sum(labelled) > sum(before["metrics"][0]["windows"][-1]["cum_n"])


@pytest.mark.parametrize("rows", [False, True])
def test_first_labels_for_old_requests_extend_their_group_without_rereading_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rows: bool
) -> None:
    """Labels for requests of an old group that had none: only the rows of those requests are
    read and their sums added (per label file); the result is the full recomputation's. A label
    for a request that had one (a relabel) recomputes the group."""
    rng = np.random.default_rng(8)
    ids = _segment(tmp_path, "000000-1-000001.parquet", rng, 0, 300, "a")
    ids += _segment(tmp_path, "060000-1-000002.parquet", rng, 6 * 3600, 300, "b")
    log_labels(ids[:100], [1] * 100, deployment="api", log_dir=str(tmp_path), at=T0 + timedelta(days=2))
    _both(tmp_path)
    computed = _count_computes(monkeypatch)
    fresh = [ids[i] for i in range(100, 600, 3)]  # never labelled: both groups
    values: list[Any] = [None if i % 7 == 0 else i % 2 for i in range(len(fresh))]
    at = T0 + timedelta(days=1)  # "older" than the labels already given: no matter, they had none
    log_labels(
        fresh, values, deployment="api", log_dir=str(tmp_path), at=at,
        rows=rng.integers(0, 3, len(fresh)).tolist() if rows else None,
    )  # fmt: skip
    first = analyse_log("ab", _spec(), str(tmp_path), END).to_dict()
    assert computed == []  # extended, not recomputed
    assert first == analyse_log("ab", _spec(), str(tmp_path), END, cache=False).to_dict()
    again = analyse_log("ab", _spec(), str(tmp_path), END).to_dict()  # the extended entries, stored
    assert again == first
    computed.clear()
    log_labels(ids[:5], [0] * 5, deployment="api", log_dir=str(tmp_path), at=END)  # relabels group a
    relabelled = analyse_log("ab", _spec(), str(tmp_path), END).to_dict()
    assert len(computed) == 1
    assert relabelled == analyse_log("ab", _spec(), str(tmp_path), END, cache=False).to_dict()


def test_a_group_labelled_in_full_is_recomputed_when_one_of_its_requests_is_labelled_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its entry keeps no separate labelled ids (they are its request ids): a new label for one
    of them must still be seen as a relabel (the group recomputed), not as a first label."""
    import json

    rng = np.random.default_rng(5)
    ids = _segment(tmp_path, "000000-1-000001.parquet", rng, 0, 200, "a")
    other = _segment(tmp_path, "000000-1-000002.parquet", rng, 24 * 3600, 200, "b")
    log_labels(ids, rng.integers(0, 2, len(ids)).tolist(), deployment="api", log_dir=str(tmp_path),
               at=T0 + timedelta(days=2))  # fmt: skip
    _labels(tmp_path, rng, other, T0 + timedelta(days=2))
    before = _both(tmp_path)
    counts = [
        json.loads(p.read_text())["counts"][4] for p in (tmp_path / "api" / "_analysis").rglob("*.json")
    ]
    assert sorted(c == -1 for c in counts) == [False, True]  # one group labelled in full
    computed = _count_computes(monkeypatch)
    log_labels(ids[:20], [1 - v for v in [0] * 20], deployment="api", log_dir=str(tmp_path), at=END)
    after = analyse_log("ab", _spec(), str(tmp_path), END).to_dict()
    assert len(computed) == 1
    assert after == analyse_log("ab", _spec(), str(tmp_path), END, cache=False).to_dict()
    assert after["metrics"][0] != before["metrics"][0]
