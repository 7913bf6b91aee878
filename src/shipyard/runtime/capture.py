"""Capture a task's stdout and stderr at the file-descriptor level (C extensions and child
processes included). Each process keeps one pair of temporary files and truncates them per task.

Secret values a step was given (``redact``) are replaced by ``***`` in what is captured before
anyone reads it: the stored task logs never hold them. A multi-line value is also redacted line by
line (lines of 8 characters or more), since a program may print it one line at a time."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO

_SINKS: dict[int, tuple[IO[bytes], IO[bytes]]] = {}  # pid -> files (a forked child makes its own)


@dataclass
class Captured:
    stdout: bytes = b""
    stderr: bytes = b""


def _sinks() -> tuple[IO[bytes], IO[bytes]]:
    pid = os.getpid()
    if pid not in _SINKS:
        _SINKS[pid] = (tempfile.TemporaryFile(), tempfile.TemporaryFile())  # noqa: SIM115 (kept open)
    return _SINKS[pid]


def _read(fh: IO[bytes]) -> bytes:
    fh.seek(0)
    data = fh.read()
    fh.seek(0)
    fh.truncate()
    return data


MASK = "***"
_MIN_LINE = 8  # shorter lines of a multi-line secret are too common to redact on their own


def _needles(values: Iterable[str]) -> list[str]:
    found: set[str] = set()
    for value in values:
        if not value:
            continue
        found.add(value)
        if "\n" in value:
            found.update(line for line in (p.strip() for p in value.splitlines()) if len(line) >= _MIN_LINE)
    return sorted(found, key=len, reverse=True)  # the longest first: a value that contains another


def redact_text(text: str, values: Iterable[str]) -> str:
    """``text`` with every secret value replaced by ``***``."""
    for needle in _needles(values):
        text = text.replace(needle, MASK)
    return text


def redact_bytes(data: bytes, values: Iterable[str]) -> bytes:
    """``data`` with every secret value's UTF-8 bytes replaced by ``***``."""
    for needle in _needles(values):
        data = data.replace(needle.encode("utf-8"), MASK.encode())
    return data


@contextlib.contextmanager
def capture_output(enabled: bool = True, redact: Iterable[str] = ()) -> Iterator[Captured]:
    captured = Captured()
    if not enabled:
        yield captured
        return
    sys.stdout.flush()
    sys.stderr.flush()
    out, err = _sinks()
    saved = (os.dup(1), os.dup(2))
    saved_streams = (sys.stdout, sys.stderr)
    os.dup2(out.fileno(), 1)
    os.dup2(err.fileno(), 2)
    # Python-level streams may not write to fds 1/2 (pytest, notebooks): point them there too
    sys.stdout = open(1, "w", encoding="utf-8", errors="replace", closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", encoding="utf-8", errors="replace", closefd=False)  # noqa: SIM115
    try:
        yield captured
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.close()
        sys.stdout, sys.stderr = saved_streams
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        os.close(saved[0])
        os.close(saved[1])
        secrets = list(redact)
        captured.stdout = redact_bytes(_read(out), secrets)
        captured.stderr = redact_bytes(_read(err), secrets)
