"""Identifiers: time-ordered, URL-safe, 32 hex chars (a UUIDv7 layout)."""

from __future__ import annotations

import os
import time

_HEX = frozenset("0123456789abcdef")


def new_id() -> str:
    """A new id whose lexical order follows creation time (ms), with 74 random bits."""
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & ((1 << 48) - 1)) << 80 | (0x7 << 76) | (rand & ((1 << 76) - 1))
    return f"{value:032x}"


def looks_like_id(text: str) -> bool:
    return len(text) == 32 and set(text) <= _HEX
