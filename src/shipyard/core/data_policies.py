"""A data policy as a record: column rules and a row filter on a dataset or feature view, bound
to subjects (``user:NAME``, ``group:NAME``, ``role:NAME``, ``token:ID``). Stored by
``shipyard.metadata.policies``; evaluated by ``shipyard.security.data_policy``."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from shipyard.core.errors import InvalidInputError

TARGET_KINDS = ("dataset", "feature_view")
SUBJECT_KINDS = ("user", "group", "role", "token")
#: column actions, least restrictive first
COLUMN_ACTIONS = ("allow", "mask:partial", "mask:redact", "mask:hash", "hide")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.\-]{0,127}$")
_SUBJECT = re.compile(r"^(user|group|role|token):([A-Za-z0-9][A-Za-z0-9_.@\-]{0,249})$")
_MAX_COLUMNS = 1000


@dataclass(frozen=True)
class DataPolicy:
    name: str
    target_kind: str  # one of TARGET_KINDS
    target: str  # the dataset's or the feature view's name
    subjects: tuple[str, ...]
    columns: dict[str, str] = field(default_factory=dict)  # column -> one of COLUMN_ACTIONS
    row_filter: str | None = None
    description: str = ""
    created_by: str = ""
    created_at: datetime | None = None


# ---- validation ---------------------------------------------------------------------------------
def check_policy(policy: DataPolicy) -> DataPolicy:
    """``policy`` if well formed; else a one-line error naming what is wrong (the row filter's
    grammar is checked by the caller that can parse it: ``shipyard.data.rowfilter``)."""
    if not _NAME.fullmatch(policy.name):
        raise InvalidInputError(
            f"invalid policy name {policy.name!r}; use lower-case letters, digits, '_', '-' and '.'"
        )
    if policy.target_kind not in TARGET_KINDS:
        raise InvalidInputError(
            f"invalid policy target kind {policy.target_kind!r}; use one of {', '.join(TARGET_KINDS)}"
        )
    if not policy.target or len(policy.target) > 250:
        raise InvalidInputError("a policy needs a target: the dataset's or feature view's name")
    if not policy.subjects:
        raise InvalidInputError(
            "a policy needs at least one subject: user:NAME, group:NAME, role:NAME or token:ID"
        )
    for subject in policy.subjects:
        if not _SUBJECT.fullmatch(subject):
            raise InvalidInputError(
                f"invalid subject {subject!r}; use user:NAME, group:NAME, role:NAME or token:ID"
            )
    if len(policy.columns) > _MAX_COLUMNS:
        raise InvalidInputError(f"a policy names at most {_MAX_COLUMNS} columns")
    for column, action in policy.columns.items():
        if not column or len(column) > 250:
            raise InvalidInputError("a column rule needs a column name of 1 to 250 characters")
        if action not in COLUMN_ACTIONS:
            raise InvalidInputError(
                f"invalid action {action!r} for column {column!r}; use one of {', '.join(COLUMN_ACTIONS)}"
            )
    if not policy.columns and not policy.row_filter:
        raise InvalidInputError("a policy needs column rules, a row filter, or both")
    return policy


def parse_column_rules(items: Iterable[str]) -> dict[str, str]:
    """``COLUMN=ACTION`` items (the CLI's ``--column email=mask:hash``) as a mapping."""
    rules: dict[str, str] = {}
    for item in items:
        column, sep, action = item.partition("=")
        if not sep or not column.strip():
            raise InvalidInputError(f"column rule {item!r}: expected COLUMN=ACTION, e.g. email=mask:hash")
        rules[column.strip()] = action.strip()
    return rules
