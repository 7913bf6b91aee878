"""Joining rows to the newest of their labels by a string key, without per-row Python and without
a hash table: each string is known by two independent 64-bit hashes (its fingerprint, computed by
the reader), and the join is one sort of packed 64-bit words.

For each row of ``left`` (the prediction log) :func:`newest` finds the last entry of ``right``
(labels, already in the order they were given: the last is the newest) whose fingerprint is the
row's. The words sorted are ``(first hash with its low bits cleared) | position`` over the
concatenation ``right + left``: within a group of equal high bits the right entries come first, in
their order, then the left rows, so a left row's match is the group's last right entry. A group
whose members do not all share the second hash holds different strings (the high bits collided:
a few hundred groups in ten million); those few are re-sorted by the whole fingerprint and matched
exactly. Two strings are taken for one only when both 64-bit hashes collide (about 2^-128 per pair).

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
    kind = np.int32 if total < 2**31 else np.int64
    words = np.concatenate([right_h1, left_h1])
    for a in range(0, total, CHUNK):
        part = words[a : a + CHUNK]
        part &= ~low
        part |= np.arange(a, a + len(part), dtype=np.uint64)
    words.sort()
    pos = np.empty(total, dtype=kind)
    new = np.empty(total, dtype=bool)  # the first of its group (equal high bits)
    mixed = np.zeros(total, dtype=bool)  # in its group, but its second hash differs from the one before
    prev_group, prev_h2 = None, None
    for a in range(0, total, CHUNK):
        b = min(a + CHUNK, total)
        pos[a:b] = words[a:b] & low
        group = words[a:b] >> shift
        second = _second(pos[a:b], m, right_h2, left_h2)
        new[a] = prev_group is None or group[0] != prev_group
        np.not_equal(group[1:], group[:-1], out=new[a + 1 : b])
        mixed[a] = not new[a] and second[0] != prev_h2
        mixed[a + 1 : b] = ~new[a + 1 : b] & (second[1:] != second[:-1])
        prev_group, prev_h2 = group[-1], second[-1]
    del words
    _match(pos, new, m, out)
    if mixed.any():
        # the groups holding different strings (few and small): their members, matched exactly
        spans = {(_back(new, int(k)), _forth(new, int(k))) for k in np.flatnonzero(mixed)}
        sub = np.concatenate([pos[a:b] for a, b in sorted(spans)])
        first = np.concatenate([right_h1, left_h1])[sub]
        second = _second(sub, m, right_h2, left_h2)
        order = np.lexsort((sub, second, first))
        sub, first, second = sub[order], first[order], second[order]
        starts = np.empty(len(sub), dtype=bool)
        starts[0] = True
        starts[1:] = (first[1:] != first[:-1]) | (second[1:] != second[:-1])
        _match(sub, starts, m, out)
    return out


def _second(pos: Any, m: int, right_h2: U64, left_h2: U64) -> U64:
    """The second hash of the entries at ``pos`` (of ``right + left``)."""
    import numpy as np

    right = pos < m
    out = np.empty(len(pos), dtype=np.uint64)
    out[right] = right_h2[pos[right]]
    left = ~right
    out[left] = left_h2[pos[left] - m]
    return out


def _back(new: npt.NDArray[np.bool_], k: int) -> int:
    """The first position of ``k``'s group (looking back in growing steps: groups are small)."""
    import numpy as np

    width = 64
    while True:
        lo = max(0, k + 1 - width)
        found = np.flatnonzero(new[lo : k + 1])
        if len(found):
            return lo + int(found[-1])
        width *= 4  # new[0] is always set, so this ends


def _forth(new: npt.NDArray[np.bool_], k: int) -> int:
    """One past the last position of ``k``'s group."""
    import numpy as np

    width = 64
    while True:
        found = np.flatnonzero(new[k + 1 : k + 1 + width])
        if len(found):
            return k + 1 + int(found[0])
        if k + 1 + width >= len(new):
            return len(new)
        width *= 4


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
