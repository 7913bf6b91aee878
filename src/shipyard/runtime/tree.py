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


#: The leaf of a mapped item that did not run (its condition was false, or its input was skipped).
#: Joins leave such items out; a ``pick`` fills them from its other options.
SKIPPED_ITEM: dict[str, Any] = {"skipped": True}


def is_skipped(leaf: Any) -> bool:
    return isinstance(leaf, dict) and leaf.get("skipped") is True


def walk(tree: Any, depth: int, prefix: tuple[int, ...] = ()) -> Iterator[tuple[tuple[int, ...], Any]]:
    """Like :func:`leaves`, but a skipped item met above ``depth`` is yielded as one leaf."""
    if depth == 0 or is_skipped(tree):
        yield prefix, tree
        return
    for i, sub in enumerate(tree):
        yield from walk(sub, depth - 1, (*prefix, i))


def get_at(tree: Any, path: tuple[int, ...]) -> Any:
    """The subtree at ``path`` (a skipped item on the way is returned as is); IndexError if absent."""
    for i in path:
        if is_skipped(tree):
            return tree
        tree = tree[i]
    return tree


def prune(tree: Any) -> Any:
    """The tree without its skipped items (what a join receives)."""
    if isinstance(tree, list):
        return [prune(sub) for sub in tree if not is_skipped(sub)]
    return tree


def shape(tree: Any, depth: int) -> Any:
    """A copy of the top ``depth`` levels of ``tree`` with None leaves (skipped items kept)."""
    if is_skipped(tree):
        return tree
    if depth == 0:
        return None
    return [shape(sub, depth - 1) for sub in tree]


def loop_key(name: str, iteration: int) -> str:
    """The task key of a loop's ``iteration`` (1-based): ``refine@3``."""
    return f"{name}@{iteration}"
