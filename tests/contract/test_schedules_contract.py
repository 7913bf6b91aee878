"""The scheduler's claims (ScheduleStore) on SQLite and Postgres: a (flow, source, position) is
claimed once, even by concurrent processes' stores; a server URI is refused in one line."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from shipyard.core.errors import ConfigurationError, InvalidInputError
from shipyard.metadata import open_metadata_store
from shipyard.metadata.schedules import ScheduleClaim, ScheduleStore, open_schedule_store
from shipyard.metadata.sql import SqlMetadataStore

AT = datetime(2024, 1, 1, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgres"])
def db_uri(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'schedules.db'}"
    uri, _ = request.getfixturevalue("postgres_schema")
    return str(uri)


@pytest.fixture
def store(db_uri: str) -> Iterator[ScheduleStore]:
    metadata = SqlMetadataStore(db_uri)
    try:
        yield open_schedule_store(metadata)
    finally:
        metadata.close()


def _claim(position: int, *, flow: str = "f", source: str = "cron:0 * * * *", kind: str = "fire",
           by: str = "a") -> ScheduleClaim:  # fmt: skip
    return ScheduleClaim(flow, source, position, kind, AT, by, event="schedule" if kind == "fire" else None)


def test_a_position_is_claimed_once(store: ScheduleStore) -> None:
    assert store.last_position("f", "cron:0 * * * *") is None
    assert store.claim(_claim(5)) is True
    assert store.claim(_claim(5, by="b")) is False  # another scheduler, the same tick
    assert store.claim(_claim(5, kind="baseline")) is False
    assert store.claim(_claim(7, kind="baseline")) is True
    assert store.claim(_claim(6)) is True
    assert store.last_position("f", "cron:0 * * * *") == 7
    assert store.last_position("f", "dataset:d") is None  # per source
    assert store.last_position("g", "cron:0 * * * *") is None  # per flow
    (first,) = store.list_claims("f", source="cron:0 * * * *", kind="fire", limit=1)
    assert (first.position, first.claimed_by, first.run_id) == (6, "a", None)
    assert first.claimed_at == AT


def test_the_start_of_a_claimed_fire_is_recorded(store: ScheduleStore) -> None:
    store.claim(_claim(1))
    store.claim(_claim(2))
    store.record_start("f", "cron:0 * * * *", 1, run_id="r1")
    store.record_start("f", "cron:0 * * * *", 2, run_id=None, error="FlowError: " + "x" * 5000)
    two, one = store.list_claims("f", kind="fire")
    assert (one.run_id, one.error) == ("r1", None)
    assert two.run_id is None and two.error is not None and two.error.startswith("FlowError: x")
    assert len(two.error) <= 2000


def test_claims_are_listed_in_pages_in_a_total_order(store: ScheduleStore) -> None:
    for flow in ("b", "a"):
        for source in ("dataset:d", "cron:* * * * *"):
            for position in (3, 1, 2):
                store.claim(_claim(position, flow=flow, source=source))
    everything = store.list_claims()
    keys = [(c.flow, c.source, -c.position) for c in everything]
    assert keys == sorted(keys) and len(keys) == 12
    paged = [c for offset in range(0, 12, 5) for c in store.list_claims(limit=5, offset=offset)]
    assert paged == everything
    assert [c.position for c in store.list_claims("a", source="dataset:d")] == [3, 2, 1]
    with pytest.raises(InvalidInputError):
        store.list_claims(limit=-1)


def test_bad_claims_are_refused(store: ScheduleStore) -> None:
    with pytest.raises(InvalidInputError, match="kind"):
        store.claim(_claim(1, kind="maybe"))
    with pytest.raises(InvalidInputError, match="source"):
        store.claim(_claim(1, source="x" * 601))
    with pytest.raises(InvalidInputError, match="flow name"):
        store.claim(_claim(1, flow="a/b"))


def test_concurrent_schedulers_claim_each_tick_once(db_uri: str) -> None:
    """Four schedulers, each with its own connection pool (as separate processes would have),
    race for the same 40 ticks: every tick is won exactly once."""
    stores = [SqlMetadataStore(db_uri) for _ in range(4)]
    try:
        claims = [open_schedule_store(s) for s in stores]
        claims[0].last_position("f", "cron:* * * * *")  # migrations done before the race
        barrier = threading.Barrier(len(claims))
        won: list[list[int]] = [[] for _ in claims]

        def race(i: int) -> None:
            barrier.wait()
            for position in range(40):
                if claims[i].claim(_claim(position, source="cron:* * * * *", by=f"s{i}")):
                    won[i].append(position)

        threads = [threading.Thread(target=race, args=(i,)) for i in range(len(claims))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(p for w in won for p in w) == list(range(40))
        stored = claims[0].list_claims("f", source="cron:* * * * *")
        assert len(stored) == 40
        assert all(c.claimed_by == f"s{i}" for i, w in enumerate(won) for c in stored if c.position in w)
    finally:
        for s in stores:
            s.close()


def test_a_server_uri_is_refused_in_one_line() -> None:
    metadata = open_metadata_store("http://127.0.0.1:9")
    try:
        with pytest.raises(ConfigurationError) as info:
            open_schedule_store(metadata)
    finally:
        metadata.close()
    message = str(info.value)
    assert "\n" not in message and "sqlite:///" in message and "server" in message
