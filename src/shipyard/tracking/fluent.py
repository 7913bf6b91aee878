"""The module-level tracking API (re-exported as ``shipyard.start_run``, ``shipyard.log_metric``...).

State kept here, and only here, per process (nothing is opened at import time):

- one :class:`~shipyard.tracking.stores.Stores`, opened from the environment on first use and
  reopened if the ``SHIPYARD_*`` variables or the working directory change (:func:`set_stores`
  installs explicit ones, e.g. in tests or the flow runtime);
- the stack of runs opened with :func:`start_run` (shared by every thread of the process);
- the namespace that reads default to (:func:`namespace`).

Writing: ``with shipyard.start_run(name=..., params=...) as run:`` creates a run in your own
namespace (``user:<login>``, or ``namespace=...`` explicitly), beats its heartbeat, and on exit marks
it succeeded, or failed with the exception's traceback. ``run = start_run(); ...; end_run()`` works
too. At interpreter exit, buffered metrics are flushed and runs still open are ended (failed if the
program died of an uncaught exception).

Flow steps: :func:`use_run` attaches to an EXISTING run, typically one the flow runtime created::

    with use_run(run_id, stores, task_id=task.id):
        user_step()          # shipyard.log_metric(...) / log_param / log_artifact go to run_id
                             # (artifacts recorded against task_id)

It does not end the run on exit; it flushes buffered metrics and raises if any write failed. The
attachment is a ``contextvars`` value, so concurrent tasks in threads or asyncio stay separate; it
takes precedence over runs from :func:`start_run`.

Reading: :func:`get_run`, :func:`search_runs` default to the namespace chosen with
:func:`namespace` (initially ``SHIPYARD_NAMESPACE`` or ``user:<login>``); ``namespace(None)`` reads
every namespace. Metric values: NaN and +/-inf are stored and returned as floats; JSON output
writes them as the strings ``"NaN"``, ``"Infinity"`` and ``"-Infinity"``.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from types import TracebackType
from typing import Any, Final

from shipyard.core.branches import validate_namespace
from shipyard.core.entities import ArtifactRecord, Metric, Run, RunStatus
from shipyard.core.errors import InvalidInputError, NotFoundError
from shipyard.tracking.client import TrackingClient
from shipyard.tracking.run import ActiveRun, describe_exception
from shipyard.tracking.stores import Stores, open_stores


class _Default:
    def __repr__(self) -> str:
        return "CURRENT_NAMESPACE"


#: Sentinel for "the namespace chosen with :func:`namespace`" in read functions.
CURRENT_NAMESPACE: Final = _Default()


class _State:
    """The fluent layer's per-process state (see module doc); empty until first used."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.stores: Stores | None = None
        self.origin: tuple[object, ...] | None = None  # environment the stores were opened from
        self.client: TrackingClient | None = None
        self.stack: list[ActiveRun] = []
        self.attached: set[ActiveRun] = set()
        self.read_namespace: str | _Default | None = CURRENT_NAMESPACE
        self.hooks_installed = False
        self.uncaught: BaseException | None = None


_state = _State()
_current: ContextVar[ActiveRun | None] = ContextVar("shipyard_active_run", default=None)


# ---- stores ----------------------------------------------------------------------------------------
def _environment() -> tuple[object, ...]:
    """What the default settings depend on: the SHIPYARD_* variables and the working directory."""
    shipyard_vars = sorted((k, v) for k, v in os.environ.items() if k.startswith("SHIPYARD_"))
    return (tuple(shipyard_vars), os.getcwd())


def get_stores() -> Stores:
    """The process's stores, opened from the environment (``SHIPYARD_*``) on first use, and
    reopened when that environment changed (unless installed with :func:`set_stores`)."""
    with _state.lock:
        if _state.stores is not None and _state.origin is not None and _state.origin != _environment():
            if not _state.stack and not _state.attached:
                _state.stores.close()
            _state.stores = _state.client = None
        if _state.stores is None:
            _state.stores = open_stores()
            _state.origin = _environment()
        return _state.stores


def stores_open() -> bool:
    """Whether the process holds stores (opened by :func:`get_stores` or installed with
    :func:`set_stores`); ``load_model`` reads the embedded store directly only when it does not."""
    with _state.lock:
        return _state.stores is not None


def set_stores(stores: Stores | None) -> None:
    """Use ``stores`` for the fluent API from now on (None: reopen from the environment next time).
    Runs still open keep the stores they were started with."""
    with _state.lock:
        _state.stores = stores
        _state.origin = None
        _state.client = None


def reset() -> None:
    """End runs still open (as cancelled), detach from the cached stores, and read the default
    namespace again: a clean slate for notebooks and tests."""
    with _state.lock:
        owned = list(reversed(_state.stack))
    for handle in owned:
        _quietly(handle.end, RunStatus.CANCELLED, "reset")
    with _state.lock:
        _state.stack.clear()
        _state.read_namespace = CURRENT_NAMESPACE
        if _state.stores is not None and _state.origin is not None and not _state.attached:
            _state.stores.close()  # opened here, from the environment: ours to close
        _state.stores = None
        _state.origin = None
        _state.client = None


def get_client() -> TrackingClient:
    with _state.lock:
        stores = get_stores()
        if _state.client is None or _state.client.stores is not stores:
            _state.client = TrackingClient(stores)
        return _state.client


# ---- writing -------------------------------------------------------------------------------------
def start_run(
    name: str | None = None,
    *,
    params: Mapping[str, Any] | None = None,
    tags: Mapping[str, Any] | None = None,
    namespace: str | None = None,
) -> ActiveRun:
    """Create a run and make it the active one; use as a context manager or end with :func:`end_run`.

    ``namespace`` defaults to your own (``user:<login>``); writing elsewhere must be explicit.
    """
    client = get_client()
    run = client.create_run(name, params=params, tags=tags, namespace=namespace)
    handle = ActiveRun(client, run, owned=True)
    handle.on_end.append(_forget)
    with _state.lock:
        _install_exit_hooks()
        _state.stack.append(handle)
    return handle


def end_run(status: RunStatus | str = RunStatus.SUCCEEDED, error: str | None = None) -> None:
    """End the most recent run opened with :func:`start_run` (no-op when there is none)."""
    with _state.lock:
        handle = _state.stack[-1] if _state.stack else None
    if handle is not None:
        handle.end(status, error)


def active_run() -> ActiveRun | None:
    """The run that ``log_*`` calls go to: the :func:`use_run` one, else the latest started."""
    current = _current.get()
    if current is not None:
        return current
    stack = _state.stack
    return stack[-1] if stack else None


def _require_run() -> ActiveRun:
    run = active_run()
    if run is None:
        raise InvalidInputError(
            "no active run: call shipyard.start_run() first (or `with shipyard.start_run(): ...`)"
        )
    return run


def log_metric(key: str, value: float, step: int = 0, timestamp: int | None = None) -> None:
    """Queue one metric point (written in batches off this thread; see :func:`flush`)."""
    run = _current.get() or (_state.stack[-1] if _state.stack else _require_run())
    run.metrics.add(key, value, step, timestamp)


def log_metrics(metrics: Mapping[str, float], step: int = 0, timestamp: int | None = None) -> None:
    _require_run().log_metrics(metrics, step, timestamp)


def delete_run(run_id: str, *, force: bool = False) -> Run:
    """Delete a run's records (a running one only with ``force``); see TrackingClient.delete_run."""
    return get_client().delete_run(run_id, force=force)


def log_param(key: str, value: Any) -> None:
    """Params are write-once: the same value again is fine, another raises ConflictError."""
    _require_run().log_params({key: value})


def log_params(params: Mapping[str, Any]) -> None:
    _require_run().log_params(params)


def set_tag(key: str, value: str) -> None:
    _require_run().set_tags({key: value})


def set_tags(tags: Mapping[str, Any]) -> None:
    _require_run().set_tags(tags)


def log_artifact(obj: Any, name: str | None = None) -> ArtifactRecord:
    """Store an object (``name`` required) or a file/folder given as a ``pathlib.Path``."""
    return _require_run().log_artifact(obj, name)


def flush() -> None:
    """Write the active run's buffered metrics now; raises if a background write failed."""
    run = active_run()
    if run is not None:
        run.flush()


@contextmanager
def use_run(run_id: str, stores: Stores | None = None, *, task_id: str | None = None) -> Iterator[ActiveRun]:
    """Send ``log_*`` calls in this context to the existing run ``run_id``; flush, don't end, on exit."""
    client = TrackingClient(stores) if stores is not None else get_client()
    run = client.metadata.get_run(run_id)
    handle = ActiveRun(client, run, owned=False, task_id=task_id, heartbeat=False)
    with _state.lock:
        _install_exit_hooks()
        _state.attached.add(handle)
    handle.on_end.append(_forget)
    token = _current.set(handle)
    try:
        yield handle
    finally:
        _current.reset(token)
        handle.end()


def _forget(handle: ActiveRun) -> None:
    with _state.lock:
        if handle in _state.stack:
            _state.stack.remove(handle)
        _state.attached.discard(handle)


# ---- reading -------------------------------------------------------------------------------------
def namespace(name: str | None) -> None:
    """Read from ``name`` from now on (``None``: every namespace). Writing is unaffected."""
    with _state.lock:
        _state.read_namespace = validate_namespace(name) if name is not None else None


def get_namespace() -> str | None:
    """The namespace reads default to (None: all)."""
    current = _state.read_namespace
    if isinstance(current, _Default):
        return get_client().settings.read_namespace
    return current


def _namespaces(ns: str | _Default | None) -> list[str] | None:
    if isinstance(ns, _Default):
        ns = get_namespace()
    return [validate_namespace(ns)] if ns is not None else None


def get_run(run_id: str, namespace: str | _Default | None = CURRENT_NAMESPACE) -> Run:
    """A run by id or unique id prefix, if it is in the namespace being read."""
    run = get_client().get_run(run_id)
    allowed = _namespaces(namespace)
    if allowed is not None and run.namespace not in allowed:
        raise NotFoundError(
            f"run {run.id} is in namespace {run.namespace!r}, not {allowed[0]!r}; "
            f"call shipyard.namespace({run.namespace!r}) or shipyard.namespace(None) to read it"
        )
    return run


def search_runs(
    filter: str | None = None,
    order_by: Sequence[str] | str = (),
    max_results: int = 100,
    namespace: str | _Default | None = CURRENT_NAMESPACE,
    flow: str | None = None,
) -> list[Run]:
    """Runs matching ``filter`` (e.g. ``"metrics.acc > 0.9 and params.lr = 0.1"``), newest first."""
    return get_client().search_runs(
        namespaces=_namespaces(namespace),
        filter=filter,
        order_by=order_by,
        max_results=max_results,
        flow_name=flow,
    )


def get_metric_history(run_id: str, key: str) -> list[Metric]:
    """Every point of one metric (flushes this process's buffered points first)."""
    flush()
    return get_client().get_metric_history(run_id, key)


def load_artifact(run_id: str, name: str, *, allow_unsafe: bool = False) -> Any:
    """The artifact ``name`` of run ``run_id``: arrays, tables, JSON values, bytes, scikit-learn
    models, and files/folders (as a Path to a verified local copy). A pickled object runs code
    from the artifact when loaded, so it is refused unless ``allow_unsafe=True`` (only for
    artifacts whose writer you trust)."""
    return get_client().load_artifact(run_id, name, allow_unsafe=allow_unsafe)


def list_artifacts(run_id: str) -> list[ArtifactRecord]:
    return get_client().list_artifacts(run_id)


# ---- process exit --------------------------------------------------------------------------------
def _install_exit_hooks() -> None:
    """Once per process (caller holds the lock): flush/end open runs at exit, noting crashes."""
    if _state.hooks_installed:
        return
    _state.hooks_installed = True
    previous = sys.excepthook

    def hook(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        _state.uncaught = exc
        previous(kind, exc, tb)

    sys.excepthook = hook
    atexit.register(_at_exit)


def _at_exit() -> None:
    with _state.lock:
        attached = list(_state.attached)
        owned = list(reversed(_state.stack))
    for handle in attached:
        _quietly(handle.flush)
    error = _state.uncaught
    for handle in owned:
        if error is not None:
            _quietly(handle.end, RunStatus.FAILED, describe_exception(error))
        else:
            _quietly(handle.end)


def _quietly(action: Callable[..., object], *args: object) -> None:
    try:
        action(*args)
    except Exception as exc:  # at exit there is nobody left to raise to; say it on stderr
        print(f"shipyard: at exit: {exc}", file=sys.stderr)
