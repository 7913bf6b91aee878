"""Several servers started at once on an empty Postgres database: every start succeeds (migrations and
the admin bootstrap are race-safe) and exactly one admin with one bootstrap token exists."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from shipyard.core.settings import load_settings
from shipyard.server.app import ServerConfig
from tests.services import require_postgres

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
STARTS = 4


@pytest.fixture
def fresh_database() -> Iterator[str]:
    """A uniquely named database on the shared Postgres, dropped afterwards."""
    import psycopg
    from sqlalchemy import make_url

    base = make_url(require_postgres())
    name = f"shipyard_start_{uuid.uuid4().hex[:12]}"
    admin = base.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _start_all(url: str, root: Path, monkeypatch: pytest.MonkeyPatch, env_token: str | None) -> list[str]:
    from shipyard.server.run import prepare  # what `build` changes in the database

    if env_token is None:
        monkeypatch.delenv("SHIPYARD_ADMIN_TOKEN", raising=False)
    else:
        monkeypatch.setenv("SHIPYARD_ADMIN_TOKEN", env_token)
    barrier = threading.Barrier(STARTS)
    failures: list[str] = []

    def start(i: int) -> None:
        settings = load_settings(home=root / f"home{i}", uri=url, artifacts=str(root / "artifacts"))
        barrier.wait()
        try:
            stores, _ = prepare(settings, ServerConfig())
        except Exception as exc:
            failures.append(f"start {i}: {type(exc).__name__}: {exc}")
            return
        stores.close()

    threads = [threading.Thread(target=start, args=(i,)) for i in range(STARTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return failures


def _admin_tokens(url: str) -> tuple[list[str], list[str]]:
    from shipyard.metadata.security import open_security_store
    from shipyard.metadata.sql import SqlMetadataStore

    store = SqlMetadataStore(url)
    try:
        security = open_security_store(store)
        users = [u.name for u in security.list_users(limit=100)]
        tokens = [t.name for t in security.list_tokens("admin", limit=100)]
    finally:
        store.close()
    return users, tokens


def test_concurrent_first_starts_make_one_admin(
    fresh_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _start_all(fresh_database, tmp_path, monkeypatch, None) == []
    users, tokens = _admin_tokens(fresh_database)
    assert users == ["admin"]
    assert tokens == ["bootstrap"]  # one token printed by the one start that made the admin


def test_concurrent_starts_with_the_same_admin_token(
    fresh_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.server.live import ADMIN_TOKEN

    assert _start_all(fresh_database, tmp_path, monkeypatch, ADMIN_TOKEN) == []
    users, tokens = _admin_tokens(fresh_database)
    assert users == ["admin"]
    assert tokens == ["bootstrap"]
