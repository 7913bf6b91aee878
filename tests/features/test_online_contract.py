"""The online-store contract (shipyard.features.online.base), over every backend."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from shipyard.features.online.base import OnlineStore, encode_key
from shipyard.features.online.redis import RedisOnlineStore
from shipyard.features.online.registry import open_online_store
from shipyard.features.online.sqlite import SqliteOnlineStore
from tests.services import require_redis

BACKENDS = ["sqlite", "redis"]


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OnlineStore]:
    if request.param == "sqlite":
        backend: OnlineStore = SqliteOnlineStore(tmp_path / "online.db")
    else:
        url = require_redis()
        backend = RedisOnlineStore(url, prefix=f"shipyard-test-{uuid.uuid4().hex}")
    yield backend
    backend.delete_view("v")
    backend.delete_view("w")
    backend.close()


def test_read_answers_each_key_in_order_with_none_for_unknown(store: OnlineStore) -> None:
    store.write(
        "v", [(encode_key([1]), 10, {"a": 1.5, "b": "x"}), (encode_key([2]), 11, {"a": None, "b": "y"})]
    )
    got = store.read("v", [encode_key([2]), encode_key([3]), encode_key([1]), encode_key([2])])
    assert got == [(11, {"a": None, "b": "y"}), None, (10, {"a": 1.5, "b": "x"}), (11, {"a": None, "b": "y"})]
    assert store.read("v", [encode_key([1])]) == [(10, {"a": 1.5, "b": "x"})]


def test_newest_event_wins_and_an_equal_one_replaces(store: OnlineStore) -> None:
    key = encode_key(["DE", 7])
    store.write("v", [(key, 100, {"a": 1})])
    store.write("v", [(key, 50, {"a": 2})])  # older: ignored
    assert store.read("v", [key]) == [(100, {"a": 1})]
    store.write("v", [(key, 100, {"a": 3})])  # same event time: a correction replaces
    assert store.read("v", [key]) == [(100, {"a": 3})]
    store.write("v", [(key, 101, {"a": 4}), (key, 99, {"a": 5})])  # within one write, too
    assert store.read("v", [key]) == [(101, {"a": 4})]


def test_keys_are_typed_and_views_are_separate(store: OnlineStore) -> None:
    store.write("v", [(encode_key([1]), 1, {"a": "int"}), (encode_key(["1"]), 1, {"a": "str"})])
    store.write("w", [(encode_key([1]), 1, {"a": "other view"})])
    assert store.read("v", [encode_key([1]), encode_key(["1"])]) == [(1, {"a": "int"}), (1, {"a": "str"})]
    assert store.delete_view("v") == 2
    assert store.read("v", [encode_key([1])]) == [None]
    assert store.read("w", [encode_key([1])]) == [(1, {"a": "other view"})]


def test_watermarks_are_per_view_and_go_with_the_view(store: OnlineStore) -> None:
    assert store.watermark("v") is None
    store.set_watermark("v", 1_000, 2_000)
    store.set_watermark("v", 3_000, 4_000)
    store.set_watermark("w", 5, 6)
    assert store.watermark("v") == (3_000, 4_000)
    store.delete_view("v")
    assert store.watermark("v") is None
    assert store.watermark("w") == (5, 6)


def test_large_writes_and_reads_round_trip(store: OnlineStore) -> None:
    records = [(encode_key([i]), i, {"x": i * 2, "s": f"n{i}"}) for i in range(5_000)]
    assert store.write("v", iter(records)) == 5_000
    keys = [encode_key([i]) for i in range(0, 5_000, 7)]
    assert store.read("v", keys) == [(i, {"x": i * 2, "s": f"n{i}"}) for i in range(0, 5_000, 7)]


def test_unknown_scheme_lists_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(Exception, match="use one of sqlite, redis"):
        open_online_store("memcached://x")
    store = open_online_store(f"sqlite:///{tmp_path}/o.db")
    assert isinstance(store, SqliteOnlineStore)
    store.close()
    assert (tmp_path / "o.db").exists()
