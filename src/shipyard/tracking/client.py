"""TrackingClient: the tracking service over explicit stores (no process state, no caching).

Every name is validated here, once, before anything is written: params, metrics, tags and
artifact names with :func:`shipyard.core.names.validate_key`, run names and namespaces with
:func:`~shipyard.core.names.validate_name`. Bad input raises
:class:`~shipyard.core.errors.InvalidInputError` and leaves the stores untouched.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from shipyard.artifacts.store import StoredObject
from shipyard.core.branches import check_branch_write, validate_namespace
from shipyard.core.clock import utcnow
from shipyard.core.entities import ArtifactRecord, Metric, Run, RunCreate, RunStatus
from shipyard.core.errors import ConflictError, InvalidInputError, NotFoundError
from shipyard.core.ids import looks_like_id, new_id
from shipyard.core.names import validate_key, validate_name
from shipyard.metadata.branches import note_branch
from shipyard.tracking.batching import coerce_int, coerce_value
from shipyard.tracking.heartbeat import StaleRunReaper
from shipyard.tracking.stores import Stores

_HEX = frozenset("0123456789abcdef")


def validate_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """Param names checked and values JSON-serializable (str, numbers, bool, None, lists, dicts)."""
    clean: dict[str, Any] = {}
    for key, value in params.items():
        validate_key("param", key)
        try:
            json.dumps(value, allow_nan=True)
        except (TypeError, ValueError) as exc:
            raise InvalidInputError(
                f"param {key!r}: value of type {type(value).__name__} is not JSON-serializable ({exc}); "
                "log str, int, float, bool, None, or lists/dicts of those"
            ) from None
        clean[key] = value
    return clean


def validate_tags(tags: Mapping[str, Any]) -> dict[str, str]:
    clean: dict[str, str] = {}
    for key, value in tags.items():
        validate_key("tag", key)
        if value is None:
            raise InvalidInputError(f"tag {key!r}: value must not be None; use delete_tag to remove a tag")
        clean[key] = value if isinstance(value, str) else str(value)
    return clean


def check_param_conflicts(existing: Mapping[str, Any], new: Mapping[str, Any]) -> None:
    """Params are write-once: the same value again is fine, another value is a ConflictError."""
    for key, value in new.items():
        if key in existing and existing[key] != value:
            raise ConflictError(
                f"param {key!r} is already {existing[key]!r}; cannot change it to {value!r} "
                "(params are write-once: log a new param name or start a new run)"
            )


class TrackingClient:
    """Runs, params, metrics, tags and artifacts over one :class:`Stores`."""

    def __init__(self, stores: Stores) -> None:
        self.stores = stores
        self.settings = stores.settings
        self.metadata = stores.metadata
        self.artifacts = stores.artifacts
        self._reaper = StaleRunReaper(self.metadata, self.settings.heartbeat_timeout_s)

    # ---- runs ---------------------------------------------------------------------------------
    def create_run(
        self,
        name: str | None = None,
        *,
        params: Mapping[str, Any] | None = None,
        tags: Mapping[str, Any] | None = None,
        namespace: str | None = None,
        flow_name: str | None = None,
    ) -> Run:
        run_id = new_id()
        run_name = validate_name("run", name) if name is not None else f"run-{run_id[-8:]}"
        ns = validate_namespace(namespace) if namespace is not None else self.settings.write_namespace
        check_branch_write(self.settings, ns)
        note_branch(self.metadata, self.settings)
        create = RunCreate(
            id=run_id,
            name=run_name,
            namespace=ns,
            user=self.settings.user,
            start_time=utcnow(),
            params=validate_params(params or {}),
            tags=validate_tags(tags or {}),
            flow_name=flow_name,
        )
        return self.metadata.create_run(create)

    def resolve_run_id(self, run_id: str) -> str:
        """A full run id from an id or a unique prefix of one."""
        if not isinstance(run_id, str) or not run_id:
            raise InvalidInputError("run id must be a non-empty string")
        text = run_id.strip().lower()
        if looks_like_id(text):
            return text
        if not set(text) <= _HEX or len(text) > 32:
            raise NotFoundError(f"no run with id {run_id!r} (run ids are 32 hex characters)")
        matches = self.metadata.find_run_ids(text, limit=2)
        if not matches:
            raise NotFoundError(
                f"no run with id {run_id!r}; `shipyard runs list --all-namespaces` lists every run"
            )
        if len(matches) > 1:
            raise InvalidInputError(f"run id prefix {run_id!r} is ambiguous; type more characters")
        return matches[0]

    def get_run(self, run_id: str) -> Run:
        """One run by id or unique id prefix (runs whose heartbeat lapsed are failed first)."""
        full = self.resolve_run_id(run_id)
        self._reaper.maybe_reap()
        try:
            return self.metadata.get_run(full)
        except NotFoundError:
            raise NotFoundError(
                f"no run with id {full!r}; `shipyard runs list --all-namespaces` lists every run"
            ) from None

    def search_runs(
        self,
        *,
        namespaces: Sequence[str] | None = None,
        filter: str | None = None,
        order_by: Sequence[str] | str = (),
        max_results: int = 100,
        flow_name: str | None = None,
        statuses: Sequence[RunStatus] | None = None,
    ) -> list[Run]:
        """Runs in ``namespaces`` (None: all) matching ``filter`` (see ``shipyard.metadata.filters``)."""
        if isinstance(order_by, str):
            order_by = [order_by]
        if max_results <= 0:
            raise InvalidInputError(f"max_results must be positive, got {max_results}")
        self._reaper.maybe_reap()
        page = self.metadata.search_runs(
            namespaces=namespaces,
            filter=filter,
            order_by=list(order_by),
            max_results=max_results,
            flow_name=flow_name,
            statuses=statuses,
        )
        return page.runs

    def finish_run(self, run_id: str, status: RunStatus | str, error: str | None = None) -> Run:
        try:
            status = RunStatus(status)
        except ValueError:
            choices = ", ".join(s.value for s in RunStatus if s.finished)
            raise InvalidInputError(f"unknown run status {status!r}; use one of {choices}") from None
        if not status.finished:
            raise InvalidInputError("a run can only be ended with a finished status, not 'running'")
        return self.metadata.finish_run(run_id, status, utcnow(), error)

    def delete_run(self, run_id: str, *, force: bool = False) -> Run:
        """Delete a run's records (params, metrics, tags, tasks, artifact records); returns it as it
        was. A running run is refused unless ``force``. Blobs stay until garbage collection
        (``shipyard artifacts gc``), and model versions registered from the run keep their package."""
        run = self.get_run(run_id)
        if run.status is RunStatus.RUNNING and not force:
            raise ConflictError(
                f"run {run.id} is still running; wait for it to end (or `shipyard runs gc` once its "
                "process is gone), or pass force=True / --force to delete it anyway"
            )
        self.metadata.delete_run(run.id)
        return run

    def reap_stale_runs(self) -> list[str]:
        """Fail every RUNNING run whose heartbeat is older than ``heartbeat_timeout_s``."""
        return self._reaper.reap()

    # ---- params, metrics, tags -------------------------------------------------------------------
    def log_params(
        self, run_id: str, params: Mapping[str, Any], known: Mapping[str, Any] | None = None
    ) -> None:
        clean = validate_params(params)
        existing = known if known is not None else self.metadata.get_run(run_id).params
        check_param_conflicts(existing, clean)
        self.metadata.log_params(run_id, clean)

    def log_metrics(self, run_id: str, metrics: Sequence[Metric]) -> None:
        """Write metric points now, in one batch (the fluent API buffers instead)."""
        for m in metrics:
            validate_key("metric", m.key)
            coerce_value(m.key, m.value)
            coerce_int(m.key, "step", m.step)
        self.metadata.log_metrics(run_id, list(metrics))

    def set_tags(self, run_id: str, tags: Mapping[str, Any]) -> None:
        self.metadata.set_tags(run_id, validate_tags(tags))

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        validate_key("metric", key)
        return self.metadata.get_metric_history(self.resolve_run_id(run_id), key)

    # ---- artifacts -------------------------------------------------------------------------------
    def log_artifact(
        self, run_id: str, obj: Any, name: str | None = None, *, task_id: str | None = None
    ) -> ArtifactRecord:
        """Store an object, or a file/folder given as a ``pathlib.Path`` (any ``os.PathLike``).

        A ``str`` is stored as a string object, never read as a path: pass ``Path(...)`` for files.
        ``name`` defaults to the file or folder name for paths and is required for objects.
        """
        is_path = isinstance(obj, os.PathLike)
        if name is None:
            if not is_path:
                raise InvalidInputError(
                    f"log_artifact needs name=... for a {type(obj).__name__} object "
                    "(only files and folders default to their own name)"
                )
            name = Path(obj).name
        validate_key("artifact", name)
        if is_path:
            path = Path(obj)
            if not path.exists():
                raise NotFoundError(f"cannot log artifact {name!r}: {str(path)!r} does not exist")
            stored = self.artifacts.put_path(path)
        else:
            stored = self.artifacts.put_object(obj)
        record = stored.record(run_id, name, task_id=task_id)
        return self.metadata.record_artifact(record)

    def find_artifact(self, run_id: str, name: str, task_id: str | None = None) -> ArtifactRecord:
        validate_key("artifact", name)
        return self.metadata.find_artifact(self.resolve_run_id(run_id), name, task_id)

    def list_artifacts(self, run_id: str, task_id: str | None = None) -> list[ArtifactRecord]:
        return self.metadata.list_artifacts(self.resolve_run_id(run_id), task_id)

    def load_artifact(
        self, run_id: str, name: str, *, task_id: str | None = None, allow_unsafe: bool = False
    ) -> Any:
        """The stored object (files and folders come back as a Path to a verified local copy).
        Pickled objects are refused unless ``allow_unsafe=True``: loading one runs code from it."""
        record = self.find_artifact(run_id, name, task_id)
        return self.artifacts.get_object(stored_object(record), name=name, allow_unsafe=allow_unsafe)


def stored_object(record: ArtifactRecord) -> StoredObject:
    return StoredObject.of(record)
