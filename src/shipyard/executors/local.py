"""The local executor: a pool of long-lived worker processes on this machine.

Each worker imports shipyard once and then runs many tasks by id, one at a time, over a pipe
(``fork`` on Linux, so a worker starts in milliseconds with the runner's imports already loaded;
``spawn`` elsewhere; ``shipyard run --start-method`` picks another). A worker that dies (segfault,
``os._exit``, ``kill -9``) or runs past a task's timeout fails only that task's attempt and is
replaced. GPU tasks get their own ``CUDA_VISIBLE_DEVICES`` and a worker of their own that retires
after the task (a CUDA context cannot move to other devices). Workers ignore Ctrl-C (the runner
stops them) and die with the runner (``PR_SET_PDEATHSIG`` on Linux), so nothing is orphaned.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing as mp
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import TYPE_CHECKING, Any

from shipyard.core.errors import InvalidInputError
from shipyard.executors.base import Executor, Resources, TaskFn, TaskRequest, TaskResult
from shipyard.executors.resources import ResourceAccountant, detect_gpus

if TYPE_CHECKING:
    from shipyard.core.settings import Settings

_PR_SET_PDEATHSIG = 1
WarmupFn = Callable[["Settings"], None]


def _die_with_parent() -> None:
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _worker_main(
    conn: Connection, task_fn: TaskFn, settings: Settings, parent: int, warmup: WarmupFn | None = None
) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent()
    if os.getppid() != parent:  # the runner died before we set the death signal
        os._exit(0)
    if warmup is not None:
        with contextlib.suppress(Exception):  # a real problem shows up again in the first task
            warmup(settings)
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            os._exit(0)
        if msg is None:
            os._exit(0)
        run_id, task_id, attempt, gpus = msg
        if gpus is not None:
            os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(gpus)
        try:
            payload = task_fn(run_id, task_id, settings, attempt=attempt)
        except BaseException:
            payload = {"ok": False, "error": traceback.format_exc(), "recorded": False}
        try:
            conn.send(payload)
        except (BrokenPipeError, OSError):
            os._exit(0)


@dataclass
class _Worker:
    process: BaseProcess
    conn: Connection
    request: TaskRequest | None = None
    deadline: float | None = None
    one_shot: bool = False

    @property
    def name(self) -> str:
        return f"local:{self.process.pid}"


def _machine_memory_mb() -> int:
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // (1024 * 1024))
    except (ValueError, OSError, AttributeError):
        return 1 << 40


def _describe_exit(code: int | None) -> str:
    if code is None:
        return "task process vanished"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"task process was killed by {name}"
    return f"task process exited with code {code}"


def default_start_method() -> str:
    """``fork`` on Linux (a worker starts in milliseconds with the runner's imports loaded);
    ``spawn`` elsewhere: on macOS, forking a process that has loaded system frameworks can crash,
    which is why Python itself defaults to spawn there."""
    if sys.platform.startswith("linux") and "fork" in mp.get_all_start_methods():
        return "fork"
    return "spawn"


class LocalExecutor(Executor):
    name = "local"

    def __init__(
        self, max_workers: int | None = None, start_method: str | None = None, warmup: WarmupFn | None = None
    ) -> None:
        """``warmup(settings)`` runs in each worker before its first task (e.g. open the stores); with
        it, one worker starts at :meth:`init`, so its warm-up overlaps the runner's own start."""
        self.max_workers = max(1, max_workers or os.cpu_count() or 1)
        self.warmup = warmup
        # not forkserver: its workers are children of the fork server, not of the runner, and the
        # runner-death check (PR_SET_PDEATHSIG + parent pid) is what keeps workers from orphaning
        methods = [m for m in mp.get_all_start_methods() if m in ("fork", "spawn")]
        if start_method is not None and start_method not in methods:
            raise InvalidInputError(
                f"start method {start_method!r} is not available here; use one of {', '.join(methods)}"
            )
        self.start_method = start_method or default_start_method()
        self._workers: list[_Worker] = []
        self._task_fn: TaskFn | None = None
        self._settings: Settings | None = None
        self._accountant: ResourceAccountant | None = None

    # ---- lifecycle ---------------------------------------------------------------------------
    def init(self, task_fn: TaskFn, settings: Settings) -> None:
        self._task_fn = task_fn
        self._settings = settings
        if self.warmup is not None and not self._workers:
            self._start_worker(one_shot=False)

    def finalize(self) -> None:
        for w in self._workers:
            if w.request is not None:
                self._kill(w)
            else:
                with contextlib.suppress(OSError, ValueError):
                    w.conn.send(None)
        deadline = time.monotonic() + 2.0
        for w in self._workers:
            w.process.join(max(0.0, deadline - time.monotonic()))
            if w.process.is_alive():
                self._kill(w)
            with contextlib.suppress(OSError):
                w.conn.close()
        self._workers = []

    # ---- resources -------------------------------------------------------------------------------
    @property
    def accountant(self) -> ResourceAccountant:
        if self._accountant is None:
            self._accountant = ResourceAccountant(float(os.cpu_count() or 1), _machine_memory_mb(), [])
        return self._accountant

    def _ensure_gpus(self) -> None:
        acc = self.accountant
        if not acc.gpus_total and not getattr(self, "_gpus_detected", False):
            self._gpus_detected = True
            gpus = detect_gpus()
            acc.gpus_total, acc.gpus_free = list(gpus), list(gpus)

    def check_fits(self, resources: Resources, what: str) -> None:
        if resources.gpu:
            self._ensure_gpus()
        self.accountant.check_fits(resources, what)

    # ---- tasks -----------------------------------------------------------------------------------
    def running(self) -> int:
        return sum(1 for w in self._workers if w.request is not None)

    def can_submit(self, request: TaskRequest) -> bool:
        if self.running() >= self.max_workers:
            return False
        if request.resources.gpu:
            self._ensure_gpus()
        return self.accountant.fits_now(request.resources)

    def submit(self, request: TaskRequest) -> None:
        gpus: list[str] | None = None
        if request.resources.gpu:
            gpus = self.accountant.acquire(request.task_id, request.resources)
            worker = self._start_worker(one_shot=True)
        else:
            self.accountant.acquire(request.task_id, request.resources)
            idle = next((w for w in self._workers if w.request is None and not w.one_shot), None)
            worker = idle if idle is not None else self._start_worker(one_shot=False)
        worker.request = request
        worker.deadline = time.monotonic() + request.timeout_s if request.timeout_s else None
        worker.conn.send((request.run_id, request.task_id, request.attempt, gpus))

    def _start_worker(self, one_shot: bool) -> _Worker:
        assert self._task_fn is not None and self._settings is not None, "init() was not called"
        ctx = mp.get_context(self.start_method)
        parent_conn, child_conn = ctx.Pipe(duplex=True)
        process = ctx.Process(  # type: ignore[attr-defined]
            target=_worker_main,
            args=(child_conn, self._task_fn, self._settings, os.getpid(), self.warmup),
            daemon=True,
            name="shipyard-worker",
        )
        process.start()
        child_conn.close()
        worker = _Worker(process=process, conn=parent_conn, one_shot=one_shot)
        self._workers.append(worker)
        return worker

    def wait(self, timeout: float) -> list[TaskResult]:
        busy = [w for w in self._workers if w.request is not None]
        if not busy:
            if timeout > 0:
                time.sleep(timeout)
            return []
        now = time.monotonic()
        deadlines = [w.deadline for w in busy if w.deadline is not None]
        if deadlines:
            timeout = max(0.0, min(timeout, min(deadlines) - now))
        handles: list[Any] = [w.conn for w in busy] + [w.process.sentinel for w in busy]
        ready = set(wait(handles, timeout))
        results: list[TaskResult] = []
        for w in busy:
            if w.conn in ready or w.process.sentinel in ready:
                results.append(self._collect(w))
        now = time.monotonic()
        for w in busy:
            if w.request is not None and w.deadline is not None and now >= w.deadline:
                req = w.request
                self._kill(w)
                self._retire(w)
                results.append(
                    TaskResult(
                        req.task_id,
                        req.attempt,
                        ok=False,
                        recorded=False,
                        node=w.name,
                        error=f"timed out after {req.timeout_s:g}s",
                    )
                )
        return results

    def _collect(self, w: _Worker) -> TaskResult:
        req = w.request
        assert req is not None
        payload: dict[str, Any] | None = None
        try:
            if w.conn.poll():
                payload = w.conn.recv()
        except (EOFError, OSError):
            payload = None
        if payload is None:
            w.process.join(1.0)
            error = _describe_exit(w.process.exitcode)
            self._retire(w)
            return TaskResult(req.task_id, req.attempt, ok=False, error=error, recorded=False, node=w.name)
        result = TaskResult(
            req.task_id,
            req.attempt,
            ok=bool(payload.get("ok")),
            error=payload.get("error"),
            recorded=bool(payload.get("recorded", True)),
            payload=payload,
            node=w.name,
        )
        self.accountant.release(req.task_id)
        w.request, w.deadline = None, None
        if w.one_shot:
            self._retire(w, graceful=True)
        return result

    def _kill(self, w: _Worker) -> None:
        with contextlib.suppress(OSError):
            if w.process.pid is not None and w.process.is_alive():
                os.kill(w.process.pid, signal.SIGKILL)
        w.process.join(2.0)

    def _retire(self, w: _Worker, graceful: bool = False) -> None:
        if w.request is not None:
            self.accountant.release(w.request.task_id)
        w.request, w.deadline = None, None
        if graceful:
            with contextlib.suppress(OSError, ValueError):
                w.conn.send(None)
            w.process.join(2.0)
        if w.process.is_alive():
            self._kill(w)
        with contextlib.suppress(OSError):
            w.conn.close()
        if w in self._workers:
            self._workers.remove(w)
