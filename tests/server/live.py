"""A real shipyard server on a free loopback port, in a thread of the test process (uvicorn)."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shipyard.core.settings import Settings, load_settings
from shipyard.server.app import ServerConfig
from shipyard.tracking.stores import Stores

ADMIN_TOKEN = "shp_MptBQrbMnbP9rSSN861t2Pt3biR1tWDp_Ld54wQBmmc"  # fixed for tests; random enough to pass


@dataclass
class LiveServer:
    url: str
    token: str
    settings: Settings
    stores: Stores
    app: Any  # the FastAPI app (its ServerContext is app.state.ctx)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def live_server(
    root: Path,
    config: ServerConfig | None = None,
    token: str = ADMIN_TOKEN,
    uri: str | None = None,
    artifacts: Path | None = None,
) -> Iterator[LiveServer]:
    """Serve a fresh SQLite database (or the database ``uri``) and an artifact folder under
    ``root``; admin token ``token``."""
    import uvicorn

    from shipyard.server.run import build, uvicorn_options

    settings = load_settings(
        home=root / "server-home",
        uri=uri or f"sqlite:///{root / 'server-home' / 'shipyard.db'}",
        artifacts=str(artifacts or root / "server-home" / "artifacts"),
    )
    settings.home.mkdir(parents=True, exist_ok=True)
    previous = os.environ.get("SHIPYARD_ADMIN_TOKEN")
    os.environ["SHIPYARD_ADMIN_TOKEN"] = token
    try:
        app, stores = build(settings, config or ServerConfig())
    finally:
        if previous is None:
            os.environ.pop("SHIPYARD_ADMIN_TOKEN", None)
        else:
            os.environ["SHIPYARD_ADMIN_TOKEN"] = previous
    port = free_port()
    options = uvicorn_options()  # as `shipyard server` runs it: proxy headers not believed
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on", **options)
    )
    thread = threading.Thread(target=server.run, name=f"shipyard-server-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.01)
    try:
        yield LiveServer(
            url=f"http://127.0.0.1:{port}", token=token, settings=settings, stores=stores, app=app
        )
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        stores.close()
