"""Passwords of users who sign in to the web UI: argon2id hashes (``argon2-cffi`` with its default
parameters), a constant-time library check, rehashing when the parameters change.

Pure functions (no I/O); the server stores only the encoded hash (``users.password_hash``). The
plain password never leaves the request that carries it: not logged, not stored, not audited.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

from shipyard.core.errors import InvalidInputError

if TYPE_CHECKING:
    from argon2 import PasswordHasher

MIN_LENGTH = 12
MAX_LENGTH = 1024  # bounds the work one sign-in request can ask of argon2


@cache
def _hasher() -> PasswordHasher:
    from argon2 import PasswordHasher

    return PasswordHasher()  # argon2id, the library's (RFC 9106 low-memory) defaults


@cache
def _decoy() -> str:
    """A hash to check unknown names against, so a wrong name costs as long as a wrong password."""
    return _hasher().hash("not a password of anyone")


def check_password_strength(password: str) -> str:
    """``password`` when it is acceptable; InvalidInputError (without echoing it) otherwise."""
    if len(password) < MIN_LENGTH:
        raise InvalidInputError(f"a password needs at least {MIN_LENGTH} characters; choose a longer one")
    if len(password) > MAX_LENGTH:
        raise InvalidInputError(f"a password has at most {MAX_LENGTH} characters")
    if len(set(password)) < 5:
        raise InvalidInputError("that password repeats too few characters; choose a less guessable one")
    return password


def hash_password(password: str) -> str:
    """The argon2id hash of ``password`` (a new random salt every time)."""
    return _hasher().hash(password)


def verify_password(stored: str | None, password: str) -> tuple[bool, str | None]:
    """(whether ``password`` matches ``stored``, a new hash to store when the match was made with
    outdated parameters). ``stored`` None (no user or no password) is checked against a decoy hash,
    so the answer takes as long and is always False."""
    from argon2.exceptions import InvalidHashError, VerificationError

    if len(password) > MAX_LENGTH:
        return False, None
    hasher = _hasher()
    try:
        hasher.verify(stored if stored is not None else _decoy(), password)
    except (VerificationError, InvalidHashError):
        return False, None
    if stored is None:
        return False, None
    return True, hasher.hash(password) if hasher.check_needs_rehash(stored) else None
