"""API tokens: random values with a recognizable prefix, stored only as their sha256.

Tokens carry 256 bits of randomness, so a plain sha256 is a safe at-rest hash (no salt or slow
hash needed: there is nothing to brute-force). Comparisons use :func:`hmac.compare_digest`.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import timedelta

from shipyard.core.errors import InvalidInputError

TOKEN_PREFIX = "shp_"  # noqa: S105 - a prefix, not a secret
_TOKEN_RE = re.compile(r"^shp_[A-Za-z0-9_\-]{32,128}$")
_DURATION_RE = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
DISPLAY_PREFIX_LEN = 12  # "shp_" + 8 characters: enough to recognize a token in a listing


def new_token() -> str:
    """A fresh token value: ``shp_`` + 43 URL-safe characters (32 random bytes)."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def looks_like_token(value: str) -> bool:
    return bool(_TOKEN_RE.fullmatch(value))


def hash_token(value: str) -> str:
    """The sha256 hex digest stored for a token value."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def hashes_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("ascii"), b.encode("ascii"))


def display_prefix(value: str) -> str:
    return value[:DISPLAY_PREFIX_LEN]


def parse_duration(text: str) -> timedelta:
    """``"30d"``, ``"12h"``, ``"90m"``, ``"2w"``, ``"45s"`` as a timedelta (positive)."""
    match = _DURATION_RE.fullmatch(text or "")
    if match is None:
        raise InvalidInputError(
            f"invalid duration {text!r}; use a number and a unit: 45s, 90m, 12h, 30d or 2w"
        )
    amount = int(match.group(1))
    if amount <= 0:
        raise InvalidInputError(f"invalid duration {text!r}: it must be more than zero")
    return timedelta(seconds=amount * _UNITS[match.group(2)])
