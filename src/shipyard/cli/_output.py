r"""Shared CLI output: JSON encoding (ISO datetimes, NaN rule), plain-text formatting, Rich tables.

JSON output is strict JSON: datetimes are ISO-8601 strings, and the float values JSON cannot hold
are written as the strings ``"NaN"``, ``"Infinity"`` and ``"-Infinity"``.

Stored values are untrusted (a colleague, an older version or a server wrote them), so nothing
the CLI prints may act on the terminal:

- :func:`console` is the one Rich console of every command. It reads **no markup** unless a call
  says ``markup=True`` (then every stored value in the string goes through :func:`esc`), and it
  shows control characters as escapes (``\x1b``) in every string it renders, and drops any
  that still reach its output (in ``Text`` objects built elsewhere).
- :func:`plain` (a ``Text`` that is never read as markup), :func:`line` (one line from pieces)
  and :func:`printable` (plain ``str`` for ``typer.echo``) are how commands print stored values;
  a string the console renders is one line (``\n`` shown escaped, so a stored value cannot
  forge table rows), so multi-line fields are printed as ``plain(value, multiline=True)`` and
  our own multi-line markup as :func:`from_markup`.
- :func:`dumps` writes every control character as a JSON ``\u`` escape, C1 ones included.

Controls are the C0 set (ESC, BEL, backspace, carriage return...), DEL, the C1 set (the 8-bit
CSI ``\x9b``...), the line/paragraph separators and the bidirectional overrides; ``\n`` and
``\t`` are kept only where a multi-line field is printed (a carriage return there becomes a
line break, so nothing can be overwritten).
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import json
import math
import sys
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console, ConsoleOptions, RenderableType
    from rich.segment import Segment
    from rich.text import Text

    from shipyard.core.entities import ArtifactRecord, Run, Task

# format characters that reorder or hide text on screen (Trojan-source style)
_BIDI = (0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A))
_CONTROLS = (*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0), 0x2028, 0x2029, *_BIDI)


def _escape_of(code: int) -> str:
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


@functools.cache
def _tables() -> tuple[dict[int, str], dict[int, str], dict[int, None], dict[int, str]]:
    """translate() tables: single-line, multi-line, drop (for rendered segments), JSON."""
    single = {code: _escape_of(code) for code in _CONTROLS}
    multi = {**single, ord("\n"): "\n", ord("\t"): "\t"}
    drop: dict[int, None] = {code: None for code in _CONTROLS if code not in (ord("\n"), ord("\t"))}
    as_json = {code: f"\\u{code:04x}" for code in _CONTROLS if code >= 0x7F}
    return single, multi, drop, as_json


def printable(value: object, *, multiline: bool = False) -> str:
    r"""``str(value)`` that cannot act on a terminal: every control character is shown as an
    escape (``\x1b``, ``\u202e``). ``multiline`` keeps newlines and tabs (and turns a carriage
    return into a newline) for fields printed over several lines (errors, descriptions, logs)."""
    text = str(value)
    if text.isprintable():  # the common case: nothing to do
        return text
    single, multi, _, _ = _tables()
    if multiline:
        return text.replace("\r\n", "\n").replace("\r", "\n").translate(multi)
    return text.translate(single)


def esc(value: object, *, multiline: bool = False) -> str:
    """A stored value for a Rich markup string (``markup=True``): controls escaped, then markup."""
    from rich.markup import escape

    return escape(printable(value, multiline=multiline))


def plain(value: object, style: str = "", *, multiline: bool = False) -> Text:
    """A stored value as a Rich ``Text``: printed literally (never read as markup), controls escaped."""
    from rich.text import Text

    return Text(printable(value, multiline=multiline), style=style)


def from_markup(template: str) -> Text:
    """Our own Rich markup (several lines allowed) whose stored values went through :func:`esc`."""
    from rich.text import Text

    return Text.from_markup(printable(template, multiline=True), emoji=False)


def line(*parts: object) -> Text:
    """One line from pieces: a ``(value, style)`` pair is styled, a ``Text`` kept, anything else
    shown literally; e.g. ``line((run.name, "bold"), "  ", run.id)``."""
    from rich.text import Text

    out = Text()
    for part in parts:
        if isinstance(part, Text):
            out.append_text(part)
        elif isinstance(part, tuple) and len(part) == 2:
            out.append_text(plain(part[0], str(part[1])))
        else:
            out.append_text(plain(part))
    return out


def to_jsonable(value: Any) -> Any:
    """Plain JSON values from entities, datetimes, enums, paths and numpy values."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return value
    if isinstance(value, enum.Enum):
        return to_jsonable(value.value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_jsonable(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if hasattr(value, "tolist"):  # numpy arrays and scalars
        return to_jsonable(value.tolist())
    if hasattr(value, "to_dict"):  # pandas DataFrame / Series
        try:
            return to_jsonable(value.to_dict(orient="list"))
        except TypeError:
            return to_jsonable(value.to_dict())
    raise TypeError(f"cannot show a {type(value).__name__} as JSON")


def dumps(value: Any) -> str:
    r"""Indented JSON; control characters JSON leaves raw (DEL, C1, separators, bidi) as ``\u``."""
    text = json.dumps(to_jsonable(value), indent=2, allow_nan=False, ensure_ascii=False)
    return text if text.isascii() else text.translate(_tables()[3])


def print_json(value: Any) -> None:
    sys.stdout.write(dumps(value) + "\n")


@functools.cache
def _safe_console_class() -> type[Console]:
    from rich.console import Console
    from rich.segment import Segment

    class SafeConsole(Console):
        """A Console for untrusted text; see the module doc."""

        def render_str(self, text: str, **kwargs: Any) -> Text:
            return super().render_str(printable(text), **kwargs)

        def render(
            self, renderable: RenderableType, options: ConsoleOptions | None = None
        ) -> Iterable[Segment]:
            return _without_controls(super().render(renderable, options), Segment)

    return SafeConsole


def _without_controls(segments: Iterable[Segment], segment: type[Segment]) -> Iterator[Segment]:
    drop = _tables()[2]
    for seg in segments:
        if seg.control is None and not seg.text.isprintable() and seg.text != "\n":
            yield segment(seg.text.translate(drop), seg.style)
        else:
            yield seg


def console(*, stderr: bool = False) -> Console:
    """The console every command prints with: no markup unless a call asks for it, no control
    characters out (see the module doc)."""
    stream = sys.stderr if stderr else sys.stdout
    # piped output (scripts, grep) gets full-width rows instead of columns squeezed to 80
    width = None if stream.isatty() else 240
    return _safe_console_class()(
        stderr=stderr, highlight=False, soft_wrap=stderr, width=width, markup=False, emoji=False
    )


def fmt_time(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value is not None else "-"


def fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def fmt_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{size} B"  # pragma: no cover


def fmt_value(value: Any) -> str:
    """A param/metric value as text (NaN and inf as in JSON output)."""
    jsonable = to_jsonable(value)
    return jsonable if isinstance(jsonable, str) else json.dumps(jsonable)


STATUS_STYLE = {
    "running": "yellow",
    "succeeded": "green",
    "failed": "red",
    "cancelled": "magenta",
    "pending": "dim",
    "cached": "cyan",
    "reused": "cyan",
    "skipped": "dim",
}


def styled_status(status: str) -> Text:
    return plain(status, STATUS_STYLE.get(status, ""))


def code_package_text(run: Run) -> str | None:
    """``<digest prefix>, <size>, <n> files`` of a flow run's code package (None: the run has none)."""
    package = (run.flow_spec or {}).get("code_package")
    if not isinstance(package, dict) or not isinstance(package.get("digest"), str):
        return None
    size = package.get("size")
    files = package.get("files")
    size_text = fmt_size(size) if isinstance(size, int) else "-"
    files_text = f"{files} files" if isinstance(files, int) else "- files"
    return f"{package['digest'][:12]}, {size_text}, {files_text}"


def run_summary(run: Run) -> dict[str, Any]:
    """The JSON shape of a run (``runs list --json`` items; ``runs show --json`` adds to it)."""
    return {
        "id": run.id,
        "name": run.name,
        "status": run.status.value,
        "namespace": run.namespace,
        "user": run.user,
        "flow": run.flow_name,
        "start_time": run.start_time,
        "end_time": run.end_time,
        "duration_s": run.duration_s,
        "heartbeat_at": run.heartbeat_at,
        "params": run.params,
        "tags": run.tags,
        "metrics": run.metrics,
        "code_version": run.code_version,
        "code_package": (run.flow_spec or {}).get("code_package"),
        "origin_run_id": run.origin_run_id,
        "error": run.error,
    }


def task_summary(task: Task) -> dict[str, Any]:
    return {
        "id": task.id,
        "step": task.step,
        "index": task.index,
        "key": task.key,
        "status": task.status.value,
        "attempts": task.attempts,
        "started_at": task.started_at,
        "ended_at": task.ended_at,
        "duration_s": task.duration_s,
        "node": task.node,
        "reused_from": task.reused_from,
        "error": task.error,
    }


def artifact_summary(record: ArtifactRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "name": record.name,
        "task_id": record.task_id,
        "serializer": record.serializer,
        "size": record.size,
        "digest": record.digest,
        "unsafe": record.unsafe,
        "created_at": record.created_at,
        "meta": record.meta,
    }


def store_label(uri: str) -> str:
    """Where the metadata lives, for people: a SQLite file's path, or the URI without its
    credentials (a password or token in a database URL is never printed)."""
    from urllib.parse import urlsplit, urlunsplit

    if uri.startswith("sqlite:///"):
        return uri.removeprefix("sqlite:///") or uri
    try:
        parts = urlsplit(uri)
        host = parts.hostname or ""
        netloc = f"{host}:{parts.port}" if parts.port else host
    except ValueError:
        return uri.split("://", 1)[0] + "://…"
    return printable(urlunsplit((parts.scheme, netloc, parts.path, "", "")))


def short_text(text: str, width: int = 120) -> str:
    """One printable line of at most ``width`` characters (an ellipsis marks a cut)."""
    flat = " ".join(printable(text).split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"
