"""The Ray executor: each task is a Ray task that calls the same "run one task" entry point as the
local executor, on whichever node of the cluster has the task's resources free.

- Resources map to Ray's: ``cpu`` -> ``num_cpus`` (1 when not declared, one task per core like
  the local pool), ``gpu`` -> ``num_gpus``, ``memory`` -> ``memory`` in bytes (reserved by Ray's
  scheduler, and enforced in the worker as an address-space limit: see ``ray_worker``).
- Retries stay the step's (``max_retries=0`` for Ray): a task on a node that dies fails that
  attempt, and the step's ``retries`` run it again on a node that is alive. A timeout is
  ``ray.cancel(force=True)`` (the worker process is killed); its clock starts when a worker starts
  the task (such tasks run as Ray streaming tasks that first yield "started"), not while Ray
  queues it, and they are submitted only when the cluster has a free core for them.
- Submission is bounded: ``max_workers`` tasks, else two per cluster core (so a worker has its
  next task queued while it finishes one); the rest wait in the runtime's ready queue.
- Workers build their own stores from the shipped :class:`Settings` (and get the runner's
  ``SHIPYARD_*`` variables and working folder for the task); outputs travel only through the
  artifact store. With a cluster that spans other machines, SQLite metadata or the default local
  artifact folder is refused (ConfigurationError saying what to set). A node without the flow file
  (or with another version of it) imports the run's code package from the artifact store
  (:mod:`shipyard.runtime.code_package`); shipyard itself must be installed on every node.
- Task records name the Ray node (``ray:<ip>:<node id prefix>``).

``ray`` is imported when the executor is created, never when shipyard is imported.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass
from typing import Any

from shipyard.core.errors import FlowError
from shipyard.core.settings import Settings
from shipyard.executors.base import Executor, Resources, TaskFn, TaskRequest, TaskResult
from shipyard.executors.ray_connect import (
    address_is_local,
    alive_nodes,
    check_stores,
    cluster_is_local,
    connect,
    import_ray,
    resolve_address,
)
from shipyard.executors.ray_errors import describe_failure
from shipyard.executors.ray_worker import WorkerTask, run_on_worker, run_streaming

MIB = 1024 * 1024


@dataclass
class _Pending:
    request: TaskRequest
    cpu: float
    streaming: bool = False  # a task with a timeout: yields "started" first, then its payload
    deadline: float | None = None  # set when it starts
    node: str | None = None


class RayExecutor(Executor):
    name = "ray"

    def __init__(
        self,
        address: str | None = None,
        max_workers: int | None = None,
        connect_timeout_s: float = 5.0,
        pipeline: int = 2,
    ) -> None:
        self._ray = import_ray()
        self.address = resolve_address(address)
        self.max_workers = max_workers
        self.connect_timeout_s = connect_timeout_s
        self.pipeline = max(1, pipeline)  # tasks queued per core (without timeouts) to hide latency
        self._connected = False
        self._cluster_cpu = 1.0
        self._pending: dict[Any, _Pending] = {}
        self._remote: Any = None
        self._streaming: Any = None
        self._args: tuple[Any, ...] = ()
        self._to_check: list[tuple[Resources, str]] = []

    @property
    def where(self) -> str:
        return f"the Ray cluster at {self.address}" if self.address else "the local Ray instance"

    # ---- lifecycle -----------------------------------------------------------------------------
    def _connect(self) -> None:
        if self._connected:
            return
        connect(self._ray, self.address, self.connect_timeout_s)
        self._connected = True
        self._cluster_cpu = max(1.0, float(self._ray.cluster_resources().get("CPU", 1.0)))

    def init(self, task_fn: TaskFn, settings: Settings) -> None:
        if not address_is_local(self.address):
            check_stores(settings, self.where)  # before connecting: fast, and needs no cluster
        self._connect()
        nodes = alive_nodes(self._ray)
        if not cluster_is_local(nodes):
            check_stores(settings, self.where)
        for resources, what in self._to_check:
            self._check_nodes(nodes, resources, what)
        self._to_check = []
        ray = self._ray
        self._remote = ray.remote(run_on_worker)
        self._streaming = ray.remote(run_streaming)
        env = {k: v for k, v in os.environ.items() if k.startswith("SHIPYARD_")}
        self._args = (ray.put(task_fn), ray.put(_portable(settings)), env, os.getcwd())

    def finalize(self) -> None:
        """Cancel what still runs; the connection stays open for the next run in this process."""
        for ref in list(self._pending):
            self._cancel(ref)
        self._pending.clear()

    # ---- resources ---------------------------------------------------------------------------
    def check_fits(self, resources: Resources, what: str) -> None:
        """Checked against the cluster's nodes once connected (in ``init``, or now if connected)."""
        if not self._connected:
            self._to_check.append((resources, what))
            return
        self._check_nodes(alive_nodes(self._ray), resources, what)

    def _check_nodes(self, nodes: list[dict[str, Any]], resources: Resources, what: str) -> None:
        need = {"CPU": resources.cpu, "GPU": float(resources.gpu), "memory": float(resources.memory_mb * MIB)}
        if any(all(n.get("Resources", {}).get(k, 0.0) >= v for k, v in need.items() if v) for n in nodes):
            return
        largest = {k: max((n.get("Resources", {}).get(k, 0.0) for n in nodes), default=0.0) for k in need}
        problems = []
        if resources.cpu > largest["CPU"]:
            problems.append(f"cpu={resources.cpu:g} (largest node has {largest['CPU']:g})")
        if resources.gpu > largest["GPU"]:
            problems.append(f"gpu={resources.gpu} (largest node has {largest['GPU']:g})")
        if resources.memory_mb * MIB > largest["memory"]:
            has = largest["memory"] / MIB
            problems.append(f"memory={resources.memory_mb} MiB (largest node has {has:.0f} MiB)")
        detail = ", ".join(problems) or "no single node has all of it"
        raise FlowError(f"{what} asks for more than any node of {self.where} has: {detail}")

    # ---- tasks ---------------------------------------------------------------------------------
    def running(self) -> int:
        return len(self._pending)

    def can_submit(self, request: TaskRequest) -> bool:
        if not self._pending:
            return True
        if self.max_workers is not None and len(self._pending) >= self.max_workers:
            return False
        held = sum(p.cpu for p in self._pending.values())
        depth = 1 if (request.timeout_s or self.max_workers is not None) else self.pipeline
        return held + _cpu(request.resources) <= self._cluster_cpu * depth + 1e-9

    def submit(self, request: TaskRequest) -> None:
        assert self._remote is not None, "init() was not called"
        res = request.resources
        options: dict[str, Any] = {
            "num_cpus": _cpu(res),
            "num_gpus": res.gpu,
            "max_retries": 0,
            "retry_exceptions": False,
            "name": f"shipyard:{request.key}",
        }
        if res.memory_mb:
            options["memory"] = res.memory_mb * MIB
        fn_ref, settings_ref, env, cwd = self._args
        args = WorkerTask(request.run_id, request.task_id, request.attempt, env, cwd, res.memory_mb)
        if request.timeout_s:  # the clock starts when a worker starts it, not while Ray queues it
            options["num_returns"] = "streaming"
            ref = self._streaming.options(**options).remote(fn_ref, settings_ref, args)
        else:
            ref = self._remote.options(**options).remote(fn_ref, settings_ref, args)
        self._pending[ref] = _Pending(request, _cpu(res), streaming=bool(request.timeout_s))

    def wait(self, timeout: float) -> list[TaskResult]:
        if not self._pending:
            if timeout > 0:
                time.sleep(timeout)
            return []
        ray = self._ray
        deadlines = [p.deadline for p in self._pending.values() if p.deadline is not None]
        if deadlines:
            timeout = max(0.0, min(timeout, min(deadlines) - time.monotonic()))
        refs = list(self._pending)
        ready, _ = ray.wait(refs, num_returns=1, timeout=timeout)
        if ready and len(refs) > 1:
            ready, _ = ray.wait(refs, num_returns=len(refs), timeout=0)
        results = [r for r in (self._collect(ref) for ref in ready) if r is not None]
        now = time.monotonic()
        for ref, pending in list(self._pending.items()):
            if pending.deadline is not None and now >= pending.deadline:
                self._cancel(ref)
                req = pending.request
                results.append(_failed(pending, f"timed out after {req.timeout_s:g}s"))
        return results

    def _collect(self, ref: Any) -> TaskResult | None:
        """The result of a finished task; None when a streaming task only said it started."""
        pending = self._pending[ref]
        req = pending.request
        try:
            if pending.streaming:
                item = self._ray.get(next(ref))
                if pending.deadline is None:  # the first item: the worker started it
                    pending.node = str(item)
                    pending.deadline = time.monotonic() + (req.timeout_s or 0.0)
                    return None
                payload: dict[str, Any] = item
            else:
                payload = self._ray.get(ref)
        except Exception as exc:  # StopIteration included: a stream that ended early
            self._pending.pop(ref, None)
            return _failed(pending, describe_failure(exc, req.resources.memory_mb))
        self._pending.pop(ref, None)
        return TaskResult(
            req.task_id,
            req.attempt,
            ok=bool(payload.get("ok")),
            error=payload.get("error"),
            recorded=bool(payload.get("recorded", True)),
            payload=payload,
            node=payload.get("node"),
        )

    def _cancel(self, ref: Any) -> None:
        self._pending.pop(ref, None)
        with contextlib.suppress(Exception):  # already finished, or its node is gone
            self._ray.cancel(ref, force=True)


def _failed(pending: _Pending, error: str) -> TaskResult:
    req = pending.request
    return TaskResult(req.task_id, req.attempt, ok=False, error=error, recorded=False, node=pending.node)


def _cpu(res: Resources) -> float:
    return res.cpu if res.cpu > 0 else 1.0


def _portable(settings: Settings) -> Settings:
    """Settings with absolute paths, so a worker with another working folder finds the same home."""
    return settings.model_copy(update={"home": settings.home.expanduser().resolve()})
