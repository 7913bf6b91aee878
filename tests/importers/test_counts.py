"""``update_spans`` (a batch's digests in one numpy pass) gives what ``SeriesDigest.update`` gives
key by key, and the digest tells points apart by their exact bits and their key."""

from __future__ import annotations

import random

import pytest

from shipyard.importers.counts import SeriesDigest, update_spans


def _points(rng: random.Random, n: int) -> tuple[list[float], list[int], list[int]]:
    specials = [float("nan"), float("inf"), -0.0, 0.0]
    values = [rng.choice(specials) if rng.random() < 0.1 else rng.uniform(-1e6, 1e6) for _ in range(n)]
    return values, [rng.randrange(-5, 1 << 40) for _ in range(n)], [rng.randrange(1 << 62) for _ in range(n)]


def test_spans_give_what_each_key_alone_gives() -> None:
    rng = random.Random(3)
    for _ in range(50):
        spans = [(rng.choice("abcd"), rng.randint(0, 30)) for _ in range(rng.randint(0, 8))]
        values, steps, stamps = _points(rng, sum(n for _, n in spans))
        batched: dict[str, SeriesDigest] = {}
        update_spans(batched, spans, values, steps, stamps)
        alone: dict[str, SeriesDigest] = {}
        at = 0
        for key, n in spans:
            alone.setdefault(key, SeriesDigest()).update(
                values[at : at + n], steps[at : at + n], stamps[at : at + n]
            )
            at += n
        assert {k: (d.count, d.digest()) for k, d in batched.items()} == {
            k: (d.count, d.digest()) for k, d in alone.items()
        }


def test_a_changed_bit_or_key_changes_the_digest() -> None:
    base: dict[str, SeriesDigest] = {}
    update_spans(base, [("a", 2), ("b", 1)], [1.0, 2.0, 3.0], [0, 1, 0], [5, 6, 7])
    flipped: dict[str, SeriesDigest] = {}
    update_spans(flipped, [("a", 2), ("b", 1)], [1.0, 2.0000000000000004, 3.0], [0, 1, 0], [5, 6, 7])
    assert base["a"].digest() != flipped["a"].digest() and base["b"].digest() == flipped["b"].digest()
    moved: dict[str, SeriesDigest] = {}
    update_spans(moved, [("a", 1), ("b", 2)], [1.0, 2.0, 3.0], [0, 1, 0], [5, 6, 7])
    assert (moved["a"].count, moved["b"].count) == (1, 2)


def test_spans_must_cover_the_columns() -> None:
    with pytest.raises(ValueError, match="spans"):
        update_spans({}, [("a", 2)], [1.0], [0], [0])
