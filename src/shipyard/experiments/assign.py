"""Sticky assignment: a unit (a request id, or the value of a key such as ``customer_id``) lands
in the same arm every time, by hashing — no state is kept."""

from __future__ import annotations

import hashlib
from typing import Any

BUCKETS = 10_000


def bucket(unit: str, salt: str = "") -> int:
    """The unit's bucket in ``[0, BUCKETS)``: the first 8 bytes of sha256(salt + ':' + unit)."""
    digest = hashlib.sha256(f"{salt}:{unit}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


def arm(unit: str, share: float, salt: str = "") -> int:
    """1 (challenger) for a ``share`` percent of units, else 0 (control)."""
    return 1 if bucket(unit, salt) < round(share * BUCKETS / 100) else 0


def unit_value(value: Any) -> str | None:
    """A request key's value as the unit (strings and integers; anything else is no unit)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (str, int)):
        text = str(value)
        return text if 0 < len(text) <= 256 else None
    return None
