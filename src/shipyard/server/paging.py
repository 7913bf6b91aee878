"""Paging of the REST API's list routes: ``limit`` (1..``LIST_PAGE_MAX``, default
``LIST_PAGE_DEFAULT``) and ``offset`` in, ``next_offset`` out (None after the last page). A route
asks its store for one row more than the page, so it knows whether another page follows without
counting; no list route answers more than ``LIST_PAGE_MAX`` rows."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from shipyard.core.errors import InvalidInputError
from shipyard.metadata.base import LIST_PAGE_DEFAULT, LIST_PAGE_MAX

__all__ = ["LIST_PAGE_DEFAULT", "LIST_PAGE_MAX", "check_list_page", "split_page"]

T = TypeVar("T")


def check_list_page(limit: int, offset: int) -> None:
    if not 1 <= limit <= LIST_PAGE_MAX:
        raise InvalidInputError(f"limit must be between 1 and {LIST_PAGE_MAX}, got {limit}")
    if offset < 0:
        raise InvalidInputError(f"offset must be 0 or more, got {offset}")


def split_page(rows: Sequence[T], limit: int, offset: int) -> tuple[list[T], int | None]:
    """(the page, next_offset) from ``limit + 1`` rows read at ``offset``."""
    return list(rows[:limit]), (offset + limit if len(rows) > limit else None)
