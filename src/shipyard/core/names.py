"""Validation of user-supplied names and keys, done once, on the value that is then used."""

from __future__ import annotations

import re
import unicodedata

from shipyard.core.errors import InvalidInputError

_MAX_LEN = 250
_KEY_RE = re.compile(r"^[A-Za-z0-9_\-. /:@+=]+$")


def _has_control(text: str) -> bool:
    return any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in text)


def validate_key(kind: str, key: object) -> str:
    """A param, metric, tag or artifact key: non-empty, printable, no traversal, no absolute path.

    Keys may contain ``/`` to group (``train/loss``) but no ``..`` segment, no leading ``/``,
    no backslash, NUL or control characters.
    """
    if (  # the common case, decided without building anything (the checks below explain a refusal)
        key.__class__ is str
        and 0 < len(key) <= _MAX_LEN
        and _KEY_RE.fullmatch(key)  # fullmatch: '$' alone would let a trailing newline through
        and key[0] != "/"
        and key[-1] != "/"
        and "//" not in key
        and not (key[1:2] == ":" and key[0].isalpha())
        and ("." not in key or not any(p in ("..", ".") for p in key.split("/")))
    ):
        return key
    if not isinstance(key, str):
        raise InvalidInputError(f"{kind} name must be a string, got {type(key).__name__}")
    if not key:
        raise InvalidInputError(f"{kind} name must not be empty")
    if len(key) > _MAX_LEN:
        raise InvalidInputError(f"{kind} name {key[:40]!r}... is longer than {_MAX_LEN} characters")
    if "\x00" in key or _has_control(key):
        raise InvalidInputError(f"{kind} name {key!r} contains a NUL or control character; remove it")
    if "\\" in key:
        raise InvalidInputError(f"{kind} name {key!r} contains a backslash; use '/' to group names")
    if key.startswith("/") or re.match(r"^[A-Za-z]:", key):
        raise InvalidInputError(f"{kind} name {key!r} is an absolute path; use a relative name")
    parts = key.split("/")
    if any(p in ("..", ".") for p in parts):
        raise InvalidInputError(f"{kind} name {key!r} contains a '.' or '..' segment; remove it")
    if any(p == "" for p in parts):
        raise InvalidInputError(f"{kind} name {key!r} has an empty segment ('//' or a trailing '/')")
    if not _KEY_RE.match(key):
        bad = sorted({ch for ch in key if not _KEY_RE.match(ch)})
        raise InvalidInputError(
            f"{kind} name {key!r} contains unsupported characters {bad}; "
            "use letters, digits and _ - . / : @ + = or spaces"
        )
    return key


def validate_name(kind: str, name: object) -> str:
    """A flat name (run name, model name, namespace...): like a key but without '/'."""
    text = validate_key(kind, name)
    if "/" in text:
        raise InvalidInputError(f"{kind} name {text!r} must not contain '/'")
    return text
