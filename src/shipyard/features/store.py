"""The feature store: a project's feature views, their point-in-time training sets (offline),
materialization into an online store, and online lookups.

    store = FeatureStore.from_file("features.py", online="sqlite:////tmp/online.db")
    training = store.get_historical_features(entity_df, ["customer:amount_7d", "customer:n_tx_7d"])
    store.materialize()
    store.get_online_features([{"customer_id": 42}], ["customer:amount_7d"])

Online lookups do not apply the TTL (as Feast's don't): the values are the newest materialized;
:meth:`FeatureStore.freshness` says up to when.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from shipyard.core.errors import InvalidInputError
from shipyard.features.guard import ViewGuard, guard_columns, guard_table
from shipyard.features.offline import order_key, point_in_time_query
from shipyard.features.online.base import OnlineStore, Record, encode_key
from shipyard.features.online.registry import open_online_store
from shipyard.features.sources import (
    DatasetReader,
    connect,
    dataset_reader,
    literal,
    quote,
    register_source,
)
from shipyard.features.views import Entity, FeatureView, group_references

if TYPE_CHECKING:
    import duckdb
    import pandas as pd

    from shipyard.metadata.datasets import DatasetVersion
    from shipyard.tracking.stores import Stores

_BATCH = 100_000


def views_in(module: ModuleType) -> dict[str, FeatureView]:
    """The feature views a definitions module declares, by name (duplicates refused)."""
    found: dict[str, FeatureView] = {}
    for value in vars(module).values():
        if isinstance(value, FeatureView):
            if value.name in found and found[value.name] is not value:
                raise InvalidInputError(f"feature view {value.name!r} is declared twice in {module.__name__}")
            found[value.name] = value
    return found


def _to_arrow(frame: object) -> pa.Table:
    if isinstance(frame, pa.Table):
        return frame
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - pandas is a base dependency
        pd = None  # type: ignore[assignment]
    if pd is not None and isinstance(frame, pd.DataFrame):
        return pa.Table.from_pandas(frame, preserve_index=False)
    raise InvalidInputError(
        f"the entity rows must be a pandas DataFrame or an Arrow table, not {type(frame).__name__}"
    )


def _micros(moment: datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1_000_000)


class FeatureStore:
    def __init__(
        self,
        views: Iterable[FeatureView],
        *,
        root: Path | str | None = None,
        online: OnlineStore | str | None = None,
        datasets: DatasetReader | None = None,
        stores: Stores | None = None,
        memory_limit: str = "2GB",
    ) -> None:
        """``stores``: the platform's stores, for :class:`DatasetSource` views (read through
        ``shipyard.data``, so the dataset's data policies apply) and :meth:`log_training_set`; the
        data policies of ``stores`` are applied for its user to every read (``settings.user`` over
        a SQL store; over a team server the token's principal, as the server decides: see
        ``features/guard.py``). ``datasets`` overrides the reader."""
        self.views: dict[str, FeatureView] = {}
        for view in views:
            if view.name in self.views:
                raise InvalidInputError(f"feature view {view.name!r} is given twice")
            self.views[view.name] = view
        self.root = Path(root) if root is not None else Path.cwd()
        self._online_arg = online
        self._online: OnlineStore | None = online if isinstance(online, OnlineStore) else None
        self.stores = stores
        self._datasets = datasets if datasets is not None or stores is None else dataset_reader(stores)
        self._memory_limit = memory_limit
        self._guard: ViewGuard | None = None
        if stores is not None:
            from shipyard.data.policies import policy_salt, view_reader

            reader = view_reader(stores)
            if reader is not None:
                salt = policy_salt(stores.settings.home)
                self._guard = ViewGuard(reader, salt, stores.settings.project)

    @classmethod
    def from_file(cls, path: Path | str, **kwargs: Any) -> FeatureStore:
        """Import a definitions file (the project's own code, named by the caller) and use its views."""
        from shipyard.runtime.loader import import_file

        file = Path(path)
        if not file.is_file():
            raise InvalidInputError(
                f"feature definitions {str(path)!r} do not exist: name the project's features file"
            )
        module = import_file(file.resolve())
        kwargs.setdefault("root", file.resolve().parent)
        return cls(views_in(module).values(), **kwargs)

    # ---- offline ------------------------------------------------------------------------------------
    def _connect(self) -> duckdb.DuckDBPyConnection:
        return connect(self._memory_limit)

    def _relations(self, con: duckdb.DuckDBPyConnection, views: Iterable[FeatureView]) -> dict[str, str]:
        return {view.name: register_source(con, view, self.root, self._datasets) for view in views}

    def get_historical_features(
        self,
        entity_rows: pd.DataFrame | pa.Table,
        features: Sequence[str],
        *,
        timestamp_column: str = "event_timestamp",
        full_feature_names: bool = False,
    ) -> pd.DataFrame:
        """The entity rows with each feature's value as of the row's timestamp (see offline.py)."""
        table = self.historical_table(
            entity_rows, features, timestamp_column=timestamp_column, full_feature_names=full_feature_names
        )
        if self._guard is not None:
            grouped = group_references(features, self.views)
            table = guard_table(table, self._guard, grouped, full_feature_names)
        frame: pd.DataFrame = table.to_pandas()
        return frame

    def historical_table(
        self,
        entity_rows: pd.DataFrame | pa.Table,
        features: Sequence[str],
        *,
        timestamp_column: str = "event_timestamp",
        full_feature_names: bool = False,
    ) -> pa.Table:
        grouped = group_references(features, self.views)
        with self._joined(_to_arrow(entity_rows), grouped, timestamp_column, full_feature_names) as (
            con,
            query,
        ):
            table: pa.Table = con.sql(query).to_arrow_table()
        return table

    @contextlib.contextmanager
    def _joined(
        self,
        entity: pa.Table,
        grouped: Mapping[str, tuple[FeatureView, list[str]]],
        timestamp_column: str,
        full_feature_names: bool,
    ) -> Iterator[tuple[duckdb.DuckDBPyConnection, str]]:
        """A connection with the views' sources and the entity rows registered, and the SQL of the
        point-in-time result over them (in entity order)."""
        con = self._connect()
        try:
            relations = self._relations(con, (view for view, _ in grouped.values()))
            query = point_in_time_query(
                con, entity, grouped, relations,
                timestamp_column=timestamp_column, full_feature_names=full_feature_names,
            )  # fmt: skip
            yield con, query
        finally:
            con.close()

    def write_historical_features(
        self,
        entity_rows: pd.DataFrame | pa.Table,
        features: Sequence[str],
        destination: Path | str,
        *,
        timestamp_column: str = "event_timestamp",
        full_feature_names: bool = False,
    ) -> int:
        """Stream the training set into a Parquet file (bounded memory); return its row count.
        Under a data policy that restricts a view the set is built in memory, guarded, then written."""
        grouped = group_references(features, self.views)
        entity = _to_arrow(entity_rows)
        guard = self._guard
        if guard is not None and any(guard.decision(v, f).restricted for v, f in grouped.values()):
            import pyarrow.parquet as pq

            table = self.historical_table(
                entity, features, timestamp_column=timestamp_column, full_feature_names=full_feature_names
            )
            pq.write_table(guard_table(table, guard, grouped, full_feature_names), str(destination))
            return int(entity.num_rows)
        with self._joined(entity, grouped, timestamp_column, full_feature_names) as (con, query):
            con.execute(f"COPY ({query}) TO {literal(str(destination))} (FORMAT parquet)")
        return int(entity.num_rows)

    def apply(self) -> dict[str, int]:
        """Register each view's spec in the feature registry (as ``shipyard features apply``: an
        unchanged view keeps its version); return each view's version."""
        from shipyard.metadata.features import open_feature_records

        if self.stores is None:
            raise InvalidInputError(
                "applying views needs the platform's stores: FeatureStore(..., stores=...)"
            )
        records = open_feature_records(self.stores.metadata)
        settings = self.stores.settings
        now = datetime.now(UTC)
        versions = {}
        for name, view in sorted(self.views.items()):
            record, _ = records.apply_view(
                name, view.spec(), project=settings.project, by=settings.user, at=now
            )
            versions[name] = record.version
        return versions

    def log_training_set(
        self,
        name: str,
        entity_rows: pd.DataFrame | pa.Table,
        features: Sequence[str],
        *,
        timestamp_column: str = "event_timestamp",
        full_feature_names: bool = False,
        description: str = "",
        project: str | None = None,
    ) -> DatasetVersion:
        """Log the point-in-time training set as the next version of dataset ``name`` (streamed
        through a Parquet file, never whole in memory), its description naming each feature view's
        registry version and source (:mod:`shipyard.features.training`). Inside a run the version
        is recorded as the run's output, and dataset sources it read as its inputs."""
        import tempfile

        from shipyard.data.api import log_dataset
        from shipyard.features.training import describe, view_lineage
        from shipyard.metadata.features import open_feature_records
        from shipyard.tracking.fluent import active_run

        run = active_run()
        stores = self.stores if self.stores is not None else (run.client.stores if run is not None else None)
        if stores is None:
            raise InvalidInputError(
                "logging a training set needs the platform's stores: "
                "FeatureStore(..., stores=open_stores()) or an active run"
            )
        grouped = group_references(features, self.views)
        views = view_lineage(open_feature_records(stores.metadata), grouped)
        lineage = {
            "features": list(features),
            "timestamp_column": timestamp_column,
            "full_feature_names": full_feature_names,
            "views": views,
        }
        with tempfile.TemporaryDirectory(prefix="shipyard-training-") as folder:
            path = Path(folder) / f"{name}.parquet"
            self.write_historical_features(
                entity_rows,
                features,
                path,
                timestamp_column=timestamp_column,
                full_feature_names=full_feature_names,
            )
            text = describe(views, lineage, description)
            return log_dataset(name, path, description=text, project=project, stores=stores)

    # ---- online -------------------------------------------------------------------------------------
    @property
    def online(self) -> OnlineStore:
        if self._online is None:
            if self._online_arg is None:
                raise InvalidInputError(
                    "this feature store has no online store: pass online='sqlite:////path/online.db' or 'redis://…'"
                )
            assert isinstance(self._online_arg, str)
            self._online = open_online_store(self._online_arg)
        return self._online

    def _view_list(self, names: Sequence[str] | None) -> list[FeatureView]:
        if names is None:
            return list(self.views.values())
        missing = [name for name in names if name not in self.views]
        if missing:
            raise InvalidInputError(
                f"feature view(s) {', '.join(missing)} do not exist (known: {', '.join(sorted(self.views))})"
            )
        return [self.views[name] for name in names]

    def materialize(
        self,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        views: Sequence[str] | None = None,
        incremental: bool = False,
        progress: Callable[[str, int, int], None] | None = None,
    ) -> dict[str, int]:
        """Load each view's newest values per entity with event time in (start, end] into the online
        store (newest wins there too); ``incremental`` starts each view where the last run ended.
        ``progress(view, done, total)`` is told before each view and once more when all are done."""
        if incremental and start is not None:
            raise InvalidInputError("give --start or --incremental, not both")
        until = end or datetime.now(UTC)
        until_us = _micros(until)
        if start is not None and _micros(start) >= until_us:
            raise InvalidInputError(f"start {start.isoformat()} is not before end {until.isoformat()}")
        written: dict[str, int] = {}
        chosen = self._view_list(views)
        con = self._connect()
        try:
            relations = self._relations(con, chosen)
            for done, view in enumerate(chosen):
                if progress is not None:
                    progress(view.name, done, len(chosen))
                since_us = _micros(start) if start is not None else None
                if incremental:
                    mark = self.online.watermark(view.name)
                    since_us = mark[0] if mark is not None else None
                records = self._latest(con, view, relations[view.name], since_us, until_us)
                written[view.name] = self.online.write(view.name, records)
                self.online.set_watermark(view.name, until_us, _micros(datetime.now(UTC)))
            if progress is not None:
                progress("", len(chosen), len(chosen))
        finally:
            con.close()
        return written

    def _latest(
        self,
        con: duckdb.DuckDBPyConnection,
        view: FeatureView,
        relation: str,
        since_us: int | None,
        until_us: int,
    ) -> Iterator[Record]:
        keys = [quote(key) for key in view.join_keys]
        event = f"CAST({quote(view.timestamp)} AS TIMESTAMP)"
        where = [f"{quote(view.timestamp)} IS NOT NULL", f"epoch_us({event}) <= {int(until_us)}"]
        if since_us is not None:
            where.append(f"epoch_us({event}) > {int(since_us)}")
        # the newest row per entity by (event, created) — one hash aggregate, no window; the values'
        # JSON is built by DuckDB for the winners only (NaN, which JSON cannot hold, as null)
        packed = ", ".join(
            f"{quote(f)} := CASE WHEN isnan({quote(f)}) THEN NULL ELSE {quote(f)} END"
            if kind in ("float64", "float32")
            else f"{quote(f)} := {quote(f)}"
            for f, kind in view.features.items()
        )
        group = ", ".join(keys)
        query = (
            f"SELECT {group}, max(epoch_us({event})) AS __us, "
            f"to_json(arg_max(struct_pack({packed}), {order_key(view)})) AS __values "
            f"FROM {quote(relation)} WHERE {' AND '.join(where)} GROUP BY {group}"
        )
        reader: pa.RecordBatchReader = con.sql(query).to_arrow_reader(_BATCH)
        width = len(view.join_keys)
        for batch in reader:
            columns = [column.to_pylist() for column in batch.columns]
            keys_of = zip(*columns[:width], strict=True)
            for key, event_us, values in zip(keys_of, columns[width], columns[width + 1], strict=True):
                yield encode_key(key), event_us, values

    def get_online_features(
        self,
        entity_rows: Sequence[Mapping[str, Any]],
        features: Sequence[str],
        *,
        full_feature_names: bool = False,
    ) -> dict[str, list[Any]]:
        """Columns: the join keys given, then each feature (None where an entity has no value)."""
        grouped = group_references(features, self.views)
        if isinstance(entity_rows, Mapping):
            raise InvalidInputError("entity_rows must be a list of mappings such as [{'customer_id': 42}]")
        rows = list(entity_rows)
        result: dict[str, list[Any]] = {}
        for view, names in grouped.values():
            keys = []
            for index, row in enumerate(rows):
                missing = [key for key in view.join_keys if key not in row]
                if missing:
                    raise InvalidInputError(
                        f"entity row {index} lacks join key(s) {', '.join(missing)} "
                        f"of feature view {view.name!r}"
                    )
                keys.append(encode_key([row[key] for key in view.join_keys]))
                for key in view.join_keys:
                    result.setdefault(key, [r.get(key) for r in rows])
            found = self.online.read(view.name, keys)
            for feature in names:
                column = f"{view.name}__{feature}" if full_feature_names else feature
                if column in result:
                    raise InvalidInputError(
                        f"feature column {column!r} would appear twice: pass full_feature_names=True"
                    )
                result[column] = [None if hit is None else hit[1].get(feature) for hit in found]
        if self._guard is not None:
            return guard_columns(result, self._guard, grouped, full_feature_names)
        return result

    def freshness(self, view: str) -> datetime | None:
        """Up to when the view's online values are materialized (None: never)."""
        mark = self.online.watermark(self._view_list([view])[0].name)
        return None if mark is None else datetime.fromtimestamp(mark[0] / 1_000_000, UTC)

    def entities(self) -> dict[str, Entity]:
        return {view.entity.name: view.entity for view in self.views.values()}

    def close(self) -> None:
        if self._online is not None:
            self._online.close()

    def __enter__(self) -> FeatureStore:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
