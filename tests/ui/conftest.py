"""Fixtures of the web UI tests: one seeded server per module (stores, app, tokens)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.ui.live import LiveServer
from tests.ui.seed import Seeded, seed


@dataclass
class UiApp:
    seeded: Seeded
    app: object
    token: str  # an admin's token
    reader_token: str


def make_token(security: object, user: str, role: str) -> str:
    from shipyard.core.clock import utcnow
    from shipyard.core.ids import new_id
    from shipyard.metadata.security import SecurityStore, TokenRecord
    from shipyard.security.tokens import display_prefix, hash_token, new_token
    from shipyard.server.accounts import add_user

    assert isinstance(security, SecurityStore)
    add_user(security, user, role, by="test")
    value = new_token()
    security.create_token(
        TokenRecord(new_id(), user, "ui-tests", hash_token(value), display_prefix(value), utcnow())
    )
    return value


def build_ui_app(folder: Path) -> UiApp:
    from shipyard.metadata.security import open_security_store
    from shipyard.server import create_app

    seeded = seed(folder)
    security = open_security_store(seeded.stores.metadata)
    token = make_token(security, "alice", "admin")
    reader = make_token(security, "rita", "reader")
    app = create_app(seeded.stores.settings, seeded.stores, security=security)
    return UiApp(seeded, app, token, reader)


@pytest.fixture(scope="module")
def ui_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UiApp]:
    built = build_ui_app(tmp_path_factory.mktemp("ui"))
    yield built
    built.seeded.stores.close()


@pytest.fixture(scope="module")
def live(ui_app: UiApp) -> Iterator[LiveServer]:
    with LiveServer(ui_app.app) as server:
        yield server
