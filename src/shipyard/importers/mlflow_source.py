"""The MLflow side of an import: one :class:`MlflowSource` reads a tracking store through MLflow's
own ``MlflowClient``, so a file store (a path or ``file:`` URI), a database (``sqlite:///...``,
``postgresql://...``) and a running ``mlflow server`` (``http(s)://...``) are read the same way.

Everything comes in pages (experiments, runs, registered models, versions, metric histories), so
memory stays bounded by a page whatever the store's size. Nothing here writes to shipyard.
"""

from __future__ import annotations

import contextlib
import os
import re
import urllib.parse
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shipyard.core.errors import ConfigurationError, InvalidInputError, NotFoundError, ShipyardError

PAGE = 1000  # experiments, runs, models and versions per page
METRIC_PAGE = 10_000  # points of one metric history per page (stores that page them)
_SCHEMES = ("file", "sqlite", "postgresql", "mysql", "mssql", "http", "https")


Series = tuple[str, list[float], list[int], list[int]]  # key, values, steps, timestamps


@dataclass(frozen=True)
class ArtifactFile:
    path: str  # relative to the run's artifact root, '/'-separated
    size: int | None


def redact_uri(uri: str) -> str:
    """``uri`` without a password (``postgresql://u:***@host/db``): what errors and tags show."""
    try:
        parts = urllib.parse.urlsplit(uri)
    except ValueError:
        return "<unparseable URI>"
    if parts.password is None:
        return uri
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))


def normalize_uri(uri: str) -> str:
    """A tracking URI MLflow understands: a bare path becomes a ``file:`` URI; anything else must
    name a scheme MLflow reads; InvalidInputError (one line, how to fix it) otherwise."""
    text = uri.strip()
    if not text:
        raise InvalidInputError(
            "--from must name an MLflow tracking store: a folder, sqlite:///FILE or http://HOST"
        )
    scheme = text.split(":", 1)[0].lower() if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", text) else ""
    if len(scheme) == 1:  # a Windows drive letter
        scheme = ""
    if not scheme:
        path = Path(text).expanduser()
        if not path.is_dir():
            raise InvalidInputError(
                f"--from {text!r}: no such folder; give an MLflow file store folder (the one holding "
                "experiment folders and mlruns' meta.yaml files), sqlite:///FILE or http://HOST:PORT"
            )
        return path.resolve().as_uri()
    base = scheme.split("+", 1)[0]
    if base not in _SCHEMES:
        raise InvalidInputError(
            f"--from {redact_uri(text)!r}: unsupported scheme {scheme!r}; use a folder, file:, "
            "sqlite:///FILE, postgresql://..., mysql://... or http(s)://HOST:PORT"
        )
    if base == "file":
        path = Path(urllib.parse.unquote(urllib.parse.urlsplit(text).path))
        if not path.is_dir():
            raise InvalidInputError(f"--from {text!r}: no such folder {str(path)!r}")
    if base == "sqlite":
        db = text.split(":///", 1)[1] if ":///" in text else ""
        if db and db != ":memory:" and not Path(db).is_file():
            raise InvalidInputError(
                f"--from {text!r}: no such SQLite file {db!r} (sqlite:///relative/path or "
                "sqlite:////absolute/path)"
            )
    return text


def _mlflow_error(exc: BaseException, uri: str) -> ShipyardError:
    """One line for an MLflow failure (its messages can carry a stack or a whole HTML page)."""
    text = next((ln.strip() for ln in str(exc).splitlines() if ln.strip()), type(exc).__name__)
    try:
        password = urllib.parse.urlsplit(uri).password
    except ValueError:
        password = None
    if password:  # never echo a secret the URI carried
        text = text.replace(uri, redact_uri(uri)).replace(password, "***")
    if len(text) > 300:
        text = text[:297] + "..."
    code = str(getattr(exc, "error_code", ""))
    if "RESOURCE_DOES_NOT_EXIST" in code:
        return NotFoundError(f"MLflow store {redact_uri(uri)}: {text}")
    return ConfigurationError(f"cannot read the MLflow store {redact_uri(uri)}: {text}")


_DB_PORTS = {"postgresql": 5432, "mysql": 3306, "mssql": 1433}


def check_reachable(uri: str) -> None:
    """A database server must answer on its port within 5 s: MLflow's SQL store retries a failed
    connection with a doubling sleep for about 100 s before it gives up."""
    import socket

    base = uri.split(":", 1)[0].split("+", 1)[0].lower()
    if base not in _DB_PORTS:
        return
    try:
        parts = urllib.parse.urlsplit(uri)
        host, port = parts.hostname, parts.port or _DB_PORTS[base]
    except ValueError:
        raise InvalidInputError(f"--from {redact_uri(uri)!r} is not a valid database URI") from None
    if not host:
        return  # a local socket: MLflow's driver finds it
    try:
        with socket.create_connection((host, port), timeout=5):
            pass
    except OSError as exc:
        raise ConfigurationError(
            f"cannot reach the MLflow database at {host}:{port} ({exc.strerror or type(exc).__name__}); "
            "check the host, the port and that the database server runs"
        ) from None


class MlflowSource:
    """Read-only view of one MLflow tracking (and model registry) store."""

    def __init__(self, uri: str) -> None:
        self.uri = normalize_uri(uri)
        self.label = redact_uri(self.uri)
        check_reachable(self.uri)
        try:
            import mlflow  # noqa: F401  (the mlflow extra)
            from mlflow.tracking import MlflowClient
        except ImportError:
            raise ConfigurationError(
                "importing from MLflow needs the mlflow package: pip install 'shipyard[mlflow]'"
            ) from None
        if self.uri.startswith("file:"):  # MLflow 3 keeps its file store readable behind this opt-in
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # ours is drawn instead
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")  # fail fast on a dead server
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")
        self.client: Any = MlflowClient(tracking_uri=self.uri, registry_uri=self.uri)

    @contextlib.contextmanager
    def _reading(self) -> Iterator[None]:
        try:
            yield
        except ShipyardError:
            raise
        except Exception as exc:  # MlflowException, requests' errors, SQLAlchemy's...
            raise _mlflow_error(exc, self.uri) from None

    # ---- experiments and runs ---------------------------------------------------------------
    def experiments(self, names: list[str] | None = None) -> list[Any]:
        """Active experiments, in id order (``names``: just those, each must exist)."""
        from mlflow.entities import ViewType

        found: list[Any] = []
        with self._reading():
            token = None
            while True:
                page = self.client.search_experiments(
                    view_type=ViewType.ACTIVE_ONLY, max_results=PAGE, page_token=token
                )
                found.extend(page)
                token = page.token
                if not token:
                    break
        if names:
            by_name = {e.name: e for e in found}
            missing = [n for n in names if n not in by_name]
            if missing:
                known = ", ".join(sorted(by_name)[:10])
                raise NotFoundError(
                    f"MLflow store {self.label} has no experiment {', '.join(map(repr, missing))}; "
                    f"it has: {known}"
                )
            found = [by_name[n] for n in names]
        return sorted(found, key=lambda e: _sort_id(e.experiment_id))

    def runs(self, experiment_id: str) -> Iterator[Any]:
        """The experiment's active runs, a page at a time, oldest first. A file store's runs are
        read run by run (info, params, tags, metric names): its ``search_runs`` parses every line
        of every metric file to find the latest values, which the import does not use."""
        from mlflow.entities import ViewType

        store = self.client._tracking_client.store
        if type(store).__name__ == "FileStore":
            yield from self._file_store_runs(store, experiment_id)
            return
        token = None
        while True:
            with self._reading():
                page = self.client.search_runs(
                    experiment_ids=[experiment_id],
                    run_view_type=ViewType.ACTIVE_ONLY,
                    max_results=PAGE,
                    order_by=["attributes.start_time ASC"],
                    page_token=token,
                )
            yield from page
            token = page.token
            if not token:
                return

    def _file_store_runs(self, store: Any, experiment_id: str) -> Iterator[Any]:
        from types import SimpleNamespace

        from mlflow.entities import ViewType

        with self._reading():
            infos = sorted(
                store._list_run_infos(experiment_id, ViewType.ACTIVE_ONLY),
                key=lambda i: (i.start_time or 0, i.run_id),
            )
        for info in infos:
            with self._reading():
                params = {p.key: p.value for p in store._get_all_params(info)}
                tags = {t.key: t.value for t in store._get_all_tags(info)}
                _, names = store._get_run_files(info, "metric")
            data = SimpleNamespace(params=params, tags=tags, metrics=dict.fromkeys(names))
            yield SimpleNamespace(info=info, data=data)

    def run_metrics(self, run: Any) -> Iterator[Series]:
        """Every point of every metric of the run, as (key, values, steps, timestamps) pieces of
        at most METRIC_PAGE points; the pieces of one key come one after the other (a key is
        never seen again once another key's piece came).

        A SQL store's ``metrics`` rows are read from the engine MlflowClient opened, the whole run
        by ``run_uuid`` (its index) in key order, streamed METRIC_PAGE rows at a time (SQLite: its
        keys with their counts, then its points without the key, in one read transaction):
        one query per (run, key) lets SQLite pick the primary key's index, which starts with the
        key, and walk every run's points of that key (minutes for a 10-million-point store). A file
        store's metric files are read directly too (MLflow's own path builds one entity per point,
        ~12 µs a point); anything else (a server) goes through the store's paged
        ``get_metric_history``. Each gives what ``get_metric_history`` gives (a SQL NaN row
        reads as NaN)."""
        store = self.client._tracking_client.store
        kind = type(store).__name__
        if kind == "SqlAlchemyStore":
            yield from self._sql_run_metrics(store, run.info.run_id)
            return
        for key in sorted(run.data.metrics):
            for values, steps, stamps in self.metric_history(run, key):
                yield key, values, steps, stamps

    def metric_history(self, run: Any, key: str) -> Iterator[tuple[list[float], list[int], list[int]]]:
        """One metric's points as (values, steps, timestamps) pages of at most METRIC_PAGE (a file
        store's metric file read directly, else the store's paged ``get_metric_history``)."""
        store = self.client._tracking_client.store
        if type(store).__name__ == "FileStore":
            path = Path(store.root_directory) / str(run.info.experiment_id) / run.info.run_id / "metrics"
            target = path.joinpath(*key.split("/"))
            if target.is_file():
                yield from _file_metric_pages(target, key)
                return
        yield from self._client_metric_pages(store, run.info.run_id, key)

    def _client_metric_pages(
        self, store: Any, run_id: str, key: str
    ) -> Iterator[tuple[list[float], list[int], list[int]]]:
        token: str | None = None
        while True:
            with self._reading():
                page = store.get_metric_history(run_id, key, max_results=METRIC_PAGE, page_token=token)
            yield (
                [float(m.value) for m in page],
                [int(m.step) for m in page],
                [int(m.timestamp) for m in page],
            )
            token = getattr(page, "token", None)
            if not token:
                return

    def _sql_run_metrics(self, store: Any, run_id: str) -> Iterator[Series]:
        import sqlalchemy as sa

        m = sa.table(
            "metrics", *(sa.column(c) for c in ("key", "value", "step", "timestamp", "is_nan", "run_uuid"))
        ).c
        query = (
            sa.select(m.key, m.value, m.step, m.timestamp, m.is_nan)
            .where(m.run_uuid == run_id)
            .order_by(m.key, m.step)
        )  # SQLAlchemy quotes what the dialect reserves (MySQL's KEY)
        with self._reading(), store.engine.connect() as conn:
            if conn.dialect.name == "sqlite":
                yield from _sqlite_run_metrics(conn.connection.driver_connection, run_id)
                return
            result = conn.execution_options(stream_results=True).execute(query)  # server-side cursor
            while rows := result.fetchmany(METRIC_PAGE):
                yield from _sql_pieces(rows)

    def artifact_files(self, run: Any, path: str | None = None) -> Iterator[ArtifactFile]:
        """Every file under the run's artifact root (depth first, one folder listed at a time)."""
        with self._reading():
            repo = self._file_store_repo(run)
            entries = (
                repo.list_artifacts(path)
                if repo is not None
                else self.client.list_artifacts(run.info.run_id, path)
            )
        for entry in entries:
            if entry.is_dir:
                yield from self.artifact_files(run, entry.path)
            else:
                yield ArtifactFile(entry.path, entry.file_size)

    def download_artifact(self, run: Any, path: str, dst: Path) -> Path:
        with self._reading():
            repo = self._file_store_repo(run)
            if repo is not None:
                return Path(repo.download_artifacts(path, str(dst)))
            return Path(self.client.download_artifacts(run.info.run_id, path, str(dst)))

    def _file_store_repo(self, run: Any) -> Any:
        """A local store's (file or database) artifact repository for the run, straight from its
        artifact URI (the client's path loads the whole run for each call: a file store's every
        metric point, a SQL store's run, params and tags); None for a server, and for an
        ``mlflow-artifacts:`` URI (only the server that wrote it can resolve it)."""
        if type(self.client._tracking_client.store).__name__ not in ("FileStore", "SqlAlchemyStore"):
            return None
        if str(run.info.artifact_uri).startswith("mlflow-artifacts:"):
            return None
        from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

        return get_artifact_repository(run.info.artifact_uri)

    # ---- model registry -----------------------------------------------------------------------
    def registered_models(self) -> Iterator[Any]:
        token = None
        while True:
            with self._reading():
                page = self.client.search_registered_models(max_results=PAGE, page_token=token)
            yield from page
            token = page.token
            if not token:
                return

    def model_versions(self, name: str) -> list[Any]:
        """Every version of one model, by version number."""
        escaped = name.replace("'", "\\'")
        found: list[Any] = []
        token = None
        while True:
            with self._reading():
                page = self.client.search_model_versions(
                    filter_string=f"name = '{escaped}'", max_results=PAGE, page_token=token
                )
            found.extend(v for v in page if v.name == name)
            token = page.token
            if not token:
                break
        return sorted(found, key=lambda v: int(v.version))

    def download_model_version(self, name: str, version: str, dst: Path) -> Path:
        """The version's MLflow model folder (the one holding MLmodel), downloaded under ``dst``."""
        from mlflow.artifacts import download_artifacts

        with self._reading():
            uri = self.client.get_model_version_download_uri(name, version)
            return Path(download_artifacts(artifact_uri=uri, dst_path=str(dst), tracking_uri=self.uri))


def _file_metric_pages(path: Path, key: str) -> Iterator[tuple[list[float], list[int], list[int]]]:
    """An MLflow file-store metric file (``timestamp value [step [dataset digest]]`` per line), read
    METRIC_PAGE lines at a time and parsed as MLflow's ``_get_metric_from_line`` does."""
    import itertools

    import numpy as np

    with open(path, encoding="utf-8") as fh:
        while lines := list(itertools.islice(fh, METRIC_PAGE)):
            tokens = "".join(lines).split()
            if len(tokens) == 3 * len(lines):  # the usual three fields on every line
                stamps = np.array(tokens[0::3], dtype=np.int64).tolist()
                values = np.array(tokens[1::3], dtype=np.float64).tolist()
                steps = np.array(tokens[2::3], dtype=np.int64).tolist()
                yield values, steps, stamps
                continue
            values, steps, stamps = [], [], []
            for line in lines:
                parts = line.split()
                if not parts:
                    continue
                if len(parts) not in (2, 3, 5):
                    raise ConfigurationError(
                        f"MLflow metric file {path} is malformed ({len(parts)} fields on a line)"
                    )
                stamps.append(int(parts[0]))
                values.append(float(parts[1]))
                steps.append(int(parts[2]) if len(parts) == 3 else 0)
            yield values, steps, stamps


# The run's keys with their point counts, then its points in the same key order without the key:
# a key per row is a new str per point in sqlite3 (and a groupby to cut the pieces). Both read
# through the (run_uuid, key, step) index MLflow creates.
_MMAP_BYTES = 1 << 40  # SQLite caps it at its compile-time limit (2 GiB by default)
_SQLITE_KEYS = 'SELECT "key", count(*) FROM metrics WHERE run_uuid = ? GROUP BY "key" ORDER BY "key"'
_SQLITE_POINTS = (
    'SELECT value, step, "timestamp", is_nan FROM metrics WHERE run_uuid = ? ORDER BY "key", step'
)


def _sqlite_run_metrics(dbapi_conn: Any, run_id: str) -> Iterator[Series]:
    """A SQLite store's points of one run on sqlite3's own cursor (it steps through the rows as
    they are fetched and gives plain tuples; SQLAlchemy's result would build a Row per point), in
    one read transaction (both queries see the same snapshot), each key's points fetched by its
    count, at most METRIC_PAGE at a time."""
    began = not dbapi_conn.in_transaction
    cursor = dbapi_conn.cursor()
    try:
        cursor.execute(f"PRAGMA mmap_size = {_MMAP_BYTES}")  # pages mapped, not copied in by read()
        if began:
            cursor.execute("BEGIN")
        keys = cursor.execute(_SQLITE_KEYS, (run_id,)).fetchall()
        cursor.execute(_SQLITE_POINTS, (run_id,))
        left = 0
        for key, count in keys:
            left = int(count)
            while left > 0:
                rows = cursor.fetchmany(min(left, METRIC_PAGE))
                if not rows:
                    break
                left -= len(rows)
                yield _sqlite_piece(str(key), rows)
            if left:
                break
        if left or cursor.fetchone() is not None:  # a snapshot cannot change: a defect if it did
            raise ConfigurationError(
                f"MLflow run {run_id}'s metric points changed while they were read; run the import "
                "again (it resumes)"
            )
    finally:
        cursor.close()
        if began and dbapi_conn.in_transaction:
            dbapi_conn.rollback()


def _sqlite_piece(key: str, rows: list[Any]) -> Series:
    """``(value, step, timestamp, is_nan)`` rows of one key as one piece (``zip``: a C loop). A
    REAL column reads as float and an INTEGER one as int, so the columns are converted only when
    a value of another type is there (SQLite keeps what it cannot convert)."""
    raw_values, raw_steps, raw_stamps, nans = zip(*rows, strict=True)
    values = list(raw_values) if set(map(type, raw_values)) == _FLOAT else list(map(float, raw_values))
    if any(nans):  # MLflow keeps NaN as value 0 with is_nan set
        values = [float("nan") if nan else v for v, nan in zip(values, nans, strict=True)]
    steps = list(raw_steps) if set(map(type, raw_steps)) == _INT else list(map(int, raw_steps))
    stamps = list(raw_stamps) if set(map(type, raw_stamps)) == _INT else list(map(int, raw_stamps))
    return key, values, steps, stamps


_FLOAT = {float}
_INT = {int}


def _sql_pieces(rows: Sequence[Any]) -> Iterator[Series]:
    """``(key, value, step, timestamp, is_nan)`` rows in key order as one piece per key: the
    columns are taken apart with ``zip`` and the keys' boundaries found by ``groupby`` (C loops:
    this runs for every point of a store)."""
    import itertools

    keys, raw_values, raw_steps, raw_stamps, nans = zip(*rows, strict=True)
    values = list(map(float, raw_values))
    if any(nans):  # MLflow keeps NaN as value 0 with is_nan set
        values = [float("nan") if nan else v for v, nan in zip(values, nans, strict=True)]
    steps, stamps = list(map(int, raw_steps)), list(map(int, raw_stamps))
    start = 0
    for key, group in itertools.groupby(keys):
        end = start + len(list(group))
        yield str(key), values[start:end], steps[start:end], stamps[start:end]
        start = end


def _sort_id(experiment_id: str) -> tuple[int, str]:
    return (int(experiment_id), "") if experiment_id.isdigit() else (1 << 62, experiment_id)
