"""``shipyard import mlflow``: copy an MLflow tracking store into shipyard.

Mapping (documented in the README):

- an MLflow **experiment** ``E`` becomes the namespace ``mlflow:E`` (characters a namespace cannot
  hold become ``_``, ``/`` becomes ``:``), or, with ``project=P``, the namespace ``project:P`` for
  every run; the experiment's name and id are tags of each run (``shipyard.import.mlflow_experiment``,
  ``shipyard.import.mlflow_experiment_id``); experiment tags are not kept (shipyard has no experiment
  object);
- an MLflow **run** becomes a shipyard run with the same 32-hex id (another id, derived from it,
  when it is not 32 hex), its name, params (MLflow's strings), tags, start and end times and status
  (FINISHED -> succeeded, FAILED -> failed, KILLED -> cancelled, RUNNING/SCHEDULED -> running),
  every metric point (value, step, timestamp) and every artifact file, as an artifact named by its
  path (``model/MLmodel``);
- a **registered model** becomes a shipyard model (description, tags; in ``project`` when given);
  each **version**, in version order, a shipyard version whose package keeps the MLflow model
  folder as it was (flavor ``mlflow``, :mod:`shipyard.registry.flavors.mlflow_pyfunc`), with its
  description, tags, the MLflow version number and stage as tags; **aliases** point at the
  versions they pointed at in MLflow.

Resumable and idempotent: a run is created with the tags ``shipyard.import.mlflow_run_id`` and
``shipyard.import.state=partial`` and marked ``complete`` only once everything of it is written;
an import finds complete runs and skips them, and deletes and redoes a partial one (an import that
was interrupted). Versions carry ``shipyard.import.mlflow_version``; those present are skipped.

Every count is taken twice: from the source as it is read, and back from shipyard after the run is
written (metric points compared by an order-independent digest of their exact bits, params and
tags by value, artifacts by name and size); the import fails when they differ.
"""

from __future__ import annotations

import contextlib
import gc
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from shipyard.core.entities import Run, RunCreate, RunStatus
from shipyard.core.errors import ConflictError, InvalidInputError, NotFoundError
from shipyard.core.names import validate_key, validate_name
from shipyard.importers.counts import Counts, SeriesDigest, Summary, update_spans
from shipyard.importers.mlflow_models import ModelImporter
from shipyard.importers.mlflow_names import (
    TAG_EXPERIMENT,
    TAG_EXPERIMENT_ID,
    TAG_PREFIX,
    TAG_RUN,
    TAG_SOURCE,
    TAG_STATE,
    experiment_namespace,
    target_run_id,
)
from shipyard.importers.mlflow_source import ArtifactFile, MlflowSource
from shipyard.metadata.base import METRIC_PAGE_MAX
from shipyard.tracking.client import TrackingClient, validate_params, validate_tags
from shipyard.tracking.stores import Stores

FLUSH_POINTS = 50_000  # metric points per log_metrics call (one transaction / one request)

_STATUS = {
    "FINISHED": RunStatus.SUCCEEDED,
    "FAILED": RunStatus.FAILED,
    "KILLED": RunStatus.CANCELLED,
    "RUNNING": RunStatus.RUNNING,
    "SCHEDULED": RunStatus.RUNNING,
}


class ImportProgress(Protocol):
    """What the import reports as it goes (the CLI draws Rich progress bars from it)."""

    def stage(self, name: str, total: int | None) -> None: ...

    def advance(self, n: int = 1) -> None: ...


class _Silent:
    def stage(self, name: str, total: int | None) -> None:
        return None

    def advance(self, n: int = 1) -> None:
        return None


@dataclass(frozen=True)
class ImportOptions:
    experiments: tuple[str, ...] = ()  # experiment names; empty: every active experiment
    project: str | None = None  # every run into project:P and every model into P
    dry_run: bool = False
    models: bool = True  # registered models, versions and aliases
    approve_protected: bool = False  # approve a version an MLflow alias names when that alias is protected


def _run_name(info: Any, run_id: str) -> str:
    name = getattr(info, "run_name", None) or ""
    try:
        return validate_name("run", name, new=True) if name else f"mlflow-{run_id[:8]}"
    except InvalidInputError:
        return f"mlflow-{run_id[:8]}"


def _ms(ts: int | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts / 1000, tz=UTC)


def source_tags(tags: Mapping[str, str]) -> dict[str, str]:
    """A shipyard run's tags minus the import's own (what compares with the MLflow run's tags)."""
    return {k: v for k, v in tags.items() if not k.startswith(TAG_PREFIX)}


class MlflowImporter:
    def __init__(
        self,
        source: MlflowSource,
        stores: Stores,
        options: ImportOptions | None = None,
        progress: ImportProgress | None = None,
    ) -> None:
        self.source = source
        self.stores = stores
        self.options = options or ImportOptions()
        self.progress: ImportProgress = progress or _Silent()
        self.client = TrackingClient(stores)
        self.metadata = stores.metadata
        self.summary = Summary(Counts(), Counts(), Counts(), dry_run=self.options.dry_run)
        self.run_ids: dict[str, str] = {}  # MLflow run id -> shipyard run id (this import's runs)

    # ---- the whole import ---------------------------------------------------------------------
    def run(self) -> Summary:
        experiments = self.source.experiments(list(self.options.experiments) or None)
        if self.options.project is not None:
            from shipyard.security.policy import check_project_name

            check_project_name(self.options.project)
        self.progress.stage("experiments", len(experiments))
        for exp in experiments:
            namespace = experiment_namespace(exp.name, self.options.project)
            self.summary.source.experiments += 1
            self.summary.imported.experiments += 1  # a namespace needs no object of its own
            self._import_experiment(exp, namespace)
            self.progress.advance()
        if self.options.models:
            ModelImporter(self).run()
        self.summary.check()
        return self.summary

    def _import_experiment(self, exp: Any, namespace: str) -> None:
        self.progress.stage(f"runs of {exp.name}", None)
        before = self.summary.written.runs
        for src in self.source.runs(exp.experiment_id):
            self._import_run(src, exp, namespace)
            self.progress.advance()
        if self.summary.written.runs > before:  # its namespace gained runs
            self.summary.written.experiments += 1

    # ---- one run ----------------------------------------------------------------------------------
    def _import_run(self, src: Any, exp: Any, namespace: str) -> None:
        with _collector_paused():
            self._import_one(src, exp, namespace)

    def _import_one(self, src: Any, exp: Any, namespace: str) -> None:
        sid = str(src.info.run_id)
        rid = target_run_id(sid)
        self.run_ids[sid] = rid
        existing = self._existing(rid, sid)
        if existing is not None and existing.tags.get(TAG_STATE) == "complete":
            self.summary.skipped_runs += 1
            self._verify(src, existing, digests=None)
            return
        if self.options.dry_run:
            self._count_source(src)
            return
        if existing is not None:  # an interrupted import of this run: start it again
            self.metadata.delete_run(rid)
            self.summary.resumed_runs += 1
        run = self._create(src, exp, namespace, rid)
        digests = self._copy_metrics(src, rid)
        artifacts = self._copy_artifacts(src, rid)
        status = _STATUS.get(str(src.info.status), RunStatus.RUNNING)
        end = _ms(src.info.end_time)
        # read back from shipyard once everything of the run but its state tag is written (the
        # import's own tags are not counted): what finish_run answers, else a get_run
        if status.finished:
            run = self.metadata.finish_run(rid, status, end or run.start_time)
        else:
            run = self.metadata.get_run(rid)
        self.metadata.set_tags(rid, {TAG_STATE: "complete"})
        self.summary.written.runs += 1
        self._verify(src, run, digests=digests, artifacts=artifacts)

    def _existing(self, rid: str, sid: str) -> Run | None:
        try:
            run = self.metadata.get_run(rid)
        except NotFoundError:
            return None
        if run.tags.get(TAG_RUN) != sid:
            raise ConflictError(
                f"shipyard already has a run {rid} that was not imported from MLflow run {sid}; "
                "import into another shipyard store"
            )
        return run

    def _create(self, src: Any, exp: Any, namespace: str, rid: str) -> Run:
        params = validate_params(dict(src.data.params))
        tags = validate_tags(dict(src.data.tags))
        tags.update(
            {
                TAG_RUN: str(src.info.run_id),
                TAG_STATE: "partial",
                TAG_SOURCE: self.source.label[:500],
                TAG_EXPERIMENT: str(exp.name)[:500],
                TAG_EXPERIMENT_ID: str(exp.experiment_id),
            }
        )
        create = RunCreate(
            id=rid,
            name=_run_name(src.info, rid),
            namespace=namespace,
            user=self.stores.settings.user,
            start_time=_ms(src.info.start_time) or datetime.now(UTC),
            params=params,
            tags=tags,
        )
        run = self.metadata.create_run(create)
        self.summary.written.params += len(params)
        self.summary.written.tags += len(source_tags(tags))
        return run

    def _copy_metrics(self, src: Any, rid: str) -> dict[str, SeriesDigest]:
        """Every point of every metric, streamed piece by piece from the source into batches of
        at most about FLUSH_POINTS columns (one ``log_metric_columns`` call, one transaction, each;
        the keys of a batch come one after the other, which the writer slices without a per-point
        pass)."""
        return self._source_digests(src, sink=lambda batch: self._flush(rid, batch))

    def _source_digests(
        self, src: Any, sink: Callable[[_Columns], None] | None = None
    ) -> dict[str, SeriesDigest]:
        """The digest of each of the run's metrics in the source, taken a batch of about
        FLUSH_POINTS points at a time (one numpy pass a batch, whatever its keys), each batch
        also to ``sink``."""
        digests: dict[str, SeriesDigest] = {}
        batch = _Columns()
        for key, values, steps, stamps in self.source.run_metrics(src):
            if key not in digests:
                validate_key("metric", key)
                digests[key] = SeriesDigest()
            batch.add(key, values, steps, stamps)
            if len(batch.values) >= FLUSH_POINTS:
                self._digest_batch(digests, batch, sink)
                batch = _Columns()
        if batch.values:
            self._digest_batch(digests, batch, sink)
        return digests

    @staticmethod
    def _digest_batch(
        digests: dict[str, SeriesDigest], batch: _Columns, sink: Callable[[_Columns], None] | None
    ) -> None:
        update_spans(digests, batch.spans, batch.values, batch.steps, batch.stamps)
        if sink is not None:
            sink(batch)

    def _flush(self, rid: str, batch: _Columns) -> None:
        self.metadata.log_metric_columns(rid, batch.keys, batch.values, batch.steps, batch.stamps)
        self.summary.written.metric_points += len(batch.values)

    def _copy_artifacts(self, src: Any, rid: str) -> list[ArtifactFile]:
        items = list(self.source.artifact_files(src))  # paths and sizes: small beside the files
        if not items:
            return items
        with tempfile.TemporaryDirectory(prefix="shipyard-mlflow-import-") as tmp:
            for item in items:
                validate_key("artifact", item.path)
                local = self.source.download_artifact(src, item.path, Path(tmp))
                record = self.client.log_artifact(rid, local, item.path)
                local.unlink()
                self.summary.written.artifacts += 1
                self.summary.written.artifact_bytes += record.size
        return items

    # ---- counting -----------------------------------------------------------------------------
    def _count_source(self, src: Any) -> Counts:
        counts = Counts(runs=1, params=len(src.data.params), tags=len(src.data.tags))
        for piece in self.source.run_metrics(src):
            counts.metric_points += len(piece[1])
        for item in self.source.artifact_files(src):
            counts.artifacts += 1
            counts.artifact_bytes += item.size or 0
        self.summary.source.add(counts)
        return counts

    def _verify(
        self,
        src: Any,
        run: Run,
        digests: dict[str, SeriesDigest] | None,
        artifacts: list[ArtifactFile] | None = None,
    ) -> None:
        """Count the run on both sides; shipyard's side counts only what equals the source."""
        rid = run.id
        source, got = Counts(runs=1), Counts(runs=1)
        src_params = {k: str(v) for k, v in src.data.params.items()}
        source.params = len(src_params)
        got.params = sum(1 for k, v in run.params.items() if src_params.get(k) == str(v))
        src_tags = dict(src.data.tags)
        source.tags = len(src_tags)
        got.tags = sum(1 for k, v in source_tags(run.tags).items() if src_tags.get(k) == v)
        if digests is None:
            digests = self._source_digests(src)
        keys = sorted(set(src.data.metrics) | set(digests))
        target = self._target_digests(rid, keys)
        for key in keys:
            want = digests.get(key) or SeriesDigest()
            have = target.get(key) or SeriesDigest()
            source.metric_points += want.count
            if have.count == want.count and have.digest() == want.digest():
                got.metric_points += have.count
        items = artifacts if artifacts is not None else list(self.source.artifact_files(src))
        listed = self.metadata.list_artifacts(rid) if items else []  # nothing to compare: no query
        records = {a.name: a for a in listed if a.task_id is None}
        for item in items:
            source.artifacts += 1
            record = records.get(item.path)
            size = item.size if item.size is not None else (record.size if record else 0)
            source.artifact_bytes += size
            if record is not None and record.size == size:
                got.artifacts += 1
                got.artifact_bytes += record.size
        self.summary.source.add(replace(source, experiments=0))
        self.summary.imported.add(replace(got, experiments=0))

    def _target_digests(self, rid: str, keys: list[str]) -> dict[str, SeriesDigest]:
        """What shipyard holds of the run's metrics, digested: every key's chunks a page at a time
        where the store reads them so (one query a page), else each of ``keys`` page by page."""
        digests: dict[str, SeriesDigest] = {}
        page = self.metadata.get_run_metric_chunks(rid)
        if page is None:
            for key in keys:
                digests[key] = self._target_digest(rid, key)
            return digests
        while True:
            chunks = page.chunks
            if chunks:
                import numpy as np

                update_spans(
                    digests,
                    [(c.key, len(c.values)) for c in chunks],
                    np.concatenate([c.values for c in chunks]),
                    np.concatenate([c.steps for c in chunks]),
                    np.concatenate([c.timestamps for c in chunks]),
                )
            if page.next_page_token is None:
                return digests
            page = self.metadata.get_run_metric_chunks(rid, page_token=page.next_page_token)
            assert page is not None  # a store that gave a first page gives the next

    def _target_digest(self, rid: str, key: str) -> SeriesDigest:
        digest = SeriesDigest()
        token: str | None = None
        while True:
            page = self.metadata.get_metric_columns_page(rid, key, limit=METRIC_PAGE_MAX, page_token=token)
            digest.update(page.values, page.steps, page.timestamps)
            token = page.next_page_token
            if token is None:
                return digest


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """The cyclic garbage collector off while one run is copied: its points come as millions of
    short-lived tuples and lists (freed by reference counting, no cycles), which would otherwise
    set off full collections over every object the process holds (MLflow's and SQLAlchemy's
    modules: about a third of the import's CPU time). Whatever cycles the run's work left are
    collected as usual once it is turned back on."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class _Columns:
    __slots__ = ("keys", "spans", "stamps", "steps", "values")

    def __init__(self) -> None:
        self.keys: list[str] = []
        self.values: list[float] = []
        self.steps: list[int] = []
        self.stamps: list[int] = []
        self.spans: list[tuple[str, int]] = []  # (key, points) per piece added, in order

    def add(self, key: str, values: list[float], steps: list[int], stamps: list[int]) -> None:
        self.keys.extend([key] * len(values))
        self.values.extend(values)
        self.steps.extend(steps)
        self.stamps.extend(stamps)
        self.spans.append((key, len(values)))


def import_mlflow(
    uri: str,
    stores: Stores,
    options: ImportOptions | None = None,
    progress: ImportProgress | None = None,
) -> Summary:
    """Import the MLflow store at ``uri`` into ``stores`` (see the module doc); the summary's
    counts are checked (IntegrityError when shipyard's differ from the source's)."""
    return MlflowImporter(MlflowSource(uri), stores, options, progress).run()
