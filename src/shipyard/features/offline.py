"""Point-in-time correct training sets: for every entity row, each requested feature's latest
value at or before the row's timestamp and within the view's TTL — never a value from the future,
never a dropped or duplicated entity row. Ties on the event timestamp go to the row with the latest
created timestamp.

One DuckDB query: per view, an ``ASOF LEFT JOIN`` of the entity rows on the join keys and
``entity_ts >= event_ts``; the TTL nulls a match that is too old (an older row would be older
still). Ties on the event time need no window over the source: with a created timestamp the ASOF
inequality runs on one 128-bit key, ``event_us * 2**64 + (created_us + 2**63)`` (a missing created
time sorts first), against ``entity_us * 2**64 + (2**64 - 1)``, so the match is the latest event at
or before the row and, among equal events, the latest created. The entity rows carry their
position, so the result keeps their order. Timestamps compare in UTC: zone-aware ones are
converted, naive ones are taken as UTC.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from shipyard.core.errors import InvalidInputError
from shipyard.features.sources import describe, quote
from shipyard.features.views import FeatureView

if TYPE_CHECKING:
    import duckdb

ROW = "__shipyard_row"
TS = "__shipyard_ts"
_STRINGS = ("VARCHAR", "BLOB", "UUID")
_SHIFT = 2**64
_HALF = 2**63


def output_names(
    grouped: Mapping[str, tuple[FeatureView, list[str]]], full_feature_names: bool
) -> dict[tuple[str, str], str]:
    """(view, feature) -> the result column's name; clashes refused with the fix."""
    names: dict[tuple[str, str], str] = {}
    seen: dict[str, str] = {}
    for view, features in grouped.values():
        for feature in features:
            name = f"{view.name}__{feature}" if full_feature_names else feature
            if name in seen:
                raise InvalidInputError(
                    f"features {seen[name]} and {view.name}:{feature} would both be column {name!r}: "
                    "pass full_feature_names=True"
                )
            seen[name] = f"{view.name}:{feature}"
            names[(view.name, feature)] = name
    return names


def check_entity(
    entity: pa.Table,
    grouped: Mapping[str, tuple[FeatureView, list[str]]],
    timestamp_column: str,
    outputs: Sequence[str],
) -> None:
    columns = set(entity.column_names)
    if timestamp_column not in columns:
        raise InvalidInputError(
            f"the entity frame has no timestamp column {timestamp_column!r} (it has "
            f"{', '.join(entity.column_names)}): add it or pass timestamp_column="
        )
    kind = entity.schema.field(timestamp_column).type
    if not (pa.types.is_timestamp(kind) or pa.types.is_date(kind)):
        raise InvalidInputError(
            f"entity column {timestamp_column!r} holds {kind}, not timestamps: convert it (pd.to_datetime)"
        )
    for view, _ in grouped.values():
        missing = [key for key in view.join_keys if key not in columns]
        if missing:
            raise InvalidInputError(
                f"the entity frame lacks join key(s) {', '.join(missing)} "
                f"of feature view {view.name!r}: add them"
            )
    clash = [name for name in outputs if name in columns]
    if clash:
        raise InvalidInputError(
            f"the entity frame already has column(s) {', '.join(clash)}: "
            "rename them or pass full_feature_names=True"
        )
    reserved = [name for name in (ROW, TS) if name in columns]
    if reserved:
        raise InvalidInputError(f"entity column name(s) {', '.join(reserved)} are reserved: rename them")


def _check_key_types(
    con: duckdb.DuckDBPyConnection, view: FeatureView, entity_types: Mapping[str, str], relation: str
) -> None:
    source_types = describe(con, relation)
    for key in view.join_keys:
        left, right = entity_types[key].upper(), source_types[key].upper()
        if left.startswith(_STRINGS) != right.startswith(_STRINGS):
            raise InvalidInputError(
                f"join key {key!r} is {entity_types[key]} in the entity frame but {source_types[key]} in "
                f"feature view {view.name!r}: convert one of them"
            )


def order_key(view: FeatureView) -> str:
    """SQL of a row's rank among the rows of one entity: the event time, then the created time
    (one 128-bit number; a missing created time ranks first). Without a created timestamp: the
    event time itself."""
    event = f"CAST({quote(view.timestamp)} AS TIMESTAMP)"
    if not view.created_timestamp:
        return event
    created = f"CAST({quote(view.created_timestamp)} AS TIMESTAMP)"
    return f"epoch_us({event})::HUGEINT * {_SHIFT} + coalesce(epoch_us({created})::HUGEINT + {_HALF}, 0)"


def point_in_time_query(
    con: duckdb.DuckDBPyConnection,
    entity: pa.Table,
    grouped: Mapping[str, tuple[FeatureView, list[str]]],
    relations: Mapping[str, str],
    *,
    timestamp_column: str,
    full_feature_names: bool = False,
) -> str:
    """Register the entity rows and return the SQL of the joined result (in entity order)."""
    names = output_names(grouped, full_feature_names)
    check_entity(entity, grouped, timestamp_column, list(names.values()))
    numbered = entity.append_column(ROW, pa.array(np.arange(entity.num_rows, dtype=np.int64)))
    con.register("shipyard_entity_in", numbered)
    entity_types = describe(con, "shipyard_entity_in")
    parts = [
        f"e0 AS (SELECT *, CAST({quote(timestamp_column)} AS TIMESTAMP) AS {TS} FROM shipyard_entity_in)"
    ]
    for index, (view, features) in enumerate(grouped.values(), start=1):
        relation = relations[view.name]
        _check_key_types(con, view, entity_types, relation)
        keys = [quote(key) for key in view.join_keys]
        event = f"CAST({quote(view.timestamp)} AS TIMESTAMP)"
        chosen = ", ".join(quote(feature) for feature in features)
        rank = order_key(view)
        entity_key = (
            f"epoch_us(e.{TS})::HUGEINT * {_SHIFT} + {_SHIFT - 1}" if view.created_timestamp else f"e.{TS}"
        )
        parts.append(
            f"f{index} AS (SELECT {', '.join(keys)}, {event} AS __f_ts, {rank} AS __f_order, {chosen} "
            f"FROM {quote(relation)} WHERE {quote(view.timestamp)} IS NOT NULL)"
        )
        fresh = "f.__f_ts IS NOT NULL"
        if view.ttl is not None:
            micros = int(view.ttl.total_seconds() * 1_000_000)
            fresh += f" AND e.{TS} - f.__f_ts <= to_microseconds({micros})"
        selected = ", ".join(
            f"CASE WHEN {fresh} THEN f.{quote(feature)} END AS {quote(names[(view.name, feature)])}"
            for feature in features
        )
        on = " AND ".join(f"e.{key} = f.{key}" for key in keys)
        parts.append(
            f"e{index} AS (SELECT e.*, {selected} FROM e{index - 1} e "
            f"ASOF LEFT JOIN f{index} f ON {on} AND {entity_key} >= f.__f_order)"
        )
    last = len(grouped)
    return f"WITH {', '.join(parts)} SELECT * EXCLUDE ({ROW}, {TS}) FROM e{last} ORDER BY {ROW}"
