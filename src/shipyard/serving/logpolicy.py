"""Feature-view policies on the prediction log: a deployment that serves features by entity key
(``--features VIEW``) logs the fetched values as the request's inputs, and the entities' join keys
beside them, so those log columns carry the views' data policies.

The writer records where each column came from in every segment's Parquet schema metadata
(:data:`SOURCES_KEY`: JSON ``{log column: [view, feature]}``; :data:`KEYS_KEY`: ``{log column:
[[view, join key], ...]}``); :func:`guard_log` applies, per view, the reader's decision to the
columns it gave: hidden ones are dropped, masked ones masked (join keys too), and under a row filter
(judged on the view's features and keys in the log) the view's feature columns are emptied (null)
in the rows it does not keep. The keys themselves stay, as in a training set: they are the
request's, not the view's. Columns sent as records to such a deployment share the names, so they are
guarded alike. Who reads: ``read_prediction_log`` (the SDK) decides for ``settings.user`` over a SQL
store (``data.policies.local_reader``) and for the token's principal over a team server (the
server's decision, ``data.policies.ServerViewReader``). Monitoring's own reads (drift, quality, the
dashboard) run as the system: they compute aggregate statistics over every column, and only
scores, counts and latencies reach the CLI and UI, never row values.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, NamedTuple

from shipyard.data.policies import scope_of
from shipyard.features.guard import ViewGuard, shape_columns
from shipyard.security.data_policy import mask_array

if TYPE_CHECKING:
    import pyarrow as pa

SOURCES_KEY = b"shipyard.feature_views"
KEYS_KEY = b"shipyard.entity_keys"


class Source(NamedTuple):
    """A log column that came from a feature view: its feature, or (``key``) one of its join keys."""

    column: str
    view: str
    name: str
    key: bool = False


def encode_sources(
    sources: Mapping[str, tuple[str, str]], keys: Mapping[str, tuple[str, tuple[str, ...]]] | None = None
) -> dict[bytes, bytes]:
    """Schema metadata naming each log column's (view, feature), and each logged join key's
    (``keys``: join key -> (log column, views keyed by it)) views."""
    data = {column: [view, feature] for column, (view, feature) in sorted(sources.items())}
    out = {SOURCES_KEY: json.dumps(data).encode()}
    if keys:
        keyed = {column: [[view, key] for view in views] for key, (column, views) in sorted(keys.items())}
        out[KEYS_KEY] = json.dumps(keyed).encode()
    return out


def decode_sources(metadatas: Iterable[Mapping[bytes, bytes] | None]) -> set[Source]:
    """The sources named by the segments' schema metadata (a column that came from different views
    in different segments is guarded by each of them)."""
    out: set[Source] = set()
    for metadata in metadatas:
        raw = (metadata or {}).get(SOURCES_KEY)
        for column, pair in json.loads(raw).items() if raw else ():
            out.add(Source(str(column), str(pair[0]), str(pair[1])))
        raw = (metadata or {}).get(KEYS_KEY)
        for column, pairs in json.loads(raw).items() if raw else ():
            out.update(Source(str(column), str(view), str(key), True) for view, key in pairs)
    return out


def guard_log(table: pa.Table, sources: Iterable[Source], guard: ViewGuard) -> pa.Table:
    """``table`` (prediction-log rows) with each source view's decision for ``guard.reader`` applied."""
    by_view: dict[str, tuple[dict[str, str], dict[str, str]]] = {}  # view -> (features, keys) -> column
    for source in sources:
        if source.column in table.column_names:
            features, keys = by_view.setdefault(source.view, ({}, {}))
            (keys if source.key else features)[source.name] = source.column
    for view, (features, keys) in sorted(by_view.items()):
        columns = [{"name": name, "tags": []} for name in [*keys, *features]]
        decision = guard.reader.decision("feature_view", view, columns, scope_of(guard.project))
        if not decision.restricted:
            continue
        given = {**keys, **features}
        table = table.drop_columns(
            [c for n, c in given.items() if n in decision.hidden and c in table.column_names]
        )
        shown = {f: c for f, c in features.items() if f not in decision.hidden and c in table.column_names}
        shown_keys = {k: c for k, c in keys.items() if k not in decision.hidden and c in table.column_names}
        values = {n: table.column(c) for n, c in {**shown_keys, **shown}.items()}
        table = shape_columns(table, decision, shown, values, guard.salt)
        for key, column in shown_keys.items():
            if key in decision.masked:
                i = table.column_names.index(column)
                table = table.set_column(
                    i, column, mask_array(table.column(i), decision.masked[key], guard.salt)
                )
    return table
