"""The root's help (``shipyard --help``, ``shipyard``) printed without importing Typer or Click.

Typer's help printer (``typer.rich_utils``) imports Rich's Markdown, tracebacks and Typer itself:
about 0.2 s, most of ``shipyard --help``. The root's help is known without them: its usage line,
:data:`~shipyard.cli._help.ROOT_HELP`, three options and the command table
(:data:`~shipyard.cli.main.LAZY_COMMANDS`). :func:`print_root_help` lays these out with the same
Rich objects, styles, theme and console settings as Typer's ``rich_format_help`` (Typer 0.2x), so
the output is the same byte for byte, colours and terminal width included;
``tests/cli/test_fast_paths.py`` compares the two for several widths, with and without colour.
"""

from __future__ import annotations

import functools
import inspect
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console
    from rich.highlighter import RegexHighlighter
    from rich.text import Text

USAGE = "Usage: shipyard [OPTIONS] COMMAND [ARGS]..."
#: the root's options in the order Typer lists them (the callback's, then --help)
ROOT_OPTIONS = (
    ("--debug", "Show tracebacks on errors."),
    ("--version", "Print the version and exit."),
    ("--help", "Show this message and exit."),
)
# Typer's styles (typer.rich_utils)
_THEME = {
    "option": "bold cyan",
    "switch": "bold green",
    "negative_option": "bold magenta",
    "negative_switch": "bold red",
    "types": "bold yellow",
    "types_sep": "dim",
    "usage": "yellow",
}


@functools.cache
def _highlighters() -> tuple[RegexHighlighter, RegexHighlighter, RegexHighlighter]:
    """Typer's option, negative-option and types highlighters (the same regular expressions)."""
    from rich.highlighter import RegexHighlighter

    class OptionHighlighter(RegexHighlighter):
        highlights = [
            r"(^|\W)(?P<switch>\-\w+)(?![a-zA-Z0-9])",
            r"(^|\W)(?P<option>\-\-[\w\-]+)(?![a-zA-Z0-9])",
            r"(?P<types>\<[^\>]+\>)",
            r"(?P<usage>Usage: )",
        ]

    class NegativeOptionHighlighter(RegexHighlighter):
        highlights = [
            r"(^|\W)(?P<negative_switch>\-\w+)(?![a-zA-Z0-9])",
            r"(^|\W)(?P<negative_option>\-\-[\w\-]+)(?![a-zA-Z0-9])",
        ]

    class TypesHighlighter(RegexHighlighter):
        highlights = [
            r"^(?P<types_sep>(\[|<))",
            r"(?P<types_sep>\|)",
            r"(?P<types_sep>(\]|>))(\.\.\.)?$",
        ]

    return OptionHighlighter(), NegativeOptionHighlighter(), TypesHighlighter()


def _console() -> Console:
    """Typer's help console: its theme, colour detection and TERMINAL_WIDTH / FORCE_COLOR rules."""
    from rich.console import Console
    from rich.theme import Theme

    width = os.getenv("TERMINAL_WIDTH")
    force: bool | None = (
        True if os.getenv("GITHUB_ACTIONS") or os.getenv("FORCE_COLOR") or os.getenv("PY_COLORS") else None
    )
    if os.getenv("_TYPER_FORCE_DISABLE_TERMINAL"):
        force = False
    return Console(
        theme=Theme(_THEME),
        highlighter=_highlighters()[0],
        color_system="auto",
        force_terminal=force,
        width=int(width) if width else None,
        stderr=False,
    )


def _rich_text(text: str, style: str = "") -> Text:
    """Typer's ``_make_rich_text`` in its default ``rich`` markup mode."""
    from rich.text import Text

    text = inspect.cleandoc(text)
    highlight = _highlighters()[0]
    if "\033[" in text:
        return highlight(Text.from_ansi(text, style=style))
    return highlight(Text.from_markup(text, style=style))


def _help_text(help_text: str) -> Any:
    """Typer's ``_get_help_text``: the first paragraph, then the rest dimmed."""
    from rich.console import Group
    from rich.text import Text

    text = inspect.cleandoc(help_text).partition("\f")[0]
    first, *rest = text.split("\n\n")
    if not first.startswith("\b"):
        first = first.replace("\n", " ")
    items: list[Any] = [_rich_text(first.strip())]
    if rest:
        items += [Text(""), _rich_text("\n\n".join(rest), style="dim")]
    return Group(*items)


def _table(*, highlight: bool) -> Any:
    from rich.table import Table

    return Table(
        highlight=highlight,
        show_header=False,
        expand=True,
        box=None,
        show_lines=False,
        leading=0,
        border_style=None,
        row_styles=None,
        pad_edge=False,
        padding=(0, 1),
    )


def _command_help(help_text: str) -> Text:
    """Typer's ``_make_command_help``: a command's first paragraph."""
    first = inspect.cleandoc(help_text).split("\n\n")[0]
    if first.startswith("\b"):
        first = first.replace("\b\n", "")
    return _rich_text(first.strip())


def print_root_help(root_help: str, commands: Mapping[str, tuple[str, str]]) -> None:
    """Print the root's help as Typer would (``commands``: name -> (target, help), in order)."""
    from rich.align import Align
    from rich.columns import Columns
    from rich.padding import Padding
    from rich.panel import Panel
    from rich.text import Text

    highlight, negative, types = _highlighters()
    console = _console()
    console.print(Padding(highlight(USAGE), 1), style="bold")
    console.print(Padding(Align(_help_text(root_help), pad=False), (0, 1, 1, 1)))

    options = _table(highlight=True)
    for name, help_text in ROOT_OPTIONS:
        options.add_row(
            highlight(name),
            highlight(""),
            negative(""),
            negative(""),
            types(Text(style="bold yellow", overflow="fold")),
            Columns([_rich_text(help_text)]),
        )
    console.print(Panel(options, border_style="dim", title="Options", title_align="left"))

    table = _table(highlight=False)
    table.add_column(style="bold cyan", no_wrap=True, width=max((len(n) for n in commands), default=0))
    table.add_column("Description", justify="left", no_wrap=False, ratio=10)
    for name, (_, help_text) in commands.items():
        table.add_row(Text(name), _command_help(help_text))
    if table.row_count:
        console.print(Panel(table, border_style="dim", title="Commands", title_align="left"))
