"""What runs inside a Ray worker for one task: the driver's ``SHIPYARD_*`` environment and working
folder for the task's duration, its declared memory as an address-space limit, and the task entry
point called with the Ray node's name so the task record says where it ran.

Imported by reference in Ray workers (cloudpickle pickles module functions by name), so it must
stay importable without side effects; ``ray`` is imported inside the functions only.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import traceback
from collections.abc import Generator, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from shipyard.executors.base import TaskFn

#: Address space a worker may grow by beyond a task's declared memory (interpreter, threads).
MEMORY_SLACK_MB = 256


@dataclass(frozen=True)
class WorkerTask:
    """One attempt of one task, as shipped to a worker (the entry point and settings travel once
    per run through the object store)."""

    run_id: str
    task_id: str
    attempt: int
    env: Mapping[str, str] = field(default_factory=dict)  # the runner's SHIPYARD_* variables
    cwd: str | None = None  # the runner's working folder, used where this node has it
    memory_mb: int = 0  # declared memory, 0: no limit


def node_name() -> str:
    """``ray:<ip>:<node id prefix>``: the Ray node this worker belongs to."""
    ray: Any = importlib.import_module("ray")
    node_id = ray.get_runtime_context().get_node_id()
    return f"ray:{ray.util.get_node_ip_address()}:{node_id[:12]}"


@contextlib.contextmanager
def task_environ(env: Mapping[str, str], cwd: str | None) -> Iterator[None]:
    """Set ``env`` (and chdir to ``cwd`` when this node has it) for the block, then restore."""
    saved = {key: os.environ.get(key) for key in env}
    stale = [k for k in os.environ if k.startswith("SHIPYARD_") and k not in env]
    dropped = {k: os.environ.pop(k) for k in stale}
    os.environ.update(env)
    old_cwd = os.getcwd()
    if cwd and os.path.isdir(cwd):
        os.chdir(cwd)
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            os.chdir(old_cwd)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        os.environ.update(dropped)


@contextlib.contextmanager
def memory_limit(memory_mb: int) -> Iterator[bool]:
    """Cap this process's address space at its current size + ``memory_mb`` (+ slack) for the
    block, so an allocation past the declared memory raises MemoryError instead of starving the
    node. Yields whether a limit is in force (Linux with ``resource``; ``memory_mb`` > 0)."""
    if memory_mb <= 0:
        yield False
        return
    try:
        import resource

        import psutil
    except ImportError:
        yield False
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = psutil.Process().memory_info().vms + (memory_mb + MEMORY_SLACK_MB) * 1024 * 1024
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    try:
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    except (ValueError, OSError):
        yield False
        return
    try:
        yield True
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def _is_memory_error(error: str | None) -> bool:
    if not error:
        return False
    last = error.strip().splitlines()[-1]
    return last.startswith("MemoryError") or "MemoryError:" in last


def run_on_worker(task_fn: TaskFn, settings: Any, task: WorkerTask) -> dict[str, Any]:
    """One attempt of one task in this Ray worker; returns the entry point's payload + ``node``."""
    node = node_name()
    memory_mb = task.memory_mb
    limited = False
    try:
        with task_environ(task.env, task.cwd), memory_limit(memory_mb) as limited:
            payload = dict(task_fn(task.run_id, task.task_id, settings, attempt=task.attempt, node=node))
    except BaseException:
        payload = {"ok": False, "error": traceback.format_exc(), "recorded": False}
    if not payload.get("ok") and limited and _is_memory_error(payload.get("error")):
        # re-recorded by the runtime (recorded=False) with the reason on the first line
        payload["error"] = (
            f"out of memory: the task went past its declared memory={memory_mb} MiB\n{payload['error']}"
        )
        payload["recorded"] = False
    payload["node"] = node
    return payload


def run_streaming(task_fn: TaskFn, settings: Any, task: WorkerTask) -> Generator[Any, None, None]:
    """:func:`run_on_worker` as a Ray streaming task: first this node's name (the runner starts
    the task's timeout clock when it sees it), then the payload."""
    yield node_name()
    yield run_on_worker(task_fn, settings, task)
