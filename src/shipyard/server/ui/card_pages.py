"""A task's card in the UI: the card page (framed by the task page) and the version it polls.

The card page is the card rendered by :mod:`shipyard.cards.render` (escaped text, SVG charts,
checked data: images, no script) served with a policy that allows no script at all, loads
nothing, and sandboxes the document (an opaque origin, even when opened by itself); the task page
frames it in an ``<iframe sandbox>`` with no permissions. While the task runs, the task page's
own script (ui.js) polls ``.../card/version`` and reloads the frame when the version changes, so
the card updates live without reloading the page.
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from shipyard.cards.load import TaskCard, card_page, find_task_card
from shipyard.cards.render import card_csp
from shipyard.core.entities import TaskStatus
from shipyard.core.errors import NotFoundError
from shipyard.server.permissions import Rule
from shipyard.server.ui.common import ROOT, guarded, server_context
from shipyard.server.ui.templating import Pages

CARD = f"{ROOT}/runs/{{run_id}}/tasks/{{task_id}}/card"
CARD_VERSION = f"{CARD}/version"
_RUN = Rule("run:read", "run")

#: the card routes' rows of the server's permission table
PERMISSIONS: dict[tuple[str, str], Rule] = {("GET", CARD): _RUN, ("GET", CARD_VERSION): _RUN}

LIVE_STATUSES = frozenset({TaskStatus.PENDING, TaskStatus.RUNNING})


def card_headers() -> dict[str, str]:
    return {
        "Content-Security-Policy": card_csp(),
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "SAMEORIGIN",
        "Referrer-Policy": "no-referrer",
        "Cross-Origin-Resource-Policy": "same-origin",
        "Cache-Control": "no-store",
    }


def load_task_card(request: Request, run_id: str, task_id: str) -> TaskCard:
    metadata = server_context(request).stores.metadata
    run = metadata.get_run(run_id)
    task = metadata.get_task(task_id)
    if task.run_id != run.id:
        raise NotFoundError(f"run {run.id} has no task {task_id}")
    return find_task_card(metadata, run, task)


def add_card_routes(router: APIRouter, pages: Pages) -> None:
    @router.get(CARD)
    def task_card(request: Request, run_id: str, task_id: str) -> Response:
        def build() -> Response:
            found = load_task_card(request, run_id, task_id)
            html = card_page(server_context(request).stores.artifacts, found)
            return HTMLResponse(html, headers=card_headers())

        return guarded(pages, request, "runs", build)

    @router.get(CARD_VERSION)
    def task_card_version(request: Request, run_id: str, task_id: str) -> Response:
        def build() -> Response:
            found = load_task_card(request, run_id, task_id)
            body = {"version": found.version, "running": found.task.status in LIVE_STATUSES}
            return JSONResponse(
                body, headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
            )

        return guarded(pages, request, "runs", build)
