"""Feature-view policies on the prediction log: a deployment that serves features by entity key
(``--features VIEW``) logs the fetched values as the request's inputs, so those log columns carry
the views' data policies.

The writer records where each column came from in every segment's Parquet schema metadata
(:data:`SOURCES_KEY`: JSON ``{log column: [view, feature]}``); :func:`guard_log` applies, per view,
the reader's decision to the columns it gave: hidden ones are dropped, masked ones masked, and under
a row filter the view's columns are emptied (null) in the rows it does not keep (the log holds no
join keys, so a filter on a key keeps no row). Columns sent as records to such a deployment share
the names, so they are guarded alike. Who reads: ``read_prediction_log`` (the SDK) decides for
``settings.user`` over a SQL store (``data.policies.local_reader``). Monitoring's own reads
(drift, quality, the dashboard) run as the system: they compute aggregate statistics over every
column, and only scores, counts and latencies reach the CLI and UI, never row values.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from shipyard.data.policies import scope_of
from shipyard.features.guard import ViewGuard, shape_columns

if TYPE_CHECKING:
    import pyarrow as pa

SOURCES_KEY = b"shipyard.feature_views"


def encode_sources(sources: Mapping[str, tuple[str, str]]) -> dict[bytes, bytes]:
    """Schema metadata naming each log column's (view, feature)."""
    data = {column: [view, feature] for column, (view, feature) in sorted(sources.items())}
    return {SOURCES_KEY: json.dumps(data).encode()}


def decode_sources(metadatas: Iterable[Mapping[bytes, bytes] | None]) -> set[tuple[str, str, str]]:
    """The (log column, view, feature) triples named by the segments' schema metadata (a column
    that came from different views in different segments is guarded by each of them)."""
    out: set[tuple[str, str, str]] = set()
    for metadata in metadatas:
        raw = (metadata or {}).get(SOURCES_KEY)
        if not raw:
            continue
        for column, pair in json.loads(raw).items():
            out.add((str(column), str(pair[0]), str(pair[1])))
    return out


def guard_log(table: pa.Table, sources: Iterable[tuple[str, str, str]], guard: ViewGuard) -> pa.Table:
    """``table`` (prediction-log rows) with each source view's decision for ``guard.reader`` applied."""

    by_view: dict[str, dict[str, str]] = {}  # view -> feature -> log column
    for column, view, feature in sources:
        if column in table.column_names:
            by_view.setdefault(view, {})[feature] = column
    for view, features in sorted(by_view.items()):
        columns = [{"name": feature, "tags": []} for feature in features]
        decision = guard.reader.decision("feature_view", view, columns, scope_of(guard.project))
        if not decision.restricted:
            continue
        table = table.drop_columns([c for f, c in features.items() if f in decision.hidden])
        shown = {f: c for f, c in features.items() if f not in decision.hidden and c in table.column_names}
        values = {f: table.column(c) for f, c in shown.items()}
        table = shape_columns(table, decision, shown, values, guard.salt)
    return table
