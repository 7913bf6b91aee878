"""``shipyard run FILE`` on the fast path (``shipyard.cli._fast_run``) prints what the Typer
command prints, records the same run, imports none of the heavy stack, and hands every case it
does not handle to the Typer command."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import shipyard
from shipyard.cli._fast_run import parse_run
from shipyard.core.settings import load_settings
from shipyard.tracking.stores import open_stores
from tests.cli.ptys import on_a_terminal

FLOW = """
from shipyard import flow, step

@step
def first(n: int) -> int:
    return n

@step
def second(x: int) -> int:
    if x < 0:
        raise ValueError("negative input")
    return x + 1

@flow
def plus(n: int = 1):
    return second(first(n))
"""

SOURCES = str(Path(shipyard.__file__).resolve().parents[1])  # this checkout's, from any folder
HEAVY = ("typer", "click", "pydantic", "sqlalchemy", "alembic")
_ENTRY = """
import sys
from shipyard.cli.main import {entry}
code = {entry}(sys.argv[1:])
heavy = sorted(m for m in {heavy!r} if m in sys.modules)
sys.stderr.write("imported: " + ",".join(heavy) + "\\n")
sys.exit(code)
"""


def _shipyard(
    args: list[str], home: Path, cwd: Path, *, full: bool, **extra: str
) -> tuple[int, str, str, str]:
    """(exit code, stdout, stderr, heavy modules imported) of ``shipyard ARGS``."""
    code = _ENTRY.format(entry="_full" if full else "main", heavy=HEAVY)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
    env.update(SHIPYARD_HOME=str(home), PYTHONPATH=SOURCES, **extra)
    proc = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120, env=env, cwd=cwd
    )
    err, _, imported = proc.stderr.rpartition("imported: ")
    return proc.returncode, proc.stdout, err, imported.strip()


def _run_id(out: str) -> str:
    """The run id of ``-q``'s output or of the summary's first line ("run ID status in ...")."""
    words = out.split()
    if len(words) == 1:
        return words[0]
    return words[1] if len(words) > 1 and words[0] == "run" else ""


def _same(text: str, run_id: str) -> str:
    """The text with the run's id (and the end of its name) and the duration made alike."""
    import re

    text = text.replace(run_id, "ID").replace(run_id[-8:], "ID8")
    return re.sub(r" in [0-9.]+s", " in Ts", text)


@pytest.fixture
def project(tmp_path: Path) -> tuple[Path, Path]:
    (tmp_path / "plus.py").write_text(FLOW)
    home = tmp_path / "home"
    _shipyard(["run", "plus.py", "-q"], home, tmp_path, full=True)  # the database exists (at its head)
    return tmp_path, home


CASES = {
    "plain": ["run", "plus.py", "-q"],
    "options-first": ["run", "--quiet", "--name", "first-run", "plus.py"],
    "tags-and-params": ["run", "plus.py", "-q", "--tag", "team=fraud", "-t", "stage=dev", "-p", "n=4"],
    "equals-forms": ["run", "plus.py", "-q", "--name=eq-run", "--tag=a=b", "--param=n=7"],
    "a-failing-step": ["run", "plus.py", "-q", "-p", "n=-5"],
    "a-bad-param-pair": ["run", "plus.py", "-q", "-p", "novalue"],
    "a-bad-param-value": ["run", "plus.py", "-q", "-p", "n=abc"],
    "a-bad-name": ["run", "plus.py", "-q", "--name", "bad name!"],
    "a-missing-file": ["run", "nowhere.py", "-q"],
    "a-refused-tag": ["run", "plus.py", "-q", "--tag", "shipyard.kind=x"],  # Typer's usage error
    "summary": ["run", "plus.py", "-p", "n=2", "--name", "with-summary"],
    "summary-of-a-failure": ["run", "plus.py", "-p", "n=-1"],
    "summary-without-output": ["run", "plus.py", "-p", "n=3", "--tag", "t=1"],
}


@pytest.mark.parametrize("args", list(CASES.values()), ids=list(CASES))
def test_the_fast_path_prints_and_records_what_the_typer_command_does(
    args: list[str], project: tuple[Path, Path]
) -> None:
    cwd, home = project
    fast = _shipyard(args, home, cwd, full=False)
    full = _shipyard(args, home, cwd, full=True)
    fast_id, full_id = _run_id(fast[1]), _run_id(full[1])
    if fast_id or full_id:  # a run was made: the same output but for its id and duration
        assert fast_id and full_id and fast_id != full_id
        assert (fast[0], _same(fast[1], fast_id), _same(fast[2], fast_id)) == (
            full[0],
            _same(full[1], full_id),
            _same(full[2], full_id),
        )
        stores = open_stores(load_settings(home=home))
        try:
            a, b = stores.metadata.get_run(fast_id), stores.metadata.get_run(full_id)
            assert (a.status, a.params, a.tags, a.error and a.error.replace(fast_id, "ID")) == (
                b.status,
                b.params,
                b.tags,
                b.error and b.error.replace(full_id, "ID"),
            )
            assert a.name.replace(fast_id[-8:], "X") == b.name.replace(full_id[-8:], "X")
            steps = [(t.key, t.status) for t in stores.metadata.list_tasks(fast_id)]
            assert steps == [(t.key, t.status) for t in stores.metadata.list_tasks(full_id)]
        finally:
            stores.close()
    else:
        assert fast[:3] == full[:3]
    assert fast[0] != 0 or fast[3] == ""  # a run on the fast path imports none of the heavy stack


def test_a_plain_run_imports_nothing_heavy(project: tuple[Path, Path]) -> None:
    cwd, home = project
    code, out, err, imported = _shipyard(["run", "plus.py", "-q", "-p", "n=2"], home, cwd, full=False)
    assert (code, err, imported) == (0, "", "")
    assert len(out.strip()) == 32


def test_settings_that_need_pydantic_go_the_full_way(project: tuple[Path, Path]) -> None:
    cwd, home = project
    for extra in ({"SHIPYARD_HEARTBEAT_TIMEOUT_S": "abc"}, {"SHIPYARD_BRANCH": "feature"}):
        fast = _shipyard(["run", "plus.py", "-q"], home, cwd, full=False, **extra)
        full = _shipyard(["run", "plus.py", "-q"], home, cwd, full=True, **extra)
        assert "pydantic" in fast[3]
        assert fast[0] == full[0]
        if fast[0] != 0:
            assert fast[2] == full[2]


@pytest.mark.parametrize(
    "args",
    [
        ["plus.py", "-q", "-q"],
        ["plus.py", "-q", "--json"],
        ["plus.py", "--json"],
        ["plus.py", "-q", "--executor", "local"],
        ["plus.py", "-q", "--name", "a", "--name", "b"],
        ["plus.py", "-q", "--name"],
        ["plus.py", "-q", "--name", "-x"],
        ["plus.py", "other.py", "-q"],
        ["-q"],
        ["plus.py", "-q", "-tteam=x"],
        ["plus.py", "-q", "--"],
        ["plus.py", "-q", "--branch", "b"],
    ],
)
def test_anything_else_is_left_to_typer(args: list[str]) -> None:
    assert parse_run(args) is None


def test_what_it_parses() -> None:
    assert parse_run(["-p", "n=1", "f.py", "--tag=a=b", "-q", "--param", "m=2", "--name=x"]) == (
        "f.py",
        "x",
        ["a=b"],
        ["n=1", "m=2"],
        True,
    )
    assert parse_run(["f.py"]) == ("f.py", None, [], [], False)


def _on_a_terminal(entry: str, args: list[str], home: Path, cwd: Path) -> tuple[int, bytes]:
    """Exit code and bytes of ``shipyard ARGS`` on a pseudo-terminal (live progress on stderr)."""
    code = _ENTRY.format(entry=entry, heavy=HEAVY)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
    env.update(SHIPYARD_HOME=str(home), PYTHONPATH=SOURCES, TERM="dumb", COLUMNS="100")
    return on_a_terminal([sys.executable, "-c", code, *args], env, cwd=cwd)


def test_on_a_terminal_it_shows_progress_and_the_summary_as_typer_does(project: tuple[Path, Path]) -> None:
    cwd, home = project
    fast_code, fast = _on_a_terminal("main", ["run", "plus.py"], home, cwd)
    full_code, full = _on_a_terminal("_full", ["run", "plus.py"], home, cwd)
    assert fast_code == full_code == 0
    assert b"plus.py" in fast and b"succeeded" in fast  # the progress title and the summary
    assert fast.split(b"imported: ")[1].strip() == b""
    assert b"pydantic" in full.split(b"imported: ")[1]
