"""Stored values never reach the terminal raw (issue 12, hole 11): control characters are shown
escaped and Rich markup in a stored value prints literally, in every CLI command that prints them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from shipyard.core.clock import utcnow
from shipyard.core.entities import RunStatus
from shipyard.core.settings import load_settings
from shipyard.metadata.model_registry import ModelVersionCreate, open_registry_store
from shipyard.tracking.client import TrackingClient
from shipyard.tracking.stores import open_stores

# an OSC title change ended by BEL, a clear-screen CSI, a C1 CSI, a carriage return and a backspace
HOSTILE = "\x1b]0;pwned\x07\x1b[2J\x9b31m\rover\x08"
MARKUP = "[bold]x[/bold] [link=https://evil.example]click[/link]"
VALUE = f"{HOSTILE} {MARKUP}"
RAW_BYTES = ("\x1b", "\x07", "\x9b", "\r", "\x08")


@dataclass
class Hostile:
    run: str
    other: str  # a failed run whose error message is hostile


@pytest.fixture
def hostile(monkeypatch: pytest.MonkeyPatch) -> Iterator[Hostile]:
    monkeypatch.setenv("SHIPYARD_USER", "alice")
    monkeypatch.setenv("COLUMNS", "300")
    settings = load_settings()
    stores = open_stores(settings)
    url = str(getattr(stores.metadata, "url", ""))
    try:
        client = TrackingClient(stores)
        run = client.create_run("evil", params={"p": VALUE}, tags={"t": VALUE})
        client.finish_run(run.id, RunStatus.SUCCEEDED)
        other = client.create_run("broken")
        client.finish_run(other.id, RunStatus.FAILED, f"boom: {VALUE}\nsecond line")
        registry = open_registry_store(stores.metadata)
        registry.create_model("fraud", user="alice", at=utcnow(), description=VALUE, tags={"team": VALUE})
        registry.create_version(
            ModelVersionCreate(
                "fraud",
                "a" * 64,
                10,
                "sklearn",
                "alice",
                utcnow(),
                run_id=run.id,
                description=VALUE,
                tags={"intended_use": VALUE, "k": VALUE},
            )
        )
    finally:
        stores.close()
    # names are validated on the way in, so write the hostile name the way an older version, a
    # direct SQL write or a hostile server could have stored it
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(
                text("UPDATE runs SET name = :v, flow_name = :v WHERE id = :id"), {"v": VALUE, "id": run.id}
            )
    finally:
        engine.dispose()
    yield Hostile(run=run.id, other=other.id)


def _assert_safe(output: str) -> None:
    for raw in RAW_BYTES:
        assert raw not in output, f"{raw!r} reached the terminal: {output!r}"


def _assert_shown_literally(output: str) -> None:
    _assert_safe(output)
    assert "[bold]x[/bold]" in output and "[link=https://evil.e" in output  # `models list` cuts at 60
    assert "\\x1b]0;pwned\\x07" in output  # the escape is visible, not acted on


@pytest.mark.parametrize(
    "args",
    [
        ("runs", "show", "{run}"),
        ("runs", "list", "--all-namespaces"),
        ("models", "show", "fraud"),
        ("models", "list"),
        ("models", "show", "fraud/1"),
        ("models", "show", "fraud/1", "--markdown"),
    ],
)
def test_stored_values_are_printed_escaped_and_literally(
    cli: Any, hostile: Hostile, args: tuple[str, ...]
) -> None:
    result = cli(*(a.format(run=hostile.run) for a in args))
    assert result.code == 0, result.err
    _assert_shown_literally(result.out + result.err)


def test_a_stored_error_keeps_its_lines_but_loses_its_controls(cli: Any, hostile: Hostile) -> None:
    result = cli("runs", "show", hostile.other)
    assert result.code == 0, result.err
    _assert_shown_literally(result.out)
    assert "boom: " in result.out and "\nsecond line" in result.out  # a multi-line field stays multi-line


@pytest.mark.parametrize("command", [("runs", "show", "{run}", "--json"), ("runs", "list", "-A", "--json")])
def test_json_output_escapes_every_control_character(
    cli: Any, hostile: Hostile, command: tuple[str, ...]
) -> None:
    result = cli(*(a.format(run=hostile.run) for a in command))
    assert result.code == 0, result.err
    _assert_safe(result.out)
    data = result.json()
    run = data if isinstance(data, dict) else next(r for r in data if r["id"] == hostile.run)
    assert run["params"]["p"] == VALUE and run["name"] == VALUE  # the data itself is unchanged


def test_error_messages_are_printed_without_controls_or_markup(capsys: pytest.CaptureFixture[str]) -> None:
    from shipyard.cli.main import _print_error

    _print_error(f"no such thing: {VALUE}")
    err = capsys.readouterr().err
    _assert_shown_literally(err)
    assert err.startswith("error: no such thing: ")


_NOISY_FLOW = """
from shipyard import flow, step


@step
def shout() -> int:
    print("\\x1b]0;pwned\\x07\\x1b[2J[bold]x[/bold] done\\rover")
    raise ValueError("\\x1b[2J[red]boom[/red]")


@flow
def noisy():
    return shout()
"""


def test_task_logs_and_the_run_graph_are_printed_escaped(
    cli: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`shipyard logs` prints captured output (stored data) and `runs show --graph` a stored flow
    spec: neither sends a control sequence, and markup in them prints literally."""
    monkeypatch.setenv("COLUMNS", "300")
    path = tmp_path / "noisy.py"
    path.write_text(_NOISY_FLOW)
    ran = cli("run", str(path), "-q", "--json")
    run_id = ran.json()["run_id"]
    _assert_safe(ran.out + ran.err)
    logs = cli("logs", run_id)
    _assert_safe(logs.out)
    assert "[bold]x[/bold] done\nover" in logs.out  # a carriage return becomes a line break
    assert "\\x1b]0;pwned\\x07" in logs.out and "[red]boom[/red]" in logs.out
    settings = load_settings()
    stores = open_stores(settings)
    url = str(getattr(stores.metadata, "url", ""))
    stores.close()
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text("UPDATE runs SET flow_name = :v WHERE id = :id"), {"v": VALUE, "id": run_id})
    finally:
        engine.dispose()
    graph = cli("runs", "show", run_id, "--graph")
    assert graph.code == 0, graph.err
    _assert_shown_literally(graph.out)
    assert "shout" in graph.out and "1 failed" in graph.out
