"""Nested-list helpers: a mapped node's value is a tree of artifact refs indexed by task path."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


def leaves(tree: Any, depth: int, prefix: tuple[int, ...] = ()) -> Iterator[tuple[tuple[int, ...], Any]]:
    """(path, leaf) pairs of a tree ``depth`` levels deep, in index order."""
    if depth == 0:
        yield prefix, tree
        return
    for i, sub in enumerate(tree):
        yield from leaves(sub, depth - 1, (*prefix, i))


def set_at(tree: Any, path: tuple[int, ...], value: Any) -> Any:
    """Put ``value`` at ``path`` (a tree of depth 0 is replaced); returns the tree."""
    if not path:
        return value
    node = tree
    for i in path[:-1]:
        node = node[i]
    node[path[-1]] = value
    return tree


def key_for(name: str, path: tuple[int, ...]) -> str:
    return name + "".join(f"[{i}]" for i in path)
