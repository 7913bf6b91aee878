"""The runner's loop: dispatch ready tasks to an executor, retry with backoff, heartbeat the run,
advance the plan as tasks finish, and finish the run (SUCCEEDED, FAILED with the failing task's
traceback, or CANCELLED on Ctrl-C with every worker stopped)."""

from __future__ import annotations

import heapq
import signal
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shipyard.core.clock import utcnow
from shipyard.core.entities import RunStatus, TaskStatus
from shipyard.executors.base import Executor, TaskRequest, TaskResult, resources_from_dict
from shipyard.runtime.artifacts_io import OWN_OUTPUTS, ref_to_stored
from shipyard.runtime.plan import RunPlan
from shipyard.runtime.plan_state import Slot
from shipyard.runtime.stores import RunStores

ProgressFn = Callable[[RunPlan], None]


@dataclass
class Outcome:
    status: RunStatus
    error: str | None = None


class Scheduler:
    def __init__(
        self,
        plan: RunPlan,
        executor: Executor,
        stores: RunStores,
        *,
        progress: ProgressFn | None = None,
        poll_s: float = 0.2,
    ) -> None:
        self.plan = plan
        self.executor = executor
        self.stores = stores
        self.progress = progress
        self.poll_s = poll_s
        self.heartbeat_s = stores.settings.heartbeat_interval_s
        self._ready: deque[Slot] = deque()
        self._retries: list[tuple[float, int, Slot]] = []
        self._inflight: dict[str, Slot] = {}
        self._seq = 0

    # ---- main loop ---------------------------------------------------------------------------
    def run(self) -> Outcome:
        """Run to the end; Ctrl-C or SIGTERM cancels the run and stops every worker."""
        previous = None
        if threading.current_thread() is threading.main_thread():
            previous = signal.signal(signal.SIGTERM, _terminate)
        try:
            return self._run()
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)

    def _run(self) -> Outcome:
        run_id = self.plan.run_id
        md = self.stores.metadata
        last_beat = time.monotonic()
        last_progress = 0.0
        try:
            self._ready.extend(self.plan.advance())
            while True:
                self._submit_ready()
                if self.plan.failed is not None and not self._inflight:
                    break
                if not self._inflight and not self._ready and not self._retries:
                    more = self.plan.advance()
                    if not more:
                        break
                    self._ready.extend(more)
                    continue
                timeout = self.poll_s
                if self._retries:
                    timeout = max(0.0, min(timeout, self._retries[0][0] - time.monotonic()))
                results = self.executor.wait(timeout) if self._inflight else self._sleep(timeout)
                for result in results:
                    self._handle(result)
                if results and self.plan.failed is None:
                    self._ready.extend(self.plan.advance())
                self._due_retries()
                now = time.monotonic()
                if now - last_beat >= self.heartbeat_s:
                    md.heartbeat_run(run_id)  # stamped by the store's clock
                    last_beat = now
                if self.progress is not None and now - last_progress >= 0.1:
                    self.progress(self.plan)
                    last_progress = now
        except KeyboardInterrupt:
            self.executor.finalize()
            self._cancel_open()
            md.finish_run(run_id, RunStatus.CANCELLED, utcnow(), error="cancelled (interrupted)")
            return Outcome(RunStatus.CANCELLED, "cancelled (interrupted)")
        finally:
            self.executor.finalize()
            if self.progress is not None:
                self.progress(self.plan)
        if self.plan.failed is not None:
            self._cancel_open()
            key, error = self.plan.failed
            message = f"step {key} failed: {error}"
            md.finish_run(run_id, RunStatus.FAILED, utcnow(), error=message)
            return Outcome(RunStatus.FAILED, message)
        record_output(self.plan, self.stores)
        md.finish_run(run_id, RunStatus.SUCCEEDED, utcnow())
        return Outcome(RunStatus.SUCCEEDED)

    def _sleep(self, timeout: float) -> list[TaskResult]:
        time.sleep(timeout)
        return []

    # ---- dispatch ------------------------------------------------------------------------------
    def _request(self, slot: Slot) -> TaskRequest:
        timeout = slot.opts.get("timeout")
        return TaskRequest(
            run_id=self.plan.run_id,
            task_id=slot.task_id,
            key=slot.key,
            attempt=slot.attempt,
            resources=resources_from_dict(slot.opts.get("resources")),
            timeout_s=float(timeout) if timeout else None,
        )

    def _submit_ready(self) -> None:
        if self.plan.failed is not None:
            return
        waiting: deque[Slot] = deque()
        while self._ready:
            slot = self._ready.popleft()
            request = self._request(slot)
            if self.executor.can_submit(request):
                self.executor.submit(request)
                slot.status = TaskStatus.RUNNING
                self._inflight[slot.task_id] = slot
            else:
                waiting.append(slot)
                if self.executor.running() == 0:
                    continue
                if (
                    not request.resources.cpu
                    and not request.resources.gpu
                    and not request.resources.memory_mb
                ):
                    break  # no free worker: the rest must wait too
        waiting.extend(self._ready)
        self._ready = waiting

    def _handle(self, result: TaskResult) -> None:
        slot = self._inflight.pop(result.task_id, None)
        if slot is None:
            return
        if result.ok:
            self.plan.task_succeeded(slot, result.payload["output"])
            return
        error = result.error or "failed"
        retries = int(slot.opts.get("retries", 0))
        if not result.recorded:
            self.stores.metadata.update_task(
                slot.task_id,
                status=TaskStatus.FAILED,
                attempts=slot.attempt,
                ended_at=utcnow(),
                error=error,
                node=result.node,
            )
        if slot.attempt <= retries:
            delay = float(slot.opts.get("retry_delay", 1.0)) * (2 ** (slot.attempt - 1))
            slot.attempt += 1
            self._seq += 1
            heapq.heappush(self._retries, (time.monotonic() + delay, self._seq, slot))
            return
        self.plan.task_failed(slot, f"attempt {slot.attempt} of {retries + 1}: {error}")

    def _due_retries(self) -> None:
        now = time.monotonic()
        while self._retries and self._retries[0][0] <= now:
            _, _, slot = heapq.heappop(self._retries)
            if self.plan.failed is None:
                self._ready.append(slot)
            else:
                self._cancel(slot)

    def _cancel(self, slot: Slot) -> None:
        self.stores.metadata.update_task(slot.task_id, status=TaskStatus.CANCELLED, ended_at=utcnow())
        self.plan.task_cancelled(slot)

    def _cancel_open(self) -> None:
        open_slots = list(self._ready) + [s for _, _, s in self._retries] + list(self._inflight.values())
        self._ready.clear()
        self._retries.clear()
        self._inflight.clear()
        for slot in open_slots:
            self._cancel(slot)


def record_output(plan: RunPlan, stores: RunStores) -> None:
    """Record the flow's return value as the run's ``output`` artifact (a mapped output is
    loaded and stored as one list)."""
    from shipyard.flows.graph import ConstInput

    art = stores.artifacts
    out = plan.graph.output
    found = plan.output_tree()
    stored: Any
    if found is not None:
        tree, depth = found
        if depth == 0:
            stored = ref_to_stored(tree)
        else:
            values = _load_tree(stores, tree, depth)
            stored = art.put_object(values)
    elif isinstance(out, ConstInput):
        stored = art.put_object(out.value)
    else:
        return
    stores.metadata.record_artifact(stored.record(plan.run_id, "output"))


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _load_tree(stores: RunStores, tree: Any, depth: int) -> Any:
    if depth == 0:
        return stores.artifacts.get_object(ref_to_stored(tree), allow_unsafe=OWN_OUTPUTS)
    return [_load_tree(stores, sub, depth - 1) for sub in tree]
