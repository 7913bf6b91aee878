"""Training sets as dataset versions: :meth:`shipyard.features.store.FeatureStore.log_training_set`
stores a point-in-time result with ``shipyard.data`` and writes its lineage into the version's
description — each feature view read, its registry version (the view must be applied, unchanged),
its source and the features taken::

    point-in-time training set of 2 feature views: customer v3 (dataset datasets:/tx@training), ...
    lineage: {"features": [...], "timestamp_column": "event_timestamp", "views": [{"name": ...,
              "version": 3, "spec_sha256": ..., "source": {...}, "features": [...]}]}

:func:`training_set_lineage` reads it back from a version; :func:`lineage_marker` is the text a
view's entry always holds there (the feature page finds a view's training sets by it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import orjson

from shipyard.core.errors import InvalidInputError, NotFoundError
from shipyard.metadata.features import spec_hash

if TYPE_CHECKING:
    from shipyard.features.views import FeatureView
    from shipyard.metadata.datasets import DatasetVersion
    from shipyard.metadata.features import FeatureRecords

MARK = "lineage: "


def view_lineage(
    records: FeatureRecords, grouped: Mapping[str, tuple[FeatureView, list[str]]]
) -> list[dict[str, Any]]:
    """Each view's registry version, spec hash, source and chosen features; a view that is not
    applied, or differs from its applied version, is a one-line error (its lineage would be a lie)."""
    found = []
    for view, features in grouped.values():
        spec = view.spec()
        digest = spec_hash(spec)
        try:
            record = records.get_view(view.name)
        except NotFoundError:
            record = None
        if record is None or record.spec_hash != digest:
            applied = "" if record is None else f"differs from its applied version {record.version}"
            state = applied or "is not applied"
            raise InvalidInputError(
                f"feature view {view.name!r} {state}: run `shipyard features apply` first, so the "
                "training set's lineage names the view's version"
            )
        found.append(
            {
                "name": view.name,
                "version": record.version,
                "spec_sha256": digest,
                "source": spec["source"],
                "features": list(features),
            }
        )
    return found


def _source_text(source: Mapping[str, Any]) -> str:
    kind = source.get("kind")
    if kind == "dataset":
        return f"dataset {source.get('uri')}"
    if kind == "file":
        return f"file {source.get('path')}"
    return str(kind)


def describe(views: Sequence[Mapping[str, Any]], lineage: Mapping[str, Any], text: str = "") -> str:
    """The version's description: the caller's text, a readable line and the lineage's JSON."""
    listed = ", ".join(f"{v['name']} v{v['version']} ({_source_text(v['source'])})" for v in views)
    line = f"point-in-time training set of {len(views)} feature view(s): {listed}"
    parts = [text.strip()] if text.strip() else []
    parts += [line, MARK + orjson.dumps(dict(lineage), option=orjson.OPT_SORT_KEYS).decode()]
    return "\n".join(parts)


def training_set_lineage(version: DatasetVersion) -> dict[str, Any] | None:
    """The lineage :meth:`FeatureStore.log_training_set` recorded (None: not a training set)."""
    for line in reversed(version.description.splitlines()):
        if line.startswith(MARK):
            try:
                found = orjson.loads(line[len(MARK) :])
            except orjson.JSONDecodeError:
                return None
            return found if isinstance(found, dict) else None
    return None


def lineage_marker(view: str) -> str:
    """Text the lineage of every training set read from ``view`` contains (its entry's name,
    followed by the next key in sorted order): ``"name":"customer","source":``."""
    return f"{orjson.dumps({'name': view}).decode()[1:-1]},{orjson.dumps('source').decode()}:"


def views_of(version: DatasetVersion) -> list[tuple[str, int]]:
    """The (view, registry version) pairs a training-set version was read from ([] for others)."""
    found = training_set_lineage(version) or {}
    views = found.get("views")
    if not isinstance(views, list):
        return []
    return [
        (str(v["name"]), int(v["version"]))
        for v in views
        if isinstance(v, dict) and isinstance(v.get("name"), str) and isinstance(v.get("version"), int)
    ]
