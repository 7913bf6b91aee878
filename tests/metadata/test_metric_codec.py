"""How a batch of metric columns is cut into one chunk per key (``codec.MetricColumns.spans`` and
``groups``, ``metric_chunks.chunks_of``): contiguous keys are sliced, interleaved ones grouped,
and both give the same chunks and the same latest point."""

from __future__ import annotations

from array import array

from shipyard.metadata.sql.codec import MetricColumns
from shipyard.metadata.sql.metric_chunks import chunks_of


def _columns(keys: list[str]) -> MetricColumns:
    n = len(keys)
    return MetricColumns(
        keys, [i / 4 for i in range(n)], [i % 3 for i in range(n)], [1000 + i for i in range(n)]
    )


def test_contiguous_keys_are_spans_interleaved_ones_are_not() -> None:
    assert _columns(["a"] * 3 + ["b"] * 2).spans() == [("a", 0, 3), ("b", 3, 5)]
    assert _columns(["a"] * 4).spans() == [("a", 0, 4)]
    assert _columns(["a", "b", "a"]).spans() is None  # 'a' comes back after 'b'
    assert _columns(["a", "a", "b", "b", "a"]).spans() is None
    many = [f"k{i}" for i in range(100)]
    assert _columns(many).spans() is None  # many short series: grouped instead


def test_sliced_and_grouped_batches_give_the_same_chunks() -> None:
    keys = ["b"] * 5 + ["a"] * 4
    sliced = chunks_of("r", _columns(keys))
    order = [0, 5, 1, 6, 2, 7, 3, 8, 4]  # the same points, keys interleaved
    base = _columns(keys)
    mixed = MetricColumns(
        [base.keys[i] for i in order],
        [base.values[i] for i in order],
        [base.steps[i] for i in order],
        [base.timestamps[i] for i in order],
    )
    assert mixed.spans() is None
    grouped = chunks_of("r", mixed)
    assert [c["key"] for c in sliced] == [c["key"] for c in grouped] == ["a", "b"]
    for one, other in zip(sliced, grouped, strict=True):
        assert sorted(array("d", one["values"])) == sorted(array("d", other["values"]))
        assert one["_latest"] == other["_latest"]


def test_latest_point_is_highest_step_then_timestamp_then_the_later_one() -> None:
    batch = MetricColumns(["m"] * 4, [1.0, 2.0, 3.0, 4.0], [5, 7, 7, 2], [10, 30, 20, 99])
    assert chunks_of("r", batch)[0]["_latest"] == (2.0, 7, 30)
    tie = MetricColumns(["m"] * 3, [1.0, 2.0, 3.0], [7, 7, 1], [30, 30, 99])
    assert chunks_of("r", tie)[0]["_latest"] == (2.0, 7, 30)  # same step and time: the later one
    single = MetricColumns(["m"] * 3, [1.0, 2.0, 3.0], [1, 9, 3], [0, 0, 0])
    assert chunks_of("r", single)[0]["_latest"] == (2.0, 9, 0)


def _reference_spans(keys: list[str]) -> list[tuple[str, int, int]] | None:
    """Spans the obvious way: each key's first and last index, contiguous when they hold it all."""
    out: list[tuple[str, int, int]] = []
    for key in dict.fromkeys(keys):
        start = keys.index(key)
        end = len(keys) - keys[::-1].index(key)
        if keys[start:end].count(key) != end - start:
            return None
        out.append((key, start, end))
    return None if len(out) > 64 else sorted(out, key=lambda s: s[1])


def test_spans_agree_with_the_obvious_definition() -> None:
    import random

    rng = random.Random(7)
    cases = [
        ["a", "a", "b", "a", "a"],  # the galloping search would jump over the 'b'
        ["a"] * 5 + ["b"] + ["a"] * 2,
        ["a"] * 9 + ["b"] * 1 + ["a"],
        ["a"] * 64,
        [f"k{i}" for i in range(64)],
        [f"k{i}" for i in range(65)],
    ]
    for _ in range(400):
        alphabet = "abc"[: rng.randint(1, 3)]
        keys = [k for k in alphabet for _ in range(rng.randint(0, 40))]
        if rng.random() < 0.5 and keys:  # one point moved elsewhere
            keys.insert(rng.randrange(len(keys) + 1), keys.pop(rng.randrange(len(keys))))
        cases.append(keys)
    for keys in cases:
        assert _columns(keys).spans() == _reference_spans(keys), keys


def test_one_point_per_key_batches_give_the_chunks_of_one_point_series() -> None:
    """A batch of many keys with one point each (MLflow's log_batch) is packed once and sliced:
    the same rows, in key order, as each point written as its own series."""
    from shipyard.metadata.sql.metric_chunks import _chunk

    keys = [f"k{i:03d}" for i in range(200)]
    order = list(reversed(range(200)))  # not in key order: the chunks still are
    batch = MetricColumns(
        [keys[i] for i in order],
        [i / 8 if i % 7 else float("nan") for i in order],
        [i * 3 - 100 for i in order],
        [2**62 + i for i in order],
    )
    assert batch.spans() is None and batch.groups() is not None
    want = [
        _chunk("r", keys[i], [i / 8 if i % 7 else float("nan")], [i * 3 - 100], [2**62 + i])
        for i in range(200)
    ]
    got = chunks_of("r", batch)
    assert [c["key"] for c in got] == keys
    for one, other in zip(got, want, strict=True):
        assert one.keys() == other.keys()
        assert {k: v for k, v in one.items() if k not in ("values", "_latest")} == {
            k: v for k, v in other.items() if k not in ("values", "_latest")
        }
        assert one["values"] == other["values"]  # bytes: NaN compares equal here
        assert repr(one["_latest"]) == repr(other["_latest"])
