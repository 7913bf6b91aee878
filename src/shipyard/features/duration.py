"""Durations as users write them in feature views: ``"30d"``, ``"12h"``, ``"1h30m"``, ``"90s"``,
``"2w"``, a :class:`datetime.timedelta`, or a number of seconds."""

from __future__ import annotations

import re
from datetime import timedelta

from shipyard.core.errors import InvalidInputError

_UNITS = {"w": 604_800, "d": 86_400, "h": 3_600, "m": 60, "s": 1}
_PART = re.compile(r"(\d+(?:\.\d+)?)([wdhms])")
_WHOLE = re.compile(r"(?:\d+(?:\.\d+)?[wdhms])+")
#: longer than any real TTL, short enough that timestamps plus it never overflow
MAX = timedelta(days=365 * 1000)


def parse_duration(value: object, *, what: str = "ttl") -> timedelta:
    """A positive duration, or InvalidInputError naming ``what`` and the accepted forms."""
    hint = f"use a number with a unit w, d, h, m or s (e.g. '30d', '1h30m') for {what}"
    if isinstance(value, bool):
        raise InvalidInputError(f"{what} {value!r} is not a duration: {hint}")
    if isinstance(value, timedelta):
        result = value
    elif isinstance(value, int | float):
        result = timedelta(seconds=float(value))
    elif isinstance(value, str):
        text = value.strip().lower().replace(" ", "")
        if not _WHOLE.fullmatch(text):
            raise InvalidInputError(f"{what} {value!r} is not a duration: {hint}")
        seconds = sum(float(n) * _UNITS[unit] for n, unit in _PART.findall(text))
        if seconds > MAX.total_seconds():
            raise InvalidInputError(f"{what} {value!r} is longer than 1000 years: {hint}")
        result = timedelta(seconds=seconds)
    else:
        raise InvalidInputError(f"{what} {value!r} is not a duration: {hint}")
    if result <= timedelta(0) or result > MAX:
        raise InvalidInputError(f"{what} {value!r} must be positive and at most 1000 years: {hint}")
    return result


def format_duration(value: timedelta) -> str:
    """The shortest ``"30d"``-style text for a duration :func:`parse_duration` reads back."""
    seconds = value.total_seconds()
    if seconds != int(seconds):
        return f"{seconds}s"
    rest = int(seconds)
    parts = []
    for unit, size in _UNITS.items():
        if unit == "w":  # "30d" reads better than "4w2d"
            continue
        count, rest = divmod(rest, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"
