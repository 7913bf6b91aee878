"""Validation of user-supplied names and keys, done once, on the value that is then used.

Look-alike names
----------------
Two names are *the same name* for the stores that keep names unique (registered models, a
model's aliases, users) when their :func:`canonical_name` is equal. The canonical form is:

1. NFKC normalization (fullwidth letters U+FF21.. -> ``A``.., the ligature U+FB01 -> ``fi``,
   no-break space -> space, the Angstrom sign U+212B -> U+00C5), then upper case and case
   folding (``Fraud`` -> ``fraud``, U+00DF sharp s -> ``ss``, and the dotless i U+0131 -> ``i``,
   which folding alone keeps), then NFKC again;
2. format characters (Unicode category Cf: zero-width spaces and joiners, soft hyphens,
   direction marks) removed;
3. every run of separators - whitespace, ``-``, ``_`` and ``.`` - replaced by one ``-``, and
   separators at either end dropped;
4. the three steps repeated until nothing changes.

So ``fraud``, ``Fraud``, ``fraud ``, ``fraud.`` and its fullwidth spelling are one name, and so are
``fraud-detector``, ``fraud_detector`` and ``Fraud Detector``; ``frauddetector`` is another.
Lookups stay exact (``Fraud`` never silently finds ``fraud``); a store's not-found error may
suggest the look-alike. Homoglyphs across scripts (Cyrillic U+0430 for Latin ``a``) are not
folded: flat names are ASCII-only (see :func:`validate_key`), so they never get that far.

A flat name being created (:func:`validate_name` with ``new=True``) is also refused outright
when it starts or ends with whitespace or ends with ``.``; any flat name that is not NFKC-normal
is refused with the normal form as the suggested fix.
"""

from __future__ import annotations

import re
import unicodedata

from shipyard.core.errors import InvalidInputError

_MAX_LEN = 250
_KEY_RE = re.compile(r"^[A-Za-z0-9_\-. /:@+=]+$")
_SEPARATORS_RE = re.compile(r"[\s\-_.]+")
_ALIAS_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_\-]{0,99}$")
_RESERVED_ALIASES = ("latest",)  # models:/NAME/latest names the newest version, never an alias


def _canonical_step(text: str) -> str:
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).upper().casefold())
    visible = "".join(ch for ch in folded if unicodedata.category(ch) != "Cf")
    return "-".join(part for part in _SEPARATORS_RE.split(visible) if part)


def canonical_name(text: str) -> str:
    """The form two names share when they differ only by case, width, invisible characters or
    separators; see the module doc for the exact rules. Pure and idempotent: the steps repeat
    until nothing changes (dropping a zero-width space can let NFKC compose what it separated)."""
    current = text
    for _ in range(8):  # settles in one or two rounds
        following = _canonical_step(current)
        if following == current:
            break
        current = following
    return current


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


def validate_name(kind: str, name: object, *, new: bool = False) -> str:
    """A flat name (run name, model name, namespace...): like a key but without '/'.

    ``new=True`` is for a name being created (a run, a model, an alias, a user): it must also
    neither start nor end with whitespace nor end with '.'. Lookups leave that out, so a name
    stored before the rule existed can still be read and deleted. Either way a name that is not
    NFKC-normal (fullwidth letters, ligatures) is refused with its normal form as the fix.
    """
    if isinstance(name, str) and not name.isascii():
        normal = unicodedata.normalize("NFKC", name)
        if normal != name:
            raise InvalidInputError(
                f"{kind} name {name!r} has characters with a plainer equivalent; use {normal!r}"
            )
    text = validate_key(kind, name)
    if "/" in text:
        raise InvalidInputError(f"{kind} name {text!r} must not contain '/'")
    if new:
        if text[0].isspace():
            raise InvalidInputError(f"{kind} name {text!r} starts with whitespace; use {text.strip()!r}")
        if text[-1].isspace():
            raise InvalidInputError(f"{kind} name {text!r} ends with whitespace; use {text.strip()!r}")
        if text[-1] == ".":
            raise InvalidInputError(f"{kind} name {text!r} ends with '.'; use {text.rstrip('. ')!r}")
    return text


def validate_model_name(name: object, *, new: bool = False) -> str:
    """A registered model's name: a flat name (see :func:`validate_name` for ``new``), unique
    among models by :func:`canonical_name`."""
    return validate_name("model", name, new=new)


def validate_user_name(name: object, *, new: bool = False) -> str:
    """A user's name: a flat name (see :func:`validate_name` for ``new``), unique among users by
    :func:`canonical_name`."""
    return validate_name("user", name, new=new)


def validate_alias_name(alias: object, *, new: bool = False) -> str:
    """A model alias: a letter, then letters, digits, '_' and '-' (at most 100); never 'latest'
    (nor, for a ``new`` alias, a look-alike such as 'Latest').

    Unique per model by :func:`canonical_name`, so ``Champion`` cannot sit beside ``champion``."""
    text = validate_name("alias", alias, new=new)
    reserved = (canonical_name(text) if new else text) in _RESERVED_ALIASES
    if not _ALIAS_RE.match(text) or reserved:
        raise InvalidInputError(
            f"alias {text!r} is not valid: start with a letter, use letters, digits, '_' and '-' "
            "(at most 100 characters); 'latest' is reserved"
        )
    return text
