"""Data policies on feature views: the decision per view for the reader, applied to a training
set (an Arrow table) or to online lookups (columns of values).

A feature view's policy names its features as columns. A requested feature the policy hides is
refused (ask without it); a masked one comes back masked; a row filter (over the view's features
and join keys) empties that view's features in the rows it does not keep — the entity rows are
the caller's own, so they stay. Feature views carry no column tags: the pii default applies to
datasets (a view whose source is a dataset read through ``load_dataset`` inherits its policy).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from shipyard.data.policies import PolicyReader, scope_of
from shipyard.features.views import FeatureView
from shipyard.security.data_policy import Decision, mask_array, refuse_hidden


@dataclass(frozen=True)
class ViewGuard:
    reader: PolicyReader
    salt: bytes
    project: str | None = None

    def decision(self, view: FeatureView, features: list[str]) -> Decision:
        columns = [{"name": name, "tags": []} for name in [*view.join_keys, *view.features]]
        found = self.reader.decision("feature_view", view.name, columns, scope_of(self.project))
        refuse_hidden(found, selected=features, what=f"feature view {view.name!r}")
        return found


def keep_mask(values: Mapping[str, pa.Array | pa.ChunkedArray], row_filter: str, rows: int) -> pa.Array:
    import pyarrow.compute as pc
    import pyarrow.dataset as pds

    from shipyard.data.rowfilter import filter_columns, parse_row_filter

    needed = filter_columns(row_filter)
    missing = needed - values.keys()
    table = pa.table({name: values[name] for name in needed & values.keys()} or {"_": pa.nulls(rows)})
    if missing:  # a column the answer does not carry: no row can be shown to pass
        return pa.array([False] * rows)
    kept = pds.dataset(table).to_table(columns={"keep": parse_row_filter(row_filter)}).column("keep")
    return pc.fill_null(kept.combine_chunks(), False)


def guard_table(
    table: pa.Table,
    guard: ViewGuard,
    grouped: Mapping[str, tuple[FeatureView, list[str]]],
    full_feature_names: bool,
) -> pa.Table:
    """A training set with each view's decision applied to its feature columns."""

    for view, features in grouped.values():
        decision = guard.decision(view, features)
        if not decision.restricted:
            continue
        out = {f: f"{view.name}__{f}" if full_feature_names else f for f in features}
        values = {k: table.column(k) for k in view.join_keys if k in table.column_names}
        values.update({f: table.column(c) for f, c in out.items()})
        table = shape_columns(table, decision, out, values, guard.salt)
    return table


def shape_columns(
    table: pa.Table,
    decision: Decision,
    columns: Mapping[str, str],
    values: Mapping[str, Any],
    salt: bytes,
) -> pa.Table:
    """``columns`` (feature -> the table's column) under one view's decision: null in the rows its
    row filter (judged on ``values``, by feature or key name) does not keep, masked where it masks.
    Shared by training sets, online lookups and the prediction log reader."""
    import pyarrow.compute as pc

    if decision.row_filter is not None and columns:
        keep = keep_mask(values, decision.row_filter, table.num_rows)
        for column in columns.values():
            i = table.column_names.index(column)
            nulls = pa.nulls(table.num_rows, table.schema.field(i).type)
            table = table.set_column(i, column, pc.if_else(keep, table.column(i), nulls))
    for feature, method in decision.masked.items():
        if feature in columns:
            i = table.column_names.index(columns[feature])
            table = table.set_column(i, columns[feature], mask_array(table.column(i), method, salt))
    return table


def guard_columns(
    result: dict[str, list[Any]],
    guard: ViewGuard,
    grouped: Mapping[str, tuple[FeatureView, list[str]]],
    full_feature_names: bool,
) -> dict[str, list[Any]]:
    """Online lookups (columns of values) with each view's decision applied."""
    table = pa.table({k: pa.array(v) for k, v in result.items()})
    guarded = guard_table(table, guard, grouped, full_feature_names)
    return {name: guarded.column(name).to_pylist() for name in guarded.column_names}
