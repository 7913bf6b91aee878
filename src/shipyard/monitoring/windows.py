"""Time windows: ``1h``, ``30m``, ``1d``, ``7d`` (the last span before now) or ``last:N`` (the last
N logged rows). All times are UTC; an aware datetime in another zone is converted, a naive one is
taken as UTC. A window holds rows with ``start <= ts < end``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from shipyard.core.errors import InvalidInputError

_SPAN_RE = re.compile(r"^(\d+)([smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_span(text: str) -> timedelta:
    match = _SPAN_RE.match(text.strip())
    if not match or int(match.group(1)) == 0:
        raise InvalidInputError(f"window {text!r}: use a span like 30m, 1h, 1d or 7d, or last:N")
    return timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)])


def as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@dataclass(frozen=True)
class Window:
    """``[start, end)`` in UTC, or the last ``last`` rows (``start``/``end`` then None)."""

    start: datetime | None = None
    end: datetime | None = None
    last: int | None = None

    @classmethod
    def parse(cls, text: str, now: datetime) -> Window:
        text = text.strip()
        if text.startswith("last:"):
            count = text[5:]
            if not count.isdigit() or int(count) < 1:
                raise InvalidInputError(f"window {text!r}: last:N needs a positive row count, e.g. last:5000")
            return cls(last=int(count))
        end = as_utc(now)
        return cls(end - parse_span(text), end)

    def label(self) -> str:
        if self.last is not None:
            return f"last {self.last} rows"
        start = f"{self.start:%Y-%m-%d %H:%M}" if self.start else "…"
        end = f"{self.end:%Y-%m-%d %H:%M}" if self.end else "now"
        return f"{start} - {end} UTC"


def buckets(start: datetime, end: datetime, every: timedelta) -> list[tuple[datetime, datetime]]:
    """``[start, end)`` cut into ``every``-long windows aligned to multiples of ``every`` since the
    Unix epoch (so hourly buckets start on the hour); the first and last are clipped to the range."""
    start, end = as_utc(start), as_utc(end)
    if end <= start:
        return []
    step = every.total_seconds()
    if step <= 0:
        raise InvalidInputError("the bucket size must be positive")
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    first = epoch + timedelta(seconds=(start - epoch).total_seconds() // step * step)
    out = []
    edge = first
    while edge < end:
        nxt = edge + every
        out.append((max(edge, start), min(nxt, end)))
        edge = nxt
    return out
