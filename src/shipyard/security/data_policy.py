"""Data policies as data: column rules and row filters on a dataset or a feature view, bound to
principals, and the one evaluation every read path asks. Pure functions, no I/O.

A :class:`DataPolicy` targets one dataset or feature view by name and holds

- **column rules**: column → ``allow`` | ``hide`` | ``mask:hash`` | ``mask:redact`` | ``mask:partial``;
- an optional **row filter** in the row-filter language of ``load_dataset(where=...)`` (the run
  search's tokens), e.g. ``region = 'EU'``: its subjects see only the rows it keeps;
- **subjects**: ``user:NAME``, ``group:NAME``, ``role:NAME`` (bound at a scope that covers the
  target's) or ``token:ID``. A policy applies to a principal when any subject matches it.

:func:`decide` combines the policies that apply with the column tags of the version read:

- a column tagged ``pii`` is **hidden by default** unless an applying policy names it (``allow``
  or a mask) or the principal holds ``data:read:pii`` at the target's scope;
- when several policies name one column, the **most restrictive action wins** (``hide`` >
  ``mask:hash`` > ``mask:redact`` > ``mask:partial`` > ``allow``) — except that an ``allow`` is
  what lifts the pii default, which any applying policy may do;
- the row filters of all applying policies are **AND-ed** (a principal sees only rows every one
  of them keeps).

A request that selects, filters or sorts on a hidden column is refused (:func:`refuse_hidden`):
answering it would leak the column (a filter on it tells its values row by row). Filters and sorts
on *masked* columns are refused too, for the same reason; selecting a masked column is fine (it
comes back masked).

Masks (:func:`apply_masks`, on Arrow): ``hash`` is HMAC-SHA256 (hex) keyed with a server-side salt,
so a published value cannot be recovered from a table of hashes of likely values (an email
address, a card number) and hashes still join within one server; ``redact`` is the constant
``'***'``; ``partial`` keeps the last 4 characters (``'***' + last4``; values of 4 characters or
fewer become ``'***'``). Masked columns become strings; nulls stay null.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from shipyard.core.data_policies import (
    COLUMN_ACTIONS,
    SUBJECT_KINDS,
    TARGET_KINDS,
    DataPolicy,
    check_policy,
    parse_column_rules,
)
from shipyard.core.errors import InvalidInputError, PermissionDeniedError
from shipyard.security.policy import SERVER_SCOPE, covers

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "COLUMN_ACTIONS",
    "SUBJECT_KINDS",
    "TARGET_KINDS",
    "DataPolicy",
    "Decision",
    "Facts",
    "apply_columns",
    "check_policy",
    "decide",
    "mask_array",
    "parse_column_rules",
    "refuse_hidden",
]

PII_TAG = "pii"
REDACTED = "***"
_RANK = {action: i for i, action in enumerate(COLUMN_ACTIONS)}


@dataclass(frozen=True)
class Facts:
    """Who is reading: the principal's name, groups, (role, scope) bindings, token id, and whether
    it holds ``data:read:pii`` at the target's scope."""

    user: str
    groups: frozenset[str] = frozenset()
    roles: tuple[tuple[str, str], ...] = ()  # (role name, scope it is bound at)
    token_id: str | None = None
    pii: bool = False


@dataclass(frozen=True)
class Decision:
    hidden: frozenset[str] = frozenset()
    masked: dict[str, str] = field(default_factory=dict)  # column -> hash | redact | partial
    row_filter: str | None = None  # the applying policies' filters, AND-ed
    pii_read: tuple[str, ...] = ()  # pii-tagged columns this principal sees (masked or not)

    @property
    def restricted(self) -> bool:
        return bool(self.hidden or self.masked or self.row_filter)


OPEN = Decision()


# ---- evaluation ---------------------------------------------------------------------------------
def applies(policy: DataPolicy, facts: Facts, scope: str = SERVER_SCOPE) -> bool:
    """Whether any of ``policy``'s subjects is this principal (a role: bound where it reaches ``scope``)."""
    for subject in policy.subjects:
        kind, _, name = subject.partition(":")
        if (
            (kind == "user" and name == facts.user)
            or (kind == "group" and name in facts.groups)
            or (kind == "token" and facts.token_id is not None and name == facts.token_id)
            or (kind == "role" and any(r == name and covers(s, scope) for r, s in facts.roles))
        ):
            return True
    return False


def pii_columns(columns: Sequence[Mapping[str, Any]]) -> list[str]:
    """The names of a stored schema's columns tagged ``pii``."""
    return [str(c["name"]) for c in columns if PII_TAG in (c.get("tags") or ())]


def decide(
    facts: Facts,
    policies: Iterable[DataPolicy],
    columns: Sequence[Mapping[str, Any]] = (),
    scope: str = SERVER_SCOPE,
) -> Decision:
    """What ``facts``' principal sees of a target with stored schema ``columns`` (name, tags)."""
    mine = [p for p in policies if applies(p, facts, scope)]
    action: dict[str, str] = {}
    for policy in mine:
        for column, wanted in policy.columns.items():
            held = action.get(column)
            if held is None or _RANK[wanted] > _RANK[held]:
                action[column] = wanted
    pii = pii_columns(columns)
    if not facts.pii:
        for column in pii:
            action.setdefault(column, "hide")  # deny by default: no applying policy names it
    hidden = frozenset(c for c, a in action.items() if a == "hide")
    masked = {c: a.removeprefix("mask:") for c, a in action.items() if a.startswith("mask:")}
    filters = [p.row_filter for p in sorted(mine, key=lambda p: p.name) if p.row_filter]
    row_filter = " and ".join(f"({f})" for f in filters) if filters else None
    pii_read = tuple(c for c in pii if c not in hidden)
    return Decision(hidden, masked, row_filter, pii_read)


def refuse_hidden(
    decision: Decision,
    *,
    selected: Iterable[str] = (),
    filtered: Iterable[str] = (),
    sorted_by: Iterable[str] = (),
    what: str = "the data",
) -> None:
    """PermissionDeniedError when a request selects a hidden column, or filters or sorts on a
    hidden or masked one (answering would leak it)."""
    chosen = sorted(set(selected) & decision.hidden)
    if chosen:
        raise PermissionDeniedError(
            f"column(s) {', '.join(chosen)} of {what} are hidden from you by a data policy; leave them out"
        )
    guarded = decision.hidden | decision.masked.keys()
    for verb, names in (("filter", filtered), ("sort", sorted_by)):
        leaked = sorted(set(names) & guarded)
        if leaked:
            raise PermissionDeniedError(
                f"cannot {verb} on column(s) {', '.join(leaked)} of {what}: a data policy hides or "
                "masks them from you, and the answer would reveal their values"
            )


# ---- applying -----------------------------------------------------------------------------------
def _hash_values(values: Sequence[str | None], salt: bytes) -> list[str | None]:
    return [None if v is None else hmac.new(salt, v.encode(), hashlib.sha256).hexdigest() for v in values]


def _partial(value: str) -> str:
    return REDACTED + value[-4:] if len(value) > 4 else REDACTED


def mask_array(values: pa.Array | pa.ChunkedArray, method: str, salt: bytes) -> pa.Array:
    """One column masked by ``method`` (hash | redact | partial), as strings; nulls stay null.
    Each distinct value is masked once (a dictionary encoding), so repeated values cost nothing."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    as_text = values if pa.types.is_string(values.type) else pc.cast(values, pa.string(), safe=False)
    encoded = pc.dictionary_encode(as_text)
    distinct: list[str | None] = encoded.dictionary.to_pylist()
    if method == "hash":
        masked = _hash_values(distinct, salt)
    elif method == "redact":
        masked = [None if v is None else REDACTED for v in distinct]
    elif method == "partial":
        masked = [None if v is None else _partial(v) for v in distinct]
    else:
        raise InvalidInputError(f"unknown mask {method!r}; use hash, redact or partial")
    return pc.take(pa.array(masked, pa.string()), encoded.indices)


def apply_columns(table: pa.Table, decision: Decision, salt: bytes) -> pa.Table:
    """``table`` without its hidden columns and with its masked ones masked (Arrow)."""
    keep = [name for name in table.column_names if name not in decision.hidden]
    table = table.select(keep)
    for name, method in decision.masked.items():
        if name in table.column_names:
            index = table.column_names.index(name)
            table = table.set_column(index, name, mask_array(table.column(name), method, salt))
    return table
