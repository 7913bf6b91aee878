"""Paging of the REST API's list routes: ``limit`` (1..``LIST_PAGE_MAX``, default
``LIST_PAGE_DEFAULT``) and ``offset`` in, ``next_offset`` out (None after the last page). A route
asks its store for one row more than the page, so it knows whether another page follows without
counting; no list route answers more than ``LIST_PAGE_MAX`` rows.

A list that the caller sees only part of (rows filtered by permission) is read by keyset in chunks
and filtered as it goes (:func:`scan_visible`), so a request holds at most a page and a chunk and
its ``after`` cursor continues where a page ended without reading the rows before it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from shipyard.core.errors import InvalidInputError
from shipyard.metadata.base import LIST_PAGE_DEFAULT, LIST_PAGE_MAX

__all__ = [
    "LIMIT_DOC",
    "LIST_PAGE_DEFAULT",
    "LIST_PAGE_MAX",
    "OFFSET_DOC",
    "SCAN_CHUNK",
    "check_list_page",
    "scan_visible",
    "split_page",
]

T = TypeVar("T")
K = TypeVar("K")

SCAN_CHUNK = 200  # rows read per query while filtering what the caller may see
LIMIT_DOC = f"Rows per page: 1 to {LIST_PAGE_MAX} (default {LIST_PAGE_DEFAULT})."
OFFSET_DOC = "Rows to skip, 0 or more (counted after ``after`` where the route takes it)."


def check_list_page(limit: int, offset: int) -> None:
    if not 1 <= limit <= LIST_PAGE_MAX:
        raise InvalidInputError(f"limit must be between 1 and {LIST_PAGE_MAX}, got {limit}")
    if offset < 0:
        raise InvalidInputError(f"offset must be 0 or more, got {offset}")


def split_page(rows: Sequence[T], limit: int, offset: int) -> tuple[list[T], int | None]:
    """(the page, next_offset) from ``limit + 1`` rows read at ``offset``."""
    return list(rows[:limit]), (offset + limit if len(rows) > limit else None)


def scan_visible(
    read: Callable[[K | None], Sequence[T]],
    key: Callable[[T], K],
    visible: Callable[[T], bool],
    *,
    limit: int,
    offset: int,
    after: K | None,
    chunk: int,
) -> list[T]:
    """At least ``limit + 1`` rows that ``visible`` keeps (fewer at the list's end), past the first
    ``offset`` such rows after the keyset ``after``: ``read(cursor)`` answers at most ``chunk`` rows
    in key order after ``cursor`` (all from the start when None), and is called again after the
    last row's ``key`` until enough rows are kept or a short chunk ends the list."""
    skip, rows, cursor = offset, list[T](), after
    while len(rows) <= limit:
        got = read(cursor)
        for row in got:
            if not visible(row):
                continue
            if skip:
                skip -= 1
            else:
                rows.append(row)
        if len(got) < chunk:
            break
        cursor = key(got[-1])
    return rows
