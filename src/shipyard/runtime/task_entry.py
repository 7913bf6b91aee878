"""The single "run one task" entry point every executor and exporter calls.

``run_task(run_id, task_id, settings)`` (or ``python -m shipyard.runtime.task_entry RUN_ID TASK_ID``)
takes only ids: it reads the run's flow spec and the task's spec from the metadata store, imports
the flow file (once per process per source hash; from the run's code package when the file is not
here: :mod:`shipyard.runtime.code_package`), loads the inputs from the artifact store (the
artifact ids in the task spec, also recorded as lineage), calls the step with its stdout/stderr
captured, stores the output (``put_object`` -> ``record_artifact`` named ``output``) and the logs
(``logs/stdout``, ``logs/stderr``), and records the task's outcome in one update. A notebook step
(``@step(notebook=...)``) runs its notebook instead (:mod:`shipyard.runtime.notebook`) and also
records the executed notebook (``notebook``). What the step puts on ``shipyard.card`` is stored as
its artifact ``card`` (:mod:`shipyard.cards.current`), before the task's outcome is recorded.

A step declared with ``secrets=["db"]`` gets each value, read for the run's project and
environment (``SHIPYARD_PROJECT`` / ``SHIPYARD_ENVIRONMENT``: :mod:`shipyard.secrets.resolve`), as
the environment variable ``DB`` while the function runs, and only then; the values are replaced by
``***`` in its captured output, in the params and tags it logs and in the task's error text.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import sys
import traceback
from collections.abc import Callable, Iterator
from types import CodeType, TracebackType
from typing import TYPE_CHECKING, Any

from shipyard.artifacts.store import StoredObject
from shipyard.cards.current import ARTIFACT_NAME as CARD_ARTIFACT
from shipyard.cards.current import task_card
from shipyard.core.clock import utcnow
from shipyard.core.entities import Run, TaskStatus
from shipyard.core.errors import FlowError, NotFoundError, SerializationError, ShipyardError
from shipyard.runtime.artifacts_io import InputLoader, record_to_ref
from shipyard.runtime.capture import capture_output, redact_text
from shipyard.runtime.code_package import ensure_flow_module
from shipyard.runtime.loader import resolve_step
from shipyard.runtime.notebook import NotebookError, notebook_saver, run_notebook
from shipyard.runtime.step_secrets import RedactingMetadata, exposed
from shipyard.runtime.stores import RunStores, open_run_stores

if TYPE_CHECKING:
    from shipyard.core.settings import Settings


class _WorkerState:
    """What one process keeps between tasks: open stores, run records, loaded inputs."""

    def __init__(self) -> None:
        self.stores: dict[tuple[str, str], RunStores] = {}
        self.runs: dict[str, Run] = {}
        self.loader = InputLoader()

    def stores_for(self, settings: Settings) -> RunStores:
        key = (settings.metadata_uri, settings.artifact_root)
        if key not in self.stores:
            self.stores[key] = open_run_stores(settings)
        return self.stores[key]

    def run(self, stores: RunStores, run_id: str) -> Run:
        if run_id not in self.runs:
            self.runs[run_id] = stores.metadata.get_run(run_id)
        return self.runs[run_id]


_STATE = _WorkerState()


@functools.cache
def _host() -> str:
    """This machine's name (a task's ``node`` unless the executor names one), read once."""
    import socket

    return socket.gethostname()


def warm_up(settings: Settings) -> None:
    """Open the stores and load the serializers in this worker ahead of its first task."""
    from shipyard.artifacts.serializers import default_serializers

    stores = _STATE.stores_for(settings)
    default_serializers()
    missing = "0" * 32  # compile the per-task queries now, not in the first task
    for read in (stores.metadata.get_run, stores.metadata.get_task):
        with contextlib.suppress(NotFoundError):
            read(missing)
    with capture_output():
        pass


def run_context(run_id: str, settings: Settings) -> tuple[RunStores, Run]:
    """The stores and the run record (read once per process) this process uses for ``run_id``."""
    stores = _STATE.stores_for(settings)
    return stores, _STATE.run(stores, run_id)


def run_task(
    run_id: str, task_id: str, settings: Settings, attempt: int | None = None, node: str | None = None
) -> dict[str, Any]:
    """Run one attempt of a task and record it. Returns ``{"ok", "error", "recorded", "output"}``.

    ``node`` names where it ran for the task record (a Ray node id); default: this host's name."""
    stores = _STATE.stores_for(settings)
    md = stores.metadata
    task = md.get_task(task_id)
    run = _STATE.run(stores, run_id)
    attempt = attempt or task.attempts + 1
    started = utcnow()
    # visible while it runs: `runs show`, the UI and a resumed run see RUNNING, the attempt and node
    md.update_task(
        task_id, status=TaskStatus.RUNNING, attempts=attempt, started_at=started, node=node or _host()
    )
    output: dict[str, Any] | None = None
    error: str | None = None
    captured_logs = None
    secrets: list[str] = []
    try:
        spec = run.flow_spec or {}
        module = ensure_flow_module(spec, stores)
        step = resolve_step(task.spec["target"], module, spec.get("module"))
        kwargs = {
            name: _STATE.loader.resolve(stores.artifacts, entry, f"{task.key}.{name}")
            for name, entry in task.spec.get("inputs", {}).items()
        }
        variables = _step_secrets(stores, settings, task.key, getattr(step, "secrets", ()))
        secrets = list(variables.values())
        track = _uses_tracking(step.fn) or bool(secrets)  # the redacting store must be the one used
        with (
            capture_output(redact=secrets) as captured_logs,
            exposed(variables),
            _tracking(run_id, stores, task_id, track, secrets),
            task_card(_card_saver(stores, run_id, task_id), secrets),
        ):
            try:
                if step.notebook is None:
                    result = step.fn(**kwargs)
                else:  # runtime/notebook.py: papermill; the executed notebook is an artifact
                    save = notebook_saver(stores, run_id, task_id, step.notebook, secrets)
                    result = run_notebook(step, kwargs, save)
            except NotebookError as exc:  # a cell's traceback, or a one-line error
                error = exc.message
            except Exception as exc:
                error = _user_traceback(exc, step.fn.__code__)
        if error is None:
            output = _store_output(stores, run_id, task_id, task.key, result)
    except ShipyardError as exc:
        error = f"{type(exc).__name__}: {exc}"
    except Exception:
        error = traceback.format_exc()
    if error is not None and secrets:
        error = redact_text(error, secrets)
    if captured_logs is not None:
        _store_logs(stores, run_id, task_id, captured_logs.stdout, captured_logs.stderr)
    md.update_task(
        task_id,
        status=TaskStatus.SUCCEEDED if error is None else TaskStatus.FAILED,
        attempts=attempt,
        started_at=started,
        ended_at=utcnow(),
        error=error,
        node=node or _host(),
    )
    return {"ok": error is None, "error": error, "recorded": True, "output": output}


def _store_output(stores: RunStores, run_id: str, task_id: str, key: str, result: Any) -> dict[str, Any]:
    try:
        stored = stores.artifacts.put_object(result)
    except SerializationError as exc:
        raise FlowError(
            f"step {key} returned a {type(result).__name__} that cannot be stored: {exc}"
        ) from None
    except (TypeError, ValueError, AttributeError) as exc:
        raise FlowError(
            f"step {key} returned a {type(result).__name__} that cannot be stored: {exc}"
        ) from None
    rec = stores.metadata.record_artifact(stored.record(run_id, "output", task_id=task_id))
    return record_to_ref(rec)


def _card_saver(stores: RunStores, run_id: str, task_id: str) -> Callable[[bytes], None]:
    """Stores a version of the task's card (``shipyard.card``) as its artifact ``card``: the same
    record takes each new version while the task runs."""

    def save(data: bytes) -> None:
        stored = StoredObject(stores.artifacts.put_bytes(data), len(data), "bytes")
        record = stored.record(run_id, CARD_ARTIFACT, task_id=task_id, meta={"format": "shipyard-card"})
        stores.metadata.record_artifact(record)

    return save


def _store_logs(stores: RunStores, run_id: str, task_id: str, stdout: bytes, stderr: bytes) -> None:
    for name, data in (("logs/stdout", stdout), ("logs/stderr", stderr)):
        if not data:
            continue
        stored = StoredObject(stores.artifacts.put_bytes(data), len(data), "bytes")
        stores.metadata.record_artifact(stored.record(run_id, name, task_id=task_id))


_TRACKING_NAMES = frozenset(
    {
        "shipyard",
        "log_metric",
        "log_metrics",
        "log_param",
        "log_params",
        "set_tag",
        "set_tags",
        "log_artifact",
        "log_model",
        "register_model",
    }
)


def _uses_tracking(fn: Any) -> bool:
    """Whether the step may log to the run: it names ``shipyard`` or a ``log_*`` function, or
    tracking is already imported in this process (e.g. by a helper module). Attaching costs a
    read and a thread per task, so trivial steps skip it."""
    code = getattr(fn, "__code__", None)
    names = set(code.co_names) if code is not None else set(_TRACKING_NAMES)
    return bool(names & _TRACKING_NAMES) or "shipyard.tracking.fluent" in sys.modules


def _step_secrets(stores: RunStores, settings: Settings, step: str, names: tuple[str, ...]) -> dict[str, str]:
    """``{VARIABLE: value}`` for the secrets the step declared (none: nothing is read), with this
    task's settings (the cached stores may have been opened with another task's)."""
    if not names:
        return {}
    from shipyard.secrets.resolve import read_step_secrets

    values = read_step_secrets(settings, stores.metadata, step, names)
    return {name.upper(): value for name, value in values.items()}


@contextlib.contextmanager
def _tracking(
    run_id: str, stores: RunStores, task_id: str, enabled: bool = True, secrets: list[str] | None = None
) -> Iterator[None]:
    """Make ``shipyard.log_metric`` inside the step write to this run (with ``secrets`` replaced by
    ``***`` in the params and tags it logs).

    The tracking package is a sibling of the runtime (neither imports the other), so it is
    resolved here at call time; without it, steps simply run unattached."""
    if not enabled:
        yield
        return
    try:
        fluent = importlib.import_module("shipyard.tracking.fluent")
        stores_mod = importlib.import_module("shipyard.tracking.stores")
    except ImportError:
        yield
        return
    metadata: Any = RedactingMetadata(stores.metadata, secrets) if secrets else stores.metadata
    tracking_stores = stores_mod.Stores(
        settings=stores.settings, metadata=metadata, artifacts=stores.artifacts
    )
    with fluent.use_run(run_id, tracking_stores, task_id=task_id):
        yield


def _user_traceback(exc: BaseException, code: CodeType) -> str:
    """The traceback from the step function down (shipyard's own frames dropped)."""
    tb: TracebackType | None = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code is not code:
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(exc), exc, tb or exc.__traceback__)).rstrip()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m shipyard.runtime.task_entry RUN_ID TASK_ID", file=sys.stderr)
        return 2
    from shipyard.core.settings import load_settings

    result = run_task(args[0], args[1], load_settings())
    if not result["ok"]:
        print(result["error"], file=sys.stderr)
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
