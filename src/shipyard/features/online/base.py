"""The online-store interface: the latest feature values per entity, for lookups at serving time.

A backend keeps, per (view, entity key), one record: the event time of the values and the values
themselves (a JSON object, feature name -> value). Rules every backend follows, checked by one
contract suite (``tests/features/test_online_contract.py``):

- :meth:`OnlineStore.write` keeps the record with the newest event time: a write older than the
  stored one is ignored (materializing an old window never overwrites fresher values); an equal
  event time replaces (a re-materialization of corrected data wins).
- :meth:`OnlineStore.read` answers one entry per requested key, in order: ``None`` for an unknown
  key, else ``(event_time_us, values)``.
- Keys are encoded by :func:`encode_key` (JSON of the join-key values in the view's key order), so
  ``1`` and ``"1"`` are different entities.
- :meth:`OnlineStore.delete_view` removes every record of a view (and its watermark) and nothing else.
- :meth:`OnlineStore.set_watermark` / :meth:`OnlineStore.watermark`: the event time up to which a
  view was last materialized (its freshness), and when that happened.

To add a backend: subclass, implement the four methods, register its URI scheme in
``shipyard.features.online.registry`` and add it to the contract suite's backends.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Sequence
from typing import Any, TypeAlias

import orjson

#: (encoded entity key, event time in microseconds since the epoch UTC, {feature: value} or that
#: object's JSON already encoded — materialization builds it in DuckDB)
Record: TypeAlias = tuple[str, int, dict[str, Any] | bytes | str]


def encode_key(values: Sequence[Any]) -> str:
    """The entity key as stored: JSON of the join-key values, e.g. ``[42]`` or ``["DE", 7]``."""
    return orjson.dumps(list(values), option=orjson.OPT_SERIALIZE_NUMPY).decode()


def encode_values(values: dict[str, Any] | bytes | str) -> bytes | str:
    if isinstance(values, bytes | str):
        return values
    return orjson.dumps(values, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NAIVE_UTC)


class OnlineStore(abc.ABC):
    uri: str

    @abc.abstractmethod
    def write(self, view: str, records: Iterable[Record]) -> int:
        """Store records (newest event time wins); return how many were offered."""

    @abc.abstractmethod
    def read(self, view: str, keys: Sequence[str]) -> list[tuple[int, dict[str, Any]] | None]:
        """One answer per key, in order; None where the entity has no record."""

    @abc.abstractmethod
    def delete_view(self, view: str) -> int:
        """Remove every record of the view; return how many were removed."""

    @abc.abstractmethod
    def set_watermark(self, view: str, until_us: int, at_us: int) -> None:
        """Record that the view holds every row up to ``until_us`` (written at ``at_us``)."""

    @abc.abstractmethod
    def watermark(self, view: str) -> tuple[int, int] | None:
        """(until_us, at_us) of the last materialization, or None."""

    @abc.abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> OnlineStore:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
