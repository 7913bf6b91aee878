"""The REST API's contract in one place: the bounds and patterns its request schemas state, and
the checks behind them that JSON Schema cannot say on its own.

Every pattern here is exactly the rule the code applies (``shipyard.core.names``,
``shipyard.security.policy``, ``shipyard.secrets.base``, ``shipyard.artifacts.cas``), written
without look-arounds so that JSON Schema, Pydantic's regex engine and a fuzzer all read it the
same way: what the schema allows, the code accepts, and what it forbids, the code refuses
(400 ``invalid_input``, one line).

- integers are bounded to +-(2**53-1) (exact in every JSON reader), or tighter where a 32-bit
  column keeps them (versions, counts); an integral float (``3.0``) is the integer JSON Schema
  says it is;
- free-form JSON (params, specs, signatures, importance, alert values) is walked: an integer
  outside int64 or a non-finite float is refused with the path to it (JSON has no NaN; the wire
  form of one is ``{"$float": "nan"}``), so no stored value can later fail a read;
- times are ISO 8601 *strings* with an offset: a number is not a time (it used to be read as
  seconds since 1970).
"""

from __future__ import annotations

import math
import re
from datetime import datetime
from typing import Any

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
# the integers of request fields: those every JSON reader holds exactly (a double's 53 bits), so a
# bound near 2**63 can never be read as a float and round past what the code checks
JSON_INT_MIN, JSON_INT_MAX = -(2**53 - 1), 2**53 - 1
INT32_MAX = 2**31 - 1
MAX_JSON_DEPTH = 64
_ISO_START = re.compile(r"\d{4}-\d{2}-\d{2}[T ]")  # a date and a time: never a bare number

# a flat name or key: ASCII letters, digits and _ - . : @ + = and spaces (core/names.py)
_C = r"A-Za-z0-9_\-. :@+="  # a name's characters
_C_NO_DOT = r"A-Za-z0-9_\- :@+="
_C_NO_COLON = r"A-Za-z0-9_\-. @+="
_END = r"A-Za-z0-9_\-:@+="  # a new name ends with neither whitespace nor '.'
# one '/'-separated segment: not empty, not '.' nor '..'
_SEGMENT = rf"(?:[{_C_NO_DOT}][{_C}]{{0,249}}|\.[{_C_NO_DOT}][{_C}]{{0,248}}|\.\.[{_C}]{{1,248}})"
# the first segment: also not a drive letter ('C:...')
_FIRST = (
    rf"(?:[0-9_\- :@+=][{_C}]{{0,249}}|[A-Za-z](?:[{_C_NO_COLON}][{_C}]{{0,248}})?"
    rf"|\.[{_C_NO_DOT}][{_C}]{{0,248}}|\.\.[{_C}]{{1,248}})"
)
NAME_MAX = 250
KEY_PATTERN = rf"^{_FIRST}(?:/{_SEGMENT})*$"  # param, metric, tag and artifact names (with maxLength)
NAME_PATTERN = rf"^{_FIRST}$"  # a flat name as looked up
NEW_NAME_PATTERN = (  # a flat name being created: also no whitespace at either end, no '.' at the end
    rf"^(?:[{_END}]|[0-9_\-:@+=][{_C}]{{0,248}}[{_END}]|\.[{_C}]{{0,248}}[{_END}]"
    rf"|[A-Za-z][A-Za-z0-9_\-@+=]|[A-Za-z][{_C_NO_COLON}][{_C}]{{0,247}}[{_END}])$"
)
# core/branches.py validate_branch: no '--', no '-' at the end, at most 40 (maxLength); the code
# also refuses main, master and production (production's own line)
_BRANCH = r"[a-z0-9](?:-?[a-z0-9_])*"
BRANCH_PATTERN = rf"^{_BRANCH}$"
# a run namespace: a new flat name, or a branch's namespace (core/branches.py validate_namespace)
NAMESPACE_PATTERN = rf"^(?:{NEW_NAME_PATTERN[1:-1]}|project:[a-z0-9][a-z0-9_\-]{{0,62}}/branch:{_BRANCH})$"
ALIAS_PATTERN = r"^[A-Za-z][A-Za-z0-9_\-]{0,99}$"
PROJECT_PATTERN = r"^[a-z0-9][a-z0-9_\-]{0,62}$"  # projects and environments (security/policy.py)
ROLE_PATTERN = r"^[a-z][a-z0-9_\-]{0,62}$"
SECRET_NAME_PATTERN = r"^[a-z][a-z0-9_]{0,62}$"  # noqa: S105 - a pattern, not a secret
MONITOR_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}$"
DIGEST_PATTERN = r"^[0-9a-f]{64}$"
CONTENT_DIGEST_PATTERN = r"^(?:blake3:)?[0-9a-f]{64}$"  # a dataset file or chunk: sha256, or BLAKE3
FEATURE_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"  # feature views (features/views.py check_identifier)
SCOPE_PATTERN = (
    r"^(?:\*|project:[a-z0-9][a-z0-9_\-]{0,62}"
    r"(?:/env:[a-z0-9][a-z0-9_\-]{0,62}|/branch:[a-z0-9][a-z0-9_\-]{0,39})?)$"
)


def integral(value: Any) -> Any:
    """Before an integer is checked: ``3.0`` is the integer 3 (JSON Schema's ``integer``); any other
    value goes on to the strict check unchanged (a string, a bool or ``3.5`` is refused there)."""
    if type(value) is float and value.is_integer():
        return int(value)
    return value


def iso_time_text(value: Any) -> Any:
    """Before a time is parsed: only a string may be one (Pydantic would read 0 as 1970-01-01)."""
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _ISO_START.match(value):
        raise ValueError("expected an ISO 8601 time string with an offset, like 2024-01-31T12:00:00Z")
    return value


def json_problem(value: Any, where: str = "", depth: int = 0) -> str | None:
    """Why ``value`` (parsed JSON) cannot be stored and answered back, or None."""
    if depth > MAX_JSON_DEPTH:
        return f"{where or 'value'} nests deeper than {MAX_JSON_DEPTH} levels"
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return None
    if isinstance(value, int):
        if not INT64_MIN <= value <= INT64_MAX:
            shown = str(value)[:30]
            return f"{where or 'value'}: integer {shown} is outside the 64-bit range; send it as a string"
        return None
    if isinstance(value, float):
        if not math.isfinite(value):
            return f'{where or "value"}: {value} is not a JSON number; send {{"$float": "nan"|"inf"|"-inf"}}'
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            problem = json_problem(item, f"{where}.{key}" if where else str(key), depth + 1)
            if problem:
                return problem
        return None
    if isinstance(value, list | tuple):
        for i, item in enumerate(value):
            problem = json_problem(item, f"{where}[{i}]", depth + 1)
            if problem:
                return problem
    return None


def checked_json(value: Any) -> Any:
    """``value`` when :func:`json_problem` finds nothing in it; else a ValueError (answered 400)."""
    problem = json_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def _monitor_text(value: str) -> str:
    return (
        f"invalid monitor name {value!r}: use letters, digits, '_', '-', '.' (at most 100), "
        "starting with a letter or digit"
    )


def _domain_refusal(pattern: str, kind: str, value: str) -> str | None:
    """The one-line message the code's own check gives ``value`` for ``pattern`` (None: it passes)."""
    from shipyard.artifacts.cas import validate_digest
    from shipyard.core.branches import validate_branch, validate_namespace
    from shipyard.core.errors import InvalidInputError
    from shipyard.core.names import validate_alias_name, validate_key, validate_name
    from shipyard.features.views import check_identifier
    from shipyard.secrets.base import check_secret_ref
    from shipyard.security.policy import check_project_name, check_scope

    checks: dict[str, Any] = {
        KEY_PATTERN: lambda: validate_key(kind, value),
        NAME_PATTERN: lambda: validate_name(kind, value),
        NEW_NAME_PATTERN: lambda: validate_name(kind, value, new=True),
        NAMESPACE_PATTERN: lambda: validate_namespace(value, new=True),
        BRANCH_PATTERN: lambda: validate_branch(value),
        ALIAS_PATTERN: lambda: validate_alias_name(value, new=True),
        PROJECT_PATTERN: lambda: (
            check_secret_ref("x", value) if kind == "environment" else check_project_name(value)
        ),
        SECRET_NAME_PATTERN: lambda: check_secret_ref("x", "x", value),
        SCOPE_PATTERN: lambda: check_scope(value),
        DIGEST_PATTERN: lambda: validate_digest(value),
        CONTENT_DIGEST_PATTERN: lambda: validate_digest(value),
        FEATURE_PATTERN: lambda: check_identifier(value, "feature view name"),
    }
    check = checks.get(pattern)
    if check is None:
        return None
    try:
        check()
    except InvalidInputError as exc:
        return exc.message
    return None


def pattern_refusal(pattern: str, kind: str, value: object) -> str:
    """Why ``value`` does not match ``pattern``, in the words of the check the code applies, one line."""
    text = value if isinstance(value, str) else str(value)
    message = _domain_refusal(pattern, kind, text)
    if message is None:
        if pattern == ROLE_PATTERN:
            message = (
                f"invalid role name {text[:80]!r}; use lower-case letters, digits, '-' and '_', "
                "starting with a letter (at most 63)"
            )
        elif pattern == MONITOR_PATTERN:
            message = _monitor_text(text[:80])
        elif pattern == NEW_NAME_PATTERN:  # the check passes a name only the pattern's length refuses
            message = f"{kind} {text[:40]!r}... is longer than {NAME_MAX} characters"
        else:
            message = f"{kind} {text[:80]!r} does not match {pattern}"
    return message.replace("\n", "\\n").replace("\r", "\\r")


FLOAT_MAX = 1.7976931348623157e308
FLOAT_SCHEMA: dict[str, Any] = {  # a number, a non-finite one as {"$float": ...}, or null
    "anyOf": [
        {"type": "number", "minimum": -FLOAT_MAX, "maximum": FLOAT_MAX},
        {
            "type": "object",
            "required": ["$float"],
            "properties": {"$float": {"enum": ["nan", "inf", "-inf"]}},
            "additionalProperties": False,
        },
        {"type": "null"},
    ]
}


def wire_float(value: Any) -> Any:
    """``value`` if it is a float on the wire (:data:`FLOAT_SCHEMA`); else a one-line ValueError."""
    if value is None:
        return None
    if isinstance(value, dict) and set(value) == {"$float"} and value["$float"] in ("nan", "inf", "-inf"):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        if isinstance(value, float) and math.isfinite(value):
            return value
        if isinstance(value, int) and -FLOAT_MAX <= value <= FLOAT_MAX:
            return value
    shown = repr(value)[:60]
    raise ValueError(f'{shown} is not a number: send a number, {{"$float": "nan"|"inf"|"-inf"}} or null')


# a metric's value: a number, or a non-finite one as {"$float": ...} (never null)
METRIC_VALUE_SCHEMA: dict[str, Any] = {"anyOf": FLOAT_SCHEMA["anyOf"][:2]}
