"""Column types shared by the schema: UTC datetimes as integer microseconds, JSON as text."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Dialect, Text
from sqlalchemy.types import TypeDecorator

from shipyard.core.clock import EPOCH, from_micros, to_micros

__all__ = ["EPOCH", "UNREADABLE", "DocumentJsonText", "JsonText", "UtcDateTime", "from_micros", "to_micros"]


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime stored as BIGINT microseconds since the epoch.

    Integers sort, index and compare the same way on every dialect, and keep microsecond precision.
    """

    impl = BigInteger
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> int | None:
        return None if value is None else to_micros(value)

    def process_result_value(self, value: Any | None, dialect: Dialect) -> datetime | None:
        return None if value is None else from_micros(int(value))


class JsonText(TypeDecorator[Any]):
    """A JSON value stored as text (portable; we never query inside it)."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any | None, dialect: Dialect) -> str | None:
        return None if value is None else json.dumps(value, sort_keys=True)

    def process_result_value(self, value: str | None, dialect: Dialect) -> Any | None:
        return None if value is None else json.loads(value)


UNREADABLE = "$unreadable"


class DocumentJsonText(JsonText):
    """A free-form JSON document (a spec, a signature, metadata) that a read never fails on: text
    that does not decode comes back as ``{"$unreadable": why}``, so one damaged row cannot make a
    whole list answer 500. Never for values a decision depends on (permissions stay JsonText)."""

    cache_ok = True

    def process_result_value(self, value: str | None, dialect: Dialect) -> Any | None:
        try:
            return super().process_result_value(value, dialect)
        except ValueError as exc:  # JSONDecodeError, or a number too long to convert
            return {UNREADABLE: f"the stored JSON does not decode: {str(exc)[:80]}"}
