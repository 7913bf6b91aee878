"""Help without type tags or broken lines, a top-level help naming every area, one-line usage errors."""

from __future__ import annotations

import re
from typing import Any

import pytest
import typer

from shipyard.cli._help import ROOT_HELP, plain_help, tidy
from shipyard.cli.main import LAZY_COMMANDS, build_app

TYPE_TAG = re.compile(r"<(str|int|float|bool|path|list\[[a-z]+\]|datetime)>")


@pytest.fixture(autouse=True)
def _wide(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "120")


def _tree() -> list[tuple[tuple[str, ...], Any]]:
    plain_help()
    root = typer.main.get_command(build_app())
    tidy(root)
    ctx = typer.Context(root, info_name="shipyard")
    for name in LAZY_COMMANDS:  # the commands loaded on first use, loaded now
        root.get_command(ctx, name)
    found: list[tuple[tuple[str, ...], Any]] = []
    stack: list[tuple[tuple[str, ...], Any]] = [((), root)]
    while stack:
        path, command = stack.pop()
        found.append((path, command))
        for name, child in getattr(command, "commands", {}).items():
            stack.append(((*path, name), child))
    return found


def test_no_parameter_of_any_command_shows_a_type_tag() -> None:
    tree = _tree()
    assert len(tree) > 50
    for path, command in tree:
        ctx = typer.Context(command, info_name=" ".join(("shipyard", *path)))
        for param in command.get_params(ctx):  # --help included
            shown = param.display_type_rich(ctx)
            assert not TYPE_TAG.search(shown or ""), (path, param.name, shown)


def test_rendered_help_has_no_type_tags(cli: Any) -> None:
    shown = {}
    for path in (("promote",), ("runs", "list")):
        result = cli(*path, "--help")
        assert result.code == 0 and "Usage: shipyard" in result.out, result.err
        assert not TYPE_TAG.search(result.out), (path, TYPE_TAG.search(result.out))
        shown[path] = result.out
    promote = shown["promote",]
    assert "--from" in promote and "[required]" in promote and "*    NAME " in promote


def test_group_listings_give_one_line_per_command(cli: Any) -> None:
    out = cli("--help").out
    lines = out.splitlines()
    plan = next(i for i, line in enumerate(lines) if line.startswith("│ plan "))
    # the docstring breaks the line after "verdicts"; the listing wraps only at the panel's width
    assert not lines[plan + 1].split("│")[1].strip().startswith("(exit 1")
    assert "policy verdicts (exit" in " ".join(" ".join(lines[plan : plan + 2]).split())


def test_top_level_help_names_every_command_by_area(cli: Any) -> None:
    out = cli("--help").out
    assert "one MLOps platform" in out
    areas = {line.split()[0]: line for line in ROOT_HELP.splitlines()[3:] if line and line[0].isupper()}
    assert {"Flows", "Tracking", "Models", "Delivery", "Server"} <= set(areas)
    for line in areas.values():
        assert line in out
    named = set(re.findall(r"[a-z][a-z-]*", " ".join(line.split(None, 1)[1] for line in areas.values())))
    top = {path[0] for path, _ in _tree() if len(path) == 1}
    assert top - named == set(), "a command the top-level help does not name"


@pytest.mark.parametrize(
    ("args", "message", "where"),
    [
        (("runs", "list", "--bogus"), "error: No such option: --bogus", "shipyard runs list"),
        (("runs", "show"), "error: Missing argument 'RUN_ID'", "shipyard runs show"),
        (("nosuch",), "error: No such command 'nosuch'", "shipyard"),
        (("runs", "list", "--limit", "x"), "error: Invalid value for '--limit' / '-l'", "shipyard runs list"),
        (
            ("runs", "list", "-n", "a", "-A"),
            "error: Invalid value: use either --namespace or --all-namespaces",
            "shipyard runs list",
        ),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(
    cli: Any, args: tuple[str, ...], message: str, where: str
) -> None:
    result = cli(*args)
    assert result.code == 2
    assert result.out == ""
    lines = result.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(message), result.err
    assert lines[0].endswith(f"(see `{where} --help`)")
    assert "Usage:" not in result.err and "╭" not in result.err


def test_a_group_without_a_command_still_prints_its_help(cli: Any) -> None:
    result = cli("runs")
    assert "Usage: shipyard runs" in result.out + result.err and "list" in result.out + result.err
