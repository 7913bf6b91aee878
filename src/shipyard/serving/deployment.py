"""A running deployment: the versions' micro-batchers, traffic routing, shadow copies, metrics and
the prediction log — everything ``POST /predict`` does after the body is parsed.

Routing is sticky: a request goes to the version whose cumulative weight range holds
``crc32(request_id) % 100``, so a retried request id lands on the same version. An experiment
(``config.experiment``) routes by its unit instead (the request id, or the value of
``config.assign_key``) hashed into 10,000 buckets (:mod:`shipyard.experiments.assign`), logs each
row's arm, logs failed requests (role ``error``) so error rates can be compared, and can send the
challenger's share to 0 at once (:meth:`Deployment.stop_challenger`, a guardrail stop).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from shipyard.serving.batcher import MicroBatcher, Overloaded, Result
from shipyard.serving.config import ServingConfig
from shipyard.serving.metrics import ServingMetrics
from shipyard.serving.models import Variant, warm_up
from shipyard.serving.predlog import LogEntry, PredictionLogWriter

log = logging.getLogger("shipyard.serving")

__all__ = ["Deployment", "Overloaded", "PredictTimeout", "Prediction"]


class PredictTimeout(Exception):
    """The model did not answer within the request timeout."""


@dataclass
class Prediction:
    variant: Variant
    predictions: list[Any]
    proba: list[list[float]] | None


class Deployment:
    def __init__(
        self,
        config: ServingConfig,
        variants: list[Variant],
        shadow: Variant | None,
        metrics: ServingMetrics,
        log_writer: PredictionLogWriter | None,
        *,
        on_wait: Callable[[float, float], None] | None = None,
    ) -> None:
        self.config = config
        self.variants = variants
        self.shadow = shadow
        self.metrics = metrics
        self.log_writer = log_writer
        self.ready = False
        self.arriving = 0  # requests received whose rows are not queued yet (the batchers wait for them)
        self.batchers = {
            v.label: MicroBatcher(
                v,
                metrics,
                max_batch_size=config.max_batch_size,
                max_wait_ms=config.max_wait_ms,
                max_queue=config.max_queue,
                arriving=(lambda: self.arriving) if v.role == "primary" else (lambda: 0),
                on_wait=on_wait if v.role == "primary" else None,
            )
            for v in [*variants, *([shadow] if shadow else [])]
        }
        self._bounds: list[tuple[int, Variant]] = []
        total = 0
        for v in variants:
            total += v.weight if len(variants) > 1 else 100
            self._bounds.append((total, v))
        self.experiment = config.experiment
        self.challenger_share = float(variants[1].weight) if config.experiment and len(variants) > 1 else 0.0
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def primary(self) -> Variant:
        return self.variants[0]

    async def start(self) -> None:
        for batcher in self.batchers.values():
            batcher.start()
        if self.log_writer is not None:
            self.log_writer.start()
        for v in self.variants:
            await asyncio.to_thread(warm_up, v)
        if self.shadow is not None:
            try:
                await asyncio.to_thread(warm_up, self.shadow)
            except Exception as exc:  # a failing shadow never stops the deployment
                log.warning("shadow version %s failed its warm-up: %s", self.shadow.label, exc)
        gc.collect()
        gc.freeze()  # the loaded models and app never need scanning again: shorter GC pauses
        self.ready = True

    async def stop(self) -> None:
        self.ready = False
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=self.config.timeout_s)
        for batcher in self.batchers.values():
            await batcher.stop()
        if self.log_writer is not None:
            await asyncio.to_thread(self.log_writer.close)

    def route(self, request_id: str) -> Variant:
        """The version a request (or, in an experiment, a unit) goes to."""
        if self.experiment is not None:
            from shipyard.experiments.assign import arm

            return self.variants[arm(request_id, self.challenger_share, self.experiment)]
        slot = zlib.crc32(request_id.encode()) % 100
        for bound, variant in self._bounds:
            if slot < bound:
                return variant
        return self._bounds[-1][1]

    def stop_challenger(self) -> None:
        """Send no more traffic to the experiment's challenger (one assignment: the next request
        already goes to production)."""
        self.challenger_share = 0.0

    def arm_of(self, variant: Variant, tag: tuple[str, str] | None = None) -> tuple[str | None, str | None]:
        """The (experiment, arm) a row is logged with: this process's own experiment's, else the
        one the agent's router assigned (``tag``, its signature checked), else none."""
        if self.experiment is None:
            return tag if tag is not None else (None, None)
        return self.experiment, "challenger" if variant is not self.variants[0] else "control"

    def log_failure(  # noqa: PLR0917
        self,
        request_id: str,
        ts: datetime,
        started: float,
        variant: Variant,
        columns: dict[str, list[Any]],
        rows: int,
        tag: tuple[str, str] | None = None,
    ) -> None:
        """An experiment's failed request, logged with role ``error`` (its error rate); ``tag``:
        the experiment and arm the agent's router assigned."""
        if (self.experiment is None and tag is None) or self.log_writer is None:
            return
        latency_ms = (time.perf_counter() - started) * 1000.0
        experiment, arm = self.arm_of(variant, tag)
        self._log(
            LogEntry(
                request_id,
                ts,
                variant.name,
                variant.version,
                "error",
                latency_ms,
                columns,
                [None] * rows,
                None,
                arm=arm,
                experiment=experiment,
            )
        )

    async def _run(self, variant: Variant, columns: dict[str, list[Any]], rows: int) -> Result:
        future = self.batchers[variant.label].submit(columns, rows)
        try:
            return await asyncio.wait_for(future, self.config.timeout_s)
        except TimeoutError:
            raise PredictTimeout from None

    async def predict(  # noqa: PLR0917
        self,
        request_id: str,
        ts: datetime,
        started: float,
        columns: dict[str, list[Any]],
        rows: int,
        keys: dict[str, list[Any]] | None = None,
        unit: str | None = None,
        tag: tuple[str, str] | None = None,
    ) -> Prediction:
        """Route (by ``unit``, default the request id), batch, predict; log the request (with the
        entities' join ``keys`` of an entities body, and ``tag``: the experiment and arm the
        agent's router assigned) and send the shadow copy off the hot path.

        Raises :class:`Overloaded` (queue full), :class:`PredictTimeout`, or the model's error.
        """
        variant = self.route(unit or request_id)
        preds, proba = await self._run(variant, columns, rows)
        latency_ms = (time.perf_counter() - started) * 1000.0
        experiment, arm = self.arm_of(variant, tag)
        self._log(
            LogEntry(
                request_id,
                ts,
                variant.name,
                variant.version,
                "primary",
                latency_ms,
                columns,
                preds,
                proba,
                keys,
                arm,
                experiment,
            )
        )
        if self.shadow is not None:
            task = asyncio.get_running_loop().create_task(self._shadow(request_id, ts, columns, rows, keys))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return Prediction(variant, preds, proba)

    def _log(self, entry: LogEntry) -> None:
        if self.log_writer is not None:
            self.log_writer.put(entry)

    async def _shadow(
        self,
        request_id: str,
        ts: datetime,
        columns: dict[str, list[Any]],
        rows: int,
        keys: dict[str, list[Any]] | None,
    ) -> None:
        """The shadow's answer goes to the log only; its failures are counted, never raised."""
        assert self.shadow is not None
        shadow = self.shadow
        started = time.perf_counter()
        try:
            preds, proba = await self._run(shadow, columns, rows)
        except Overloaded:
            self.metrics.errors.labels(shadow.label, "shadow_overloaded").inc()
            return
        except Exception as exc:
            self.metrics.errors.labels(shadow.label, "shadow_error").inc()
            log.debug("shadow %s failed on %s: %s", shadow.label, request_id, exc)
            return
        latency_ms = (time.perf_counter() - started) * 1000.0
        self._log(
            LogEntry(
                request_id, ts, shadow.name, shadow.version, "shadow", latency_ms, columns, preds, proba, keys
            )
        )


def utc_now() -> datetime:
    return datetime.now(UTC)
