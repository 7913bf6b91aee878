"""A flow run in a notebook: ``FlowRun._repr_html_`` (the run, its tasks, its metric charts) and
the live progress table ``flow.run()`` shows while it runs under IPython (:class:`NotebookProgress`)."""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Any

from shipyard.core.html import grid, repr_block, section

if TYPE_CHECKING:
    from shipyard.runtime.api import FlowRun
    from shipyard.runtime.plan import RunPlan

PROGRESS_INTERVAL_S = 0.5
_COLUMNS = ("succeeded", "cached", "reused", "running", "pending", "failed", "skipped", "cancelled")


def flow_run_html(run: FlowRun) -> str:
    from shipyard.cards.metric_charts import metric_charts
    from shipyard.core.reprs import run_body, tasks_grid

    info = run.info
    body = run_body(info)
    body += section("Tasks", tasks_grid(run._stores.metadata.list_tasks(run.id, limit=200)))
    body += section("Metrics", metric_charts(run._stores.metadata, info))
    return repr_block(f"Flow run {info.name}", body)


def in_notebook() -> bool:
    """Whether this process is an IPython kernel (a Jupyter notebook), where HTML can be shown."""
    shell = sys.modules.get("IPython")
    if shell is None or "ipykernel" not in sys.modules:
        return False
    get = getattr(shell, "get_ipython", None)
    ip = get() if callable(get) else None
    return ip is not None and type(ip).__name__ == "ZMQInteractiveShell"


def progress_html(title: str, plan: RunPlan) -> str:
    """Tasks per step and status, as a table."""
    from shipyard.runtime.render import step_counts

    rows: list[list[Any]] = [
        [step, *(counts.get(c, 0) or "" for c in _COLUMNS)] for step, counts in step_counts(plan).items()
    ]
    return repr_block(title, grid(["step", *_COLUMNS], rows))


class NotebookProgress:
    """The scheduler's progress callback in a notebook: one display, updated in place at most every
    PROGRESS_INTERVAL_S (and once at the end). Interrupting the cell cancels the run (the
    scheduler turns KeyboardInterrupt into a cancelled run)."""

    def __init__(self, title: str) -> None:
        self.title = title
        self._handle: Any = None
        self._last = 0.0

    def __call__(self, plan: RunPlan) -> None:
        now = time.monotonic()
        finished = plan.finished or plan.failed is not None
        if now - self._last < PROGRESS_INTERVAL_S and not finished and self._handle is not None:
            return
        self._last = now
        from IPython.display import HTML, display

        html = HTML(progress_html(self.title, plan))  # type: ignore[no-untyped-call]
        if self._handle is None:
            self._handle = display(html, display_id=True)  # type: ignore[no-untyped-call]
        else:
            self._handle.update(html)
