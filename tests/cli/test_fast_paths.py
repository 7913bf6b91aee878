"""The fast paths of ``shipyard`` (``shipyard.cli._fast``) print what the Typer app prints, import
none of the heavy stack, and hand everything they do not handle to the Typer app."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from shipyard.cli._fast import answer
from shipyard.cli.main import LAZY_COMMANDS, _full
from shipyard.core.clock import utcnow
from shipyard.core.entities import ORCHESTRATOR_TAG, RunCreate, RunStatus
from shipyard.core.ids import new_id
from shipyard.core.settings import load_settings
from shipyard.metadata.sqlite_read import SqliteRunReader
from shipyard.tracking.stores import open_stores
from tests.cli.ptys import on_a_terminal

HEAVY = ("typer", "click", "pydantic", "sqlalchemy", "alembic", "typer._click")


def _shipyard(args: list[str], env: dict[str, str], *, full: bool) -> subprocess.CompletedProcess[str]:
    entry = "_full" if full else "main"
    code = f"import sys; from shipyard.cli.main import {entry}; sys.exit({entry}(sys.argv[1:]))"
    clean = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "NO_COLOR", "COLUMNS")}
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**clean, **env},
    )


@pytest.mark.parametrize(
    "env",
    [{}, {"FORCE_COLOR": "1"}, {"TERMINAL_WIDTH": "60"}, {"FORCE_COLOR": "1", "COLUMNS": "132"}],
    ids=["plain", "colour", "narrow", "colour-wide"],
)
@pytest.mark.parametrize("args", [["--help"], [], ["--version"]], ids=["help", "no-args", "version"])
def test_root_help_and_version_are_the_typer_apps_byte_for_byte(env: dict[str, str], args: list[str]) -> None:
    fast = _shipyard(args, env, full=False)
    full = _shipyard(args, env, full=True)
    assert (fast.returncode, fast.stdout, fast.stderr) == (full.returncode, full.stdout, full.stderr)
    assert "Commands" in full.stdout or args == ["--version"]


def _on_a_terminal(entry: str, args: list[str], columns: int) -> tuple[int, bytes]:
    """Exit code and bytes of ``shipyard ARGS`` on a pseudo-terminal ``columns`` wide."""
    code = f"import sys; from shipyard.cli.main import {entry}; sys.exit({entry}(sys.argv[1:]))"
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "FORCE_COLOR", "NO_COLOR")}
    env["TERM"] = "xterm-256color"
    return on_a_terminal([sys.executable, "-c", code, *args], env, columns=columns)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="pseudo-terminal sizes set the Linux way")
@pytest.mark.parametrize(("args", "columns"), [(["--help"], 70), (["--help"], 160), ([], 100)])
def test_root_help_on_a_terminal_is_the_typer_apps_colours_and_width(args: list[str], columns: int) -> None:
    fast = _on_a_terminal("main", args, columns)
    full = _on_a_terminal("_full", args, columns)
    assert fast == full
    assert b"\x1b[" in full[1]  # colours on, as a terminal gets them


@pytest.mark.parametrize("args", [["--help"], [], ["--version"]])
def test_root_help_imports_none_of_the_heavy_stack(args: list[str]) -> None:
    code = (
        "import sys, io, contextlib\n"
        "from shipyard.cli.main import main\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):\n"
        "    main(sys.argv[1:])\n"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == ""


# ---- runs list ----------------------------------------------------------------------------------


@dataclass
class Store:
    home: Path
    ids: list[str]


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    """Runs in three namespaces, two flows, every status; several share a start time (the order
    then falls to the id); a RUNNING run with a fresh heartbeat."""
    monkeypatch.setenv("SHIPYARD_USER", "alice")
    settings = load_settings()
    stores = open_stores(settings)
    meta = stores.metadata
    base = utcnow() - timedelta(hours=1)
    ids: list[str] = []
    try:
        for i in range(14):
            namespace = ("user:alice", "team", "user:bob")[i % 3]
            run = meta.create_run(
                RunCreate(
                    id=new_id(),
                    name=f"run-{i}",
                    namespace=namespace,
                    user="alice",
                    start_time=base + timedelta(seconds=i // 3),  # ties
                    flow_name=("f1", "f2", None)[i % 3 if i % 2 else 2],
                )
            )
            ids.append(run.id)
            if i % 4 == 0:
                meta.finish_run(run.id, RunStatus.SUCCEEDED, base + timedelta(seconds=i * 7), None)
            elif i % 4 == 1:
                meta.finish_run(run.id, RunStatus.FAILED, base + timedelta(seconds=i * 90), "boom\nline")
            elif i % 4 == 2:
                meta.finish_run(run.id, RunStatus.CANCELLED, base + timedelta(hours=2), None)
            else:
                meta.heartbeat_run(run.id)
        yield Store(settings.home, ids)
    finally:
        stores.close()


def _capture(capsys: pytest.CaptureFixture[str], call: Any) -> tuple[Any, str, str]:
    capsys.readouterr()
    code = call()
    out, err = capsys.readouterr()
    return code, out, err


LIST_OPTIONS = [
    [],
    ["-l", "2"],
    ["--limit=3"],
    ["-A"],
    ["--all-namespaces", "-l", "5"],
    ["-n", "team"],
    ["--namespace=user:bob", "--limit", "1"],
    ["--flow", "f1", "-A"],
    ["--flow=f2"],
    ["-s", "failed", "-A"],
    ["--status=running"],
    ["--status", "cancelled", "--flow", "f1", "-A", "-l", "1"],
    ["-n", "nobody"],
]


@pytest.mark.parametrize("options", LIST_OPTIONS, ids=lambda o: " ".join(o) or "default")
def test_runs_list_fast_path_prints_what_the_full_path_prints(
    store: Store, options: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["runs", "list", *options]
    fast = _capture(capsys, lambda: answer(args, LAZY_COMMANDS))
    full = _capture(capsys, lambda: _full(args))
    assert fast[0] == 0, "the fast path did not answer"
    assert fast == full


@pytest.mark.parametrize(
    "options",
    [
        ["--json"],
        ["--filter", "metrics.acc > 0.9"],
        ["--order-by", "name"],
        ["--columns", "params.lr"],
        ["-l", "0"],
        ["-l", "abc"],
        ["-l", "20000"],
        ["--limit", "5", "--limit", "6"],
        ["-n", "team", "-A"],
        ["-s", "Failed"],
        ["-s", "weird"],
        ["--flow"],
        ["--flow", "-A"],
        ["--namespace="],
        ["-Al", "2"],
        ["extra"],
    ],
)
def test_runs_list_fast_path_refuses_what_it_does_not_handle(store: Store, options: list[str]) -> None:
    assert answer(["runs", "list", *options], LAZY_COMMANDS) is None


@pytest.mark.parametrize(
    "variable", ["SHIPYARD_URI", "SHIPYARD_PROJECT", "shipyard_branch", "SHIPYARD_HEARTBEAT_TIMEOUT_S"]
)
def test_runs_list_fast_path_refuses_other_settings(
    store: Store, variable: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(variable, f"sqlite:///{store.home / 'shipyard.db'}")
    assert answer(["runs", "list"], LAZY_COMMANDS) is None


def test_the_fast_path_assumes_the_default_heartbeat_timeout() -> None:
    from shipyard.cli._fast import HEARTBEAT_TIMEOUT_S
    from shipyard.core.settings import Settings

    assert Settings.model_fields["heartbeat_timeout_s"].default == HEARTBEAT_TIMEOUT_S


def test_runs_list_fast_path_refuses_a_missing_database() -> None:
    assert answer(["runs", "list"], LAZY_COMMANDS) is None  # the full path creates it


def test_runs_list_fast_path_refuses_another_schema_revision(store: Store) -> None:
    assert answer(["runs", "list"], LAZY_COMMANDS) == 0
    with sqlite3.connect(store.home / "shipyard.db") as conn:
        conn.execute("UPDATE shipyard_schema_version SET version_num = '0099_from_the_future'")
    assert answer(["runs", "list"], LAZY_COMMANDS) is None
    assert SqliteRunReader.open(store.home / "shipyard.db") is None


def test_runs_list_fast_path_leaves_stale_runs_to_the_full_path(
    store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    stale = store.ids[3]  # RUNNING; its heartbeat now two hours old
    old = (utcnow() - timedelta(hours=2)).timestamp()
    with sqlite3.connect(store.home / "shipyard.db") as conn:
        conn.execute("UPDATE runs SET heartbeat_at = ? WHERE id = ?", (int(old * 1e6), stale))
    assert answer(["runs", "list"], LAZY_COMMANDS) is None
    code, out, _ = _capture(capsys, lambda: _full(["runs", "list", "-s", "failed"]))
    assert code == 0 and stale[:12] in out  # the full path failed it first
    assert answer(["runs", "list"], LAZY_COMMANDS) == 0
    # a run an orchestrator drives has no heartbeat: not stale
    orchestrated = store.ids[7]
    with sqlite3.connect(store.home / "shipyard.db") as conn:
        conn.execute("UPDATE runs SET heartbeat_at = ? WHERE id = ?", (int(old * 1e6), orchestrated))
        conn.execute(
            "INSERT INTO tags (run_id, key, value) VALUES (?, ?, 'argo')", (orchestrated, ORCHESTRATOR_TAG)
        )
    assert answer(["runs", "list"], LAZY_COMMANDS) == 0


def _listing(run: Any) -> tuple[Any, ...]:
    return (
        run.id,
        run.name,
        run.namespace,
        run.user,
        run.status,
        run.start_time,
        run.end_time,
        run.heartbeat_at,
        run.flow_name,
        run.origin_run_id,
        run.error,
    )


@pytest.mark.parametrize(
    "query",
    [
        {},
        {"namespaces": ["user:alice", "team"], "max_results": 3},
        {"namespaces": [], "max_results": 5},
        {"namespaces": None, "max_results": 4, "offset": 8},
        {"namespaces": None, "max_results": 4, "offset": 12},
        {"namespaces": None, "max_results": 5, "offset": 20},
        {"flow_name": "f1", "statuses": [RunStatus.SUCCEEDED, RunStatus.FAILED]},
        {"statuses": []},
        {"namespaces": ["team"], "flow_name": "nope"},
    ],
)
def test_the_sqlite_reader_pages_like_the_sql_store(store: Store, query: dict[str, Any]) -> None:
    stores = open_stores(load_settings())
    reader = SqliteRunReader.open(store.home / "shipyard.db")
    assert reader is not None
    try:
        ours = reader.search_runs(**query)
        theirs = stores.metadata.search_runs(**query)
    finally:
        reader.close()
        stores.close()
    assert [_listing(r) for r in ours.runs] == [_listing(r) for r in theirs.runs]
    assert (ours.next_offset, ours.total) == (theirs.next_offset, theirs.total)
