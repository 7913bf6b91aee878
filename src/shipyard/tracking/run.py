"""ActiveRun: a handle on one run being written by this process (buffered metrics, heartbeat)."""

from __future__ import annotations

import traceback
from collections.abc import Mapping
from types import TracebackType
from typing import Any

from shipyard.core.entities import ArtifactRecord, Run, RunStatus
from shipyard.core.errors import InvalidInputError
from shipyard.tracking.batching import MetricBuffer
from shipyard.tracking.client import TrackingClient, check_param_conflicts, validate_params
from shipyard.tracking.heartbeat import Heartbeat


def describe_exception(exc: BaseException) -> str:
    """The text stored as a failed run's error: the traceback, ending with ``Type: message``."""
    return "".join(traceback.format_exception(exc)).rstrip()


def _finished_status(status: RunStatus | str) -> RunStatus:
    choices = ", ".join(s.value for s in RunStatus if s.finished)
    try:
        value = RunStatus(status)
    except ValueError:
        raise InvalidInputError(f"unknown run status {status!r}; use one of {choices}") from None
    if not value.finished:
        raise InvalidInputError(f"cannot end a run with status {value.value!r}; use one of {choices}")
    return value


class ActiveRun:
    """A run this process writes to. Use as a context manager, or call :meth:`end`.

    ``owned`` runs (from ``start_run``) are ended on exit: succeeded, or failed with the exception's
    traceback (cancelled on KeyboardInterrupt). Attached runs (``use_run``) are only flushed.
    """

    def __init__(
        self,
        client: TrackingClient,
        run: Run,
        *,
        owned: bool,
        task_id: str | None = None,
        heartbeat: bool = True,
    ) -> None:
        self.client = client
        self.id = run.id
        self.name = run.name
        self.namespace = run.namespace
        self.task_id = task_id
        self.owned = owned
        self._params: dict[str, Any] = dict(run.params)
        settings = client.settings
        self.metrics = MetricBuffer(
            self._write_metrics,
            batch_size=settings.metric_batch_size,
            flush_interval_s=settings.metric_flush_interval_s,
            name=f"run {run.id}",
        )
        self._heartbeat = (
            Heartbeat(client.metadata, run.id, settings.heartbeat_interval_s).start() if heartbeat else None
        )
        self.ended = False
        self.on_end: list[Any] = []  # callbacks(ActiveRun) run once when the handle is closed

    def _write_metrics(self, batch: Any) -> None:
        self.client.metadata.log_metrics(self.id, batch)

    def __repr__(self) -> str:
        return f"<ActiveRun {self.id} name={self.name!r} namespace={self.namespace!r}>"

    @property
    def info(self) -> Run:
        """The run as stored now (flushes buffered metrics first)."""
        self.flush()
        return self.client.metadata.get_run(self.id)

    # ---- logging ------------------------------------------------------------------------------
    def log_param(self, key: str, value: Any) -> None:
        self.log_params({key: value})

    def log_params(self, params: Mapping[str, Any]) -> None:
        self._check_open()
        clean = validate_params(params)
        check_param_conflicts(self._params, clean)
        self.client.log_params(self.id, clean, known=self._params)
        self._params.update(clean)

    def log_metric(self, key: str, value: float, step: int = 0, timestamp: int | None = None) -> None:
        self.metrics.add(key, value, step, timestamp)

    def log_metrics(self, metrics: Mapping[str, float], step: int = 0, timestamp: int | None = None) -> None:
        self.metrics.add_many(metrics, step, timestamp)

    def set_tag(self, key: str, value: str) -> None:
        self.set_tags({key: value})

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        self._check_open()
        self.client.set_tags(self.id, tags)

    def log_artifact(self, obj: Any, name: str | None = None) -> ArtifactRecord:
        self._check_open()
        return self.client.log_artifact(self.id, obj, name, task_id=self.task_id)

    def flush(self) -> None:
        """Write buffered metrics now; raises if an earlier background write failed."""
        if not self.ended:
            self.metrics.flush()

    # ---- ending ---------------------------------------------------------------------------------
    def end(self, status: RunStatus | str = RunStatus.SUCCEEDED, error: str | None = None) -> None:
        """Flush, stop the heartbeat and (for owned runs) record the final status. Idempotent."""
        if self.ended:
            return
        if self.owned:
            status = _finished_status(status)
        self.ended = True
        flush_error: BaseException | None = None
        try:
            self.metrics.close()
        except Exception as exc:
            flush_error = exc
        finally:
            if self._heartbeat is not None:
                self._heartbeat.stop()
            for callback in self.on_end:
                callback(self)
        if self.owned:
            if flush_error is not None and status is RunStatus.SUCCEEDED:
                status, error = RunStatus.FAILED, str(flush_error)
            self.client.finish_run(self.id, status, error)
        if flush_error is not None:
            raise flush_error

    def _check_open(self) -> None:
        if self.ended:
            raise InvalidInputError(f"run {self.id} has ended; start a new run to log more")

    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc is None:
            self.end(RunStatus.SUCCEEDED)
        else:
            interrupted = isinstance(exc, KeyboardInterrupt)
            status = RunStatus.CANCELLED if interrupted else RunStatus.FAILED
            try:
                self.end(
                    status, "interrupted (KeyboardInterrupt)" if interrupted else describe_exception(exc)
                )
            except Exception as end_error:  # the user's exception stays the one that propagates
                exc.add_note(f"shipyard: ending run {self.id} also failed: {end_error}")
