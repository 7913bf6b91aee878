"""The cold analysis' building blocks against their plain definitions: a log streamed group by
group (in order, empty groups included, out-of-order rows refused and the analysis still equal),
the labels' side of the join prepared once for many lookups, each unit's first window without an
argsort (keys that differ only in their low bits included), per-file sums by one stable sort,
request counts without sums, the labelled request ids without a second sort when all are
labelled (and a cache entry that then stores them once)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pytest

from shipyard.experiments import logparts, segstats
from shipyard.experiments.analysis import window_counts, window_keys, window_sums
from shipyard.experiments.data import Rows
from shipyard.experiments.incremental import analyse_log
from shipyard.experiments.keyjoin import Index, newest
from shipyard.experiments.runner import first_seen
from shipyard.experiments.statcache import Entry, load, store

from .test_incremental import END, T0, _spec, _world


def _brute(right: np.ndarray, left: np.ndarray) -> np.ndarray:
    last: dict[int, int] = {}
    for i, key in enumerate(right.tolist()):
        last[key] = i
    return np.array([last.get(key, -1) for key in left.tolist()], dtype=np.int64)


@pytest.mark.parametrize("scale", [1, 2**21, 2**40, 0x9E3779B97F4A7C15])
def test_a_prepared_side_matches_a_dictionary_even_when_hashes_collide(scale: int) -> None:
    """Keys are (h1, h2); pairs of keys share h1, and small scales put many keys' high bits in one
    group (the exact path); one side is looked up in parts, as the cold analysis does."""
    rng = np.random.default_rng(11)
    for _ in range(60):
        m, n = int(rng.integers(0, 300)), int(rng.integers(0, 300))
        right, left = rng.integers(0, 60, m), rng.integers(0, 60, n)

        def h1(x: np.ndarray) -> np.ndarray:
            return (x // 2).astype(np.uint64) * np.uint64(scale)

        def h2(x: np.ndarray) -> np.ndarray:
            return x.astype(np.uint64) * np.uint64(0xC2B2AE3D27D4EB4F)

        index = Index(h1(right), h2(right))
        cut = int(rng.integers(0, n + 1))
        got = np.concatenate(
            [index.newest(h1(left[:cut]), h2(left[:cut])), index.newest(h1(left[cut:]), h2(left[cut:]))]
        )
        expected = _brute(right, left)
        np.testing.assert_array_equal(got, expected)
        np.testing.assert_array_equal(newest(h1(right), h2(right), h1(left), h2(left)), expected)


def _first_seen_by_argsort(keys: np.ndarray, window: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(keys, kind="stable")
    sk = keys[order]
    starts = np.flatnonzero(np.concatenate(([True], sk[1:] != sk[:-1])))
    return sk[starts], np.minimum.reduceat(window[order], starts)


@pytest.mark.parametrize("spread", [1, 2**40])
def test_first_seen_gives_each_units_first_window(spread: int) -> None:
    """spread 1: keys differ in their low bits only (the words of two keys would mix: the argsort
    path); windows from a few to many (wider than the packed words allow)."""
    rng = np.random.default_rng(2)
    for _ in range(200):
        n = int(rng.integers(1, 300))
        keys = rng.integers(0, 40, n).astype(np.uint64) * np.uint64(spread)
        keys |= rng.integers(0, 2, n).astype(np.uint64) << np.uint64(63)  # the arm bit
        window = rng.integers(-3, int(rng.choice([2, 50, 200_000])), n).astype(np.int64) + 480_000
        found, first = first_seen(keys, window)
        want_keys, want_first = _first_seen_by_argsort(keys, window)
        np.testing.assert_array_equal(found, want_keys)
        np.testing.assert_array_equal(first, want_first)
        assert first.dtype == np.int64
    empty = first_seen(np.zeros(0, np.uint64), np.zeros(0, np.int64))
    assert len(empty[0]) == 0 and len(empty[1]) == 0


def test_partial_sums_are_the_sums_of_each_files_rows_in_row_order() -> None:
    rng = np.random.default_rng(6)
    n, windows = 5000, 7
    rows = Rows(np.zeros(n, np.int64), rng.integers(0, 2, n).astype(np.int8), np.ones(n, bool))
    rows.values["accuracy"] = np.where(rng.random(n) < 0.1, np.nan, rng.random(n))
    local = rng.integers(0, windows, n)
    label_file = rng.integers(-1, 5, n)
    label_file[label_file == 3] = -1  # a file holding no row's newest label
    paths = [f"f{i}" for i in range(5)]
    got = segstats.partial_sums(rows, local, windows, ["accuracy"], label_file, paths)
    assert sorted(got) == ["f0", "f1", "f2", "f4"]
    for f, path in enumerate(paths):
        if path not in got:
            continue
        at = np.flatnonzero(label_file == f)
        want = window_sums(local[at], rows.arm[at], rows.values["accuracy"][at], windows)
        for a, b in zip(
            (
                got[path]["accuracy"].n,
                got[path]["accuracy"].s,
                got[path]["accuracy"].ss,
                got[path]["accuracy"].shift,
            ),
            (want.n, want.s, want.ss, want.shift),
            strict=True,
        ):
            np.testing.assert_array_equal(a, b)  # bit for bit: the same rows in the same order


def test_the_stream_hands_each_item_its_rows_and_refuses_rows_out_of_order() -> None:
    con = duckdb.connect()
    try:
        # five items over files 0..5 (item 1 has no file read; item 3's file has no rows); batches cut rows
        seg = [0, 0, 0, 2, 2, 4, 5, 5]
        pos = [0, 1, 2, 0, 1, 0, 0, 3]
        values = ", ".join(f"({s}, {p}, {10 * s + p})" for s, p in zip(seg, pos, strict=True))
        sql = f"SELECT * FROM (VALUES {values}) t(seg, pos, v)"
        items = ["a", "b", "c", "d", "e"]
        files = [1, 1, 1, 1, 2]  # item e holds files 4 and 5
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(logparts, "BATCH_ROWS", 3)
            got = list(logparts.stream(con, sql, items, files))
        assert [item for item, _ in got] == items
        assert [cols["v"].tolist() for _, cols in got] == [[0, 1, 2], [], [20, 21], [], [40, 50, 53]]
        assert got[1][1]["v"].dtype == got[0][1]["v"].dtype
        back = f"SELECT * FROM (VALUES {values}, (5, 1, 51)) t(seg, pos, v)"
        with pytest.raises(logparts.Unordered):
            list(logparts.stream(con, back, items, files))
    finally:
        con.close()


def test_an_unordered_stream_falls_back_to_the_whole_read(tmp_path: Path) -> None:
    _world(tmp_path)
    expected = analyse_log("ab", _spec(), str(tmp_path), END, cache=False).to_dict()
    calls: list[int] = []

    def unordered(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        raise logparts.Unordered
        yield  # a generator, as stream is

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(logparts, "stream", unordered)
        assert analyse_log("ab", _spec(), str(tmp_path), END, cache=False).to_dict() == expected
    assert calls


def test_arrow_columns_become_numpy_arrays_and_back_without_pandas() -> None:
    import subprocess
    import sys

    import pyarrow as pa

    from shipyard.experiments.arrays import arrow_of, numpy_of

    rng = np.random.default_rng(3)
    for values in (
        rng.integers(0, 2**63, 50).astype(np.uint64),
        rng.random(50),
        rng.integers(-9, 9, 50).astype(np.int8),
        rng.integers(-9, 9, 50).astype(np.int32),
        np.zeros(0, np.uint64),
    ):
        array = arrow_of(values)
        np.testing.assert_array_equal(numpy_of(array), values)
        if len(values) > 10:  # a slice (an offset into the buffer), and chunks
            np.testing.assert_array_equal(numpy_of(array.slice(7, 20)), values[7:27])
            chunked = pa.chunked_array([array.slice(0, 5), array.slice(5)])
            np.testing.assert_array_equal(numpy_of(chunked), values)
    flags = rng.random(77) < 0.5
    bits = pa.chunked_array([pa.array(flags[:30]), pa.array(flags[30:])])
    np.testing.assert_array_equal(numpy_of(bits), flags)
    np.testing.assert_array_equal(numpy_of(pa.array(flags).slice(13, 40)), flags[13:53])
    assert numpy_of(pa.chunked_array([], pa.bool_())).dtype == bool
    with_nulls = pa.array([1.0, None, 3.0])
    assert np.isnan(numpy_of(with_nulls)[1])
    code = (
        "import sys, numpy as np, pyarrow as pa\n"
        "from shipyard.experiments.arrays import arrow_of, numpy_of\n"
        "a = arrow_of(np.arange(9, dtype=np.uint64))\n"
        "assert numpy_of(pa.Table.from_arrays([a], names=['k'])['k']).sum() == 36\n"
        "print('pandas' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_a_cache_entry_is_read_whether_its_arrays_are_batches_or_one(tmp_path: Path) -> None:
    """Entries are written one record batch per array (read back without a copy); an entry whose
    column is one batch (as format 3 allows) reads the same."""
    import pyarrow as pa
    import pyarrow.ipc as ipc

    _world(tmp_path)
    first = analyse_log("ab", _spec(), str(tmp_path), END).to_dict()
    entries = [p for p in (tmp_path / "api" / "_analysis").rglob("*.arrow") if p.parent.name != "keys"]
    assert entries
    for path in entries:
        with pa.memory_map(str(path)) as source:
            table = ipc.open_file(source).read_all()
        assert table["key"].num_chunks in (5, 6)  # (no labelled ids: every id labelled)
        whole = pa.Table.from_arrays([table["key"].combine_chunks()], names=["key"])
        with pa.OSFile(str(path), "wb") as sink, ipc.new_file(sink, whole.schema) as writer:
            writer.write_table(whole)
    calls: list[int] = []
    real = segstats.compute

    def counting(*args: Any, **kwargs: Any) -> segstats.GroupStats:
        calls.append(1)
        return real(*args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(segstats, "compute", counting)
        assert analyse_log("ab", _spec(), str(tmp_path), END).to_dict() == first
    assert calls == []  # read from the rewritten entries, not recomputed


def test_request_counts_are_the_counts_of_the_sums() -> None:
    rng = np.random.default_rng(8)
    for windows in (1, 5):
        n = 3000
        local = rng.integers(-2, windows + 2, n)  # some rows outside the windows
        arm = rng.integers(-1, 2, n).astype(np.int8)  # and of no arm
        first = rng.random(n) < 0.6
        keys = window_keys(local, arm, windows)
        want = window_sums(None, None, np.where(first, 1.0, np.nan), windows, keys=keys).n
        got = window_counts(first, keys, windows)
        assert got.dtype == np.float64 and got.shape == (2, windows)
        np.testing.assert_array_equal(got, want)
        assert 0 < got.sum() < first.sum()


def test_the_labelled_ids_are_the_distinct_ids_of_the_labelled_rows() -> None:
    rng = np.random.default_rng(9)
    rid = rng.integers(0, 400, 1000).astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    every = segstats.distinct(rid)
    assert segstats.labelled_of(every, rid, np.zeros(len(rid), np.int64)) is every  # no copy, no sort
    none = segstats.labelled_of(every, rid, np.full(len(rid), -1))
    assert none.dtype == np.uint64 and len(none) == 0
    label_file = rng.integers(-1, 3, len(rid))
    some = segstats.labelled_of(every, rid, label_file)
    np.testing.assert_array_equal(some, np.unique(rid[label_file >= 0]))
    assert 0 < len(some) < len(every)


@pytest.mark.parametrize("share", [1.0, 0.7])
def test_a_group_whose_ids_are_all_labelled_stores_them_once(tmp_path: Path, share: float) -> None:
    """All labelled: the entry's labelled ids are its request ids (not written twice); some: both
    kept. Either way the entry reads back as it was computed."""
    import json

    import pyarrow as pa
    import pyarrow.ipc as ipc

    rng = np.random.default_rng(4)
    n = 500
    ts = int(T0.timestamp() * 1e6) + np.sort(rng.integers(0, 4 * 3600 * 10**6, n))
    rows = Rows(ts, rng.integers(0, 2, n).astype(np.int8), rng.random(n) < 0.8)
    rows.units = rng.integers(0, 50, n)
    rows.values["accuracy"] = rng.random(n)
    rows.values["latency_ms"] = rng.gamma(2.0, 4.0, n)
    rid = rng.integers(0, 2**64 - 1, n, dtype=np.uint64)
    label_file = np.where(rng.random(n) < share, rng.integers(0, 2, n), -1)
    paths = ["a.parquet", "b.parquet"]
    stats = segstats.compute(
        rows, rid, 3600 * 10**6, ["accuracy", "latency_ms"], ["accuracy"], label_file, paths
    )
    store(tmp_path, Entry([("x", 1, 2)], [], [], stats))
    (meta,) = tmp_path.glob("*.json")
    counts = json.loads(meta.read_text())["counts"]
    with pa.memory_map(str(meta.with_suffix(".arrow"))) as source:
        chunks = ipc.open_file(source).read_all()["key"].num_chunks
    if share == 1.0:
        assert counts[4] == -1 and chunks == 5
    else:
        assert counts[4] == len(stats.labelled) < len(stats.rid) and chunks == 6
    entry = load(meta, ["accuracy", "latency_ms"], ["accuracy"])
    assert entry is not None
    np.testing.assert_array_equal(entry.stats.rid, stats.rid)
    np.testing.assert_array_equal(entry.stats.labelled, np.unique(rid[label_file >= 0]))
    np.testing.assert_array_equal(entry.stats.units, stats.units)
    np.testing.assert_array_equal(entry.stats.unit_first, stats.unit_first)
    np.testing.assert_array_equal(entry.stats.requests, stats.requests)


def test_window_keys_inside_or_not_are_the_bins_by_definition() -> None:
    """Every row inside (a group's own windows, arms 0/1: the short path) or some outside."""
    rng = np.random.default_rng(12)
    for lo, arms in ((0, (0, 2)), (-1, (0, 2)), (0, (-1, 3))):
        windows = int(rng.integers(1, 9))
        local = rng.integers(lo, windows + (lo < 0), 400)
        arm = rng.integers(*arms, 400).astype(np.int8)
        keep = (local >= 0) & (local < windows) & ((arm == 0) | (arm == 1))
        want = np.where(keep, arm.astype(np.int64) * windows + local, 2 * windows)
        got = window_keys(local, arm, windows)
        assert got.dtype == np.int64
        np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(
            window_keys(local, arm.astype(bool) & (arm == 1), windows)[keep], want[keep]
        )
