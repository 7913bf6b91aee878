"""API tokens: random values with a recognizable prefix, stored only as their sha256.

Tokens carry 256 bits of randomness, so a plain sha256 is a safe at-rest hash (no salt or slow
hash needed: there is nothing to brute-force). Comparisons use :func:`hmac.compare_digest`.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import math
import re
import secrets
from collections import Counter
from datetime import timedelta

from shipyard.core.errors import InvalidInputError

TOKEN_PREFIX = "shp_"  # noqa: S105 - a prefix, not a secret
_TOKEN_RE = re.compile(r"^shp_[A-Za-z0-9_\-]{32,128}$")
_DURATION_RE = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
DISPLAY_PREFIX_LEN = 12  # "shp_" + 8 characters: enough to recognize a token in a listing
MAX_TOKEN_CACHE_S = 5.0  # the longest a checked token may be trusted without a new look (revocations)
MIN_TOKEN_BITS = 128  # a token chosen by a person (SHIPYARD_ADMIN_TOKEN) must look at least this random
_MIN_MATCH = 3  # repeats shorter than this are left to the character statistics


def new_token() -> str:
    """A fresh token value: ``shp_`` + 43 URL-safe characters (32 random bytes)."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def looks_like_token(value: str) -> bool:
    return bool(_TOKEN_RE.fullmatch(value))


def estimated_bits(value: str) -> float:
    """A conservative estimate of the randomness in a token's characters after ``shp_``.

    The least of three views of the string, each of which a guesser could exploit: the Shannon
    entropy of its characters (few distinct characters: ``aaaa...``), of the steps between
    neighbouring characters (runs and sequences: ``abcdefg...``, ``abab...``), and an LZ77-style
    cost where a repeat of earlier text costs only its position and length (``Passw0rd!Passw0rd!``).
    A ``secrets.token_urlsafe(32)`` value scores about 200; ``shp_`` + 40 times ``a`` scores 0.
    """
    text = value.removeprefix(TOKEN_PREFIX)
    if not text:
        return 0.0
    steps = [ord(b) - ord(a) for a, b in itertools.pairwise(text)]
    return min(_shannon_bits(list(text)), _shannon_bits(steps) + 6.0, _lz_bits(text))


def _shannon_bits(symbols: list[str] | list[int]) -> float:
    counts = Counter(symbols)
    n = len(symbols)
    return max(0.0, -sum(c * math.log2(c / n) for c in counts.values()))


def _lz_bits(text: str) -> float:
    """Literals cost 6 bits (one of 64 URL-safe characters); a copy of earlier text costs the bits
    of its offset and length."""
    bits, i = 0.0, 0
    while i < len(text):
        best = 0
        for start in range(i):
            length = 0
            while i + length < len(text) and text[start + length] == text[i + length]:
                length += 1
            best = max(best, length)
        if best >= _MIN_MATCH:
            bits += math.log2(i) + math.log2(best) + 1
            i += best
        else:
            bits += 6.0
            i += 1
    return bits


def check_token_strength(value: str, what: str) -> None:
    """Refuse a token value chosen by a person unless it is well formed and looks random enough."""
    make = "python -c \"import secrets; print('shp_' + secrets.token_urlsafe(32))\""
    if not looks_like_token(value):
        raise InvalidInputError(
            f"{what} must look like shp_<at least 32 URL-safe characters>; make one with: {make}"
        )
    if estimated_bits(value) < MIN_TOKEN_BITS:
        raise InvalidInputError(
            f"{what} is too predictable (repeated or sequential characters, or too few distinct ones; "
            f"it needs about {MIN_TOKEN_BITS} random bits); make one with: {make}"
        )


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
