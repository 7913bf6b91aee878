"""Lineage between feature views and models for the web UI, both ways:

- a view's page lists the training sets logged from it (``FeatureStore.log_training_set``: dataset
  versions whose description carries the view in its lineage, ``features/training.py``), newest
  first and a page at a time, each with the run that built it, the runs that read it and the model
  versions registered from those runs (feature view -> training set -> run -> model version);
- a model version's page names the feature views its run's training sets were read from.

What a private project hides from the reader (datasets, models, views) is left out.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from shipyard.core.errors import ShipyardError
from shipyard.features.training import lineage_marker, views_of

if TYPE_CHECKING:
    from shipyard.metadata.datasets import DatasetUse, DatasetVersion
    from shipyard.metadata.model_registry import ModelVersion
    from shipyard.metadata.sql.datasets_store import SqlDatasetStore
    from shipyard.server.app import ServerContext

TRAINING_SETS_SHOWN = 10  # per page
_USES_READ = 100  # uses of one training set looked at
_MODELS_PER_RUN = 20
_CHUNK = 50  # versions read per query
_SCAN = 1000  # versions looked at per page, at most


@dataclass
class TrainingSet:
    version: DatasetVersion
    view_version: int  # the view's registry version it was read from
    built_by: str | None  # the run that logged it
    read_by: list[str] = field(default_factory=list)  # runs that loaded it
    models: list[ModelVersion] = field(default_factory=list)  # registered from those runs


def _model_visible(ctx: ServerContext, version: ModelVersion, hidden: set[str]) -> bool:
    if not hidden:
        return True
    try:
        return (ctx.registry.get_model(version.model_name).project or "") not in hidden
    except ShipyardError:
        return False


def _confirmed(
    store: SqlDatasetStore, view: str, hidden: set[str], offset: int
) -> Iterator[tuple[int, DatasetVersion | None, int]]:
    """(the offset after it, the version, the view's version) of each training set read from
    ``view``, newest first from ``offset``: versions whose description only quotes the text are
    passed over (at most ``_SCAN`` of them per page)."""
    cursor = offset
    for _ in range(_SCAN // _CHUNK):
        chunk = store.versions_described_with(
            lineage_marker(view), hidden_projects=sorted(hidden), limit=_CHUNK, offset=cursor
        )
        for version in chunk:
            cursor += 1
            versions = dict(views_of(version))
            if view in versions:
                yield cursor, version, versions[view]
        if len(chunk) < _CHUNK:
            return
    yield cursor, None, 0  # scanned enough: the next page goes on from here


def training_sets(
    ctx: ServerContext, view: str, hidden: set[str], offset: int
) -> tuple[list[TrainingSet], int | None]:
    """One page of the training sets read from ``view`` and the next page's offset (None: last)."""
    from shipyard.metadata.sql.datasets_store import SqlDatasetStore

    store = ctx.datasets
    if not isinstance(store, SqlDatasetStore):
        return [], None
    sets: list[TrainingSet] = []
    following = None
    for cursor, version, view_version in _confirmed(store, view, hidden, offset):
        if version is None or len(sets) == TRAINING_SETS_SHOWN:
            following = cursor - (0 if version is None else 1)
            break
        uses = store.version_uses(version.dataset_name, version.version, limit=_USES_READ)
        readers = list(dict.fromkeys(u.run_id for u in uses if u.direction == "input"))
        models: list[ModelVersion] = []
        for run_id in readers:
            with contextlib.suppress(ShipyardError):
                models.extend(ctx.registry.versions_from_run(run_id, limit=_MODELS_PER_RUN))
        models = [m for m in models if _model_visible(ctx, m, hidden)]
        sets.append(TrainingSet(version, view_version, version.run_id, readers, models))
    return sets, following


def views_behind(
    ctx: ServerContext, uses: list[DatasetUse], visible: Callable[[str], bool]
) -> dict[tuple[str, int], list[tuple[str, int]]]:
    """For each dataset version the model's run read: the (view, version) pairs it was read from,
    those ``visible`` says the reader may see."""
    out: dict[tuple[str, int], list[tuple[str, int]]] = {}
    for use in uses:
        try:
            version = ctx.datasets.get_version(use.dataset_name, use.version)
        except ShipyardError:
            continue
        views = [(name, number) for name, number in views_of(version) if visible(name)]
        if views:
            out[(use.dataset_name, use.version)] = views
    return out
