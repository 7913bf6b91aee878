"""Joining rows to the newest of their labels by a string key, without per-row Python and without
a hash table: each string is known by two independent 64-bit hashes (its fingerprint, computed by
the reader), and the join is one sort of packed 64-bit words.

For each row of ``left`` (the prediction log) :func:`newest` finds the last entry of ``right``
(labels, already in the order they were given: the last is the newest) whose fingerprint is the
row's. The words sorted are ``(first hash with its low bits cleared) | position`` over the
concatenation ``right + left``: within a group of equal high bits the right entries come first, in
their order, then the left rows, so a left row's candidate is the group's last right entry. A
candidate whose fingerprint (both hashes, compared afterwards) is not the row's sits in a group
where different strings' high bits collided (a few hundred rows in ten million); those groups are
re-sorted by the whole fingerprint and matched exactly. Two strings are taken for one only when
both 64-bit hashes collide (about 2^-128 per pair).

``numpy.sort`` of 64-bit words is vectorised (SIMD): twenty million take a fraction of a second,
where a hash join of ten million string keys takes seconds (bench/experiments.py). Large
temporaries are few and passes run in chunks: on a busy machine, first touching fresh memory
(page faults) costs more than the arithmetic.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    U64 = npt.NDArray[np.uint64]
    I64 = npt.NDArray[np.int64]

CHUNK = 1 << 20


def newest(right_h1: U64, right_h2: U64, left_h1: U64, left_h2: U64) -> I64:
    """Per left row, the index of the last right entry with the same fingerprint (-1: none)."""
    import numpy as np

    m, n = len(right_h1), len(left_h1)
    out = np.full(n, -1, dtype=np.int64)
    if m == 0 or n == 0:
        return out
    total = m + n
    bits = max(1, (total - 1).bit_length())
    shift, low = np.uint64(bits), np.uint64((1 << bits) - 1)
    words = np.concatenate([right_h1, left_h1])
    for a in range(0, total, CHUNK):
        part = words[a : a + CHUNK]
        part &= ~low
        part |= np.arange(a, a + len(part), dtype=np.uint64)
    words.sort()
    _candidates(words, m, shift, low, out)
    # a candidate with another fingerprint (its high bits collided): the row's group, matched exactly
    wrong = _wrong(out, right_h1, right_h2, left_h1, left_h2)
    if len(wrong):
        high = np.unique(np.asarray(left_h1, dtype=np.uint64)[wrong] >> shift) << shift
        starts = np.searchsorted(words, high, side="left")
        stops = np.searchsorted(words, high | low, side="right")
        sub = np.concatenate([words[a:b] & low for a, b in zip(starts, stops, strict=True)]).astype(np.int64)
        first = _pick(sub, m, right_h1, left_h1)
        second = _pick(sub, m, right_h2, left_h2)
        order = np.lexsort((sub, second, first))
        sub, first, second = sub[order], first[order], second[order]
        new = np.empty(len(sub), dtype=bool)
        new[0] = True
        new[1:] = (first[1:] != first[:-1]) | (second[1:] != second[:-1])
        _match(sub, new, m, out)
    return out


def _candidates(words: U64, m: int, shift: np.uint64, low: np.uint64, out: I64) -> None:
    """``words`` sorted (high bits of the first hash, then position): each left row's candidate,
    the last right entry before it in its group of equal high bits, into ``out``."""
    import numpy as np

    carry = -1  # the sorted index of the last right entry so far
    for a in range(0, len(words), CHUNK):
        w = words[a : a + CHUNK]
        pos = (w & low).astype(np.int64)
        right = pos < m
        last = np.where(right, np.arange(a, a + len(w), dtype=np.int64), -1)
        np.maximum.accumulate(last, out=last)
        np.maximum(last, carry, out=last)
        carry = int(last[-1])
        left = ~right
        cand = last[left]
        found = words[np.maximum(cand, 0)]
        same = (cand >= 0) & ((found >> shift) == (w[left] >> shift))
        out[pos[left][same] - m] = (found[same] & low).astype(np.int64)


def _wrong(out: I64, right_h1: U64, right_h2: U64, left_h1: U64, left_h2: U64) -> I64:
    """The left rows whose candidate has another fingerprint."""
    import numpy as np

    found = []
    for a in range(0, len(out), CHUNK):
        o = out[a : a + CHUNK]
        got = o >= 0
        r = np.where(got, o, 0)
        bad = got & ((right_h1[r] != left_h1[a : a + CHUNK]) | (right_h2[r] != left_h2[a : a + CHUNK]))
        if bad.any():
            found.append(np.flatnonzero(bad) + a)
    return np.concatenate(found) if found else np.zeros(0, dtype=np.int64)


def _pick(pos: Any, m: int, right: U64, left: U64) -> U64:
    """The values at ``pos`` of ``right + left``."""
    import numpy as np

    is_right = pos < m
    out = np.empty(len(pos), dtype=np.uint64)
    out[is_right] = right[pos[is_right]]
    out[~is_right] = left[pos[~is_right] - m]
    return out


def _match(pos: Any, new: npt.NDArray[np.bool_], m: int, out: I64) -> None:
    """``pos`` sorted by group (``new`` marks each group's first), right entries (``pos < m``)
    first in each group, by position: write each left row's last right entry of its group into
    ``out`` (-1 where its group has none)."""
    import numpy as np

    last_right, group_start = -1, 0
    for a in range(0, len(pos), CHUNK):
        b = min(a + CHUNK, len(pos))
        here = pos[a:b]
        at = np.arange(a, b, dtype=np.int64)
        right = here < m
        last = np.where(right, at, -1)
        np.maximum.accumulate(last, out=last)
        np.maximum(last, last_right, out=last)
        start = np.where(new[a:b], at, -1)
        np.maximum.accumulate(start, out=start)
        np.maximum(start, group_start, out=start)
        left = ~right
        found = last[left]
        hit = found >= start[left]
        out[here[left] - m] = np.where(hit, pos[np.maximum(found, 0)], -1)
        last_right, group_start = int(last[-1]), int(start[-1])


class Index:
    """A right side prepared once for many lookups (a log read in parts): its words, sorted, as
    :func:`newest` sorts them (with at least 20 low bits, which a part's row numbers fill when it
    is looked up). :meth:`newest` gives what :func:`newest` gives for the same rows."""

    def __init__(self, right_h1: U64, right_h2: U64) -> None:
        import numpy as np

        self.h1, self.h2 = right_h1, right_h2
        self.m = m = len(right_h1)
        self.bits = max(20, (m - 1).bit_length() if m else 1, (CHUNK - 1).bit_length())
        self.low = np.uint64((1 << self.bits) - 1)
        words = np.array(right_h1, dtype=np.uint64)
        for a in range(0, m, CHUNK):
            part = words[a : a + CHUNK]
            part &= ~self.low
            part |= np.arange(a, a + len(part), dtype=np.uint64)
        words.sort()
        self.words = words

    def newest(self, left_h1: U64, left_h2: U64) -> I64:
        """Per left row, the index of the last right entry with the same fingerprint (-1: none)."""
        import numpy as np

        n, low, words = len(left_h1), self.low, self.words
        out = np.full(n, -1, dtype=np.int64)
        if self.m == 0 or n == 0:
            return out
        for a in range(0, n, CHUNK):
            needles = np.array(left_h1[a : a + CHUNK], dtype=np.uint64)
            needles &= ~low
            needles |= np.arange(len(needles), dtype=np.uint64)
            needles.sort()  # sorted needles: each search starts where the one before ended
            at = np.searchsorted(words, needles | low, side="right") - 1
            found = words[np.maximum(at, 0)]
            same = (at >= 0) & ((found & ~low) == (needles & ~low))  # the group's last right entry
            out[a + (needles[same] & low).astype(np.int64)] = (found[same] & low).astype(np.int64)
        wrong = _wrong(out, self.h1, self.h2, left_h1, left_h2)
        if len(wrong):  # another string's high bits: matched exactly among the group's entries
            high = np.unique(np.asarray(left_h1, dtype=np.uint64)[wrong] & ~low)
            starts = np.searchsorted(words, high, side="left")
            stops = np.searchsorted(words, high | low, side="right")
            right = np.concatenate([words[s:e] & low for s, e in zip(starts, stops, strict=True)])
            sub = np.concatenate([right.astype(np.int64), wrong + self.m])
            first = _pick(sub, self.m, self.h1, left_h1)
            second = _pick(sub, self.m, self.h2, left_h2)
            order = np.lexsort((sub, second, first))
            sub, first, second = sub[order], first[order], second[order]
            new = np.empty(len(sub), dtype=bool)
            new[0] = True
            new[1:] = (first[1:] != first[:-1]) | (second[1:] != second[:-1])
            _match(sub, new, self.m, out)
        return out
