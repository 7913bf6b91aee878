"""The cache of per-group statistics next to the prediction log (data only: JSON and Arrow IPC).

Layout, under ``<log_dir>/<deployment>/_analysis/``::

    <fingerprint>/<day>/<group>.json     counts, sums per window, the files it was computed from
    <fingerprint>/<day>/<group>.arrow    request-id hashes, unit keys and first windows, the largest
                                         latencies, labelled request ids (one uint64 column; the
                                         last left out when every request id is labelled)
    keys/<file hash>.arrow              the request-id hashes of one label or outcome file

The fingerprint covers everything the statistics depend on besides the files (the spec's metrics,
unit, window, arm rules, the log's column types), so a changed experiment reads another folder.
An entry names its segments and the label/outcome files it joined by (path, size, mtime); the
caller decides whether it still holds. Every read is bounded (file sizes are checked before
decoding) and anything unreadable, inconsistent or oversized is treated as absent (and is
recomputed from the log and overwritten): the cache is never trusted over the log.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.experiments.analysis import Sums
from shipyard.experiments.arrays import arrow_of, numpy_of
from shipyard.experiments.segstats import GroupStats

if TYPE_CHECKING:
    import pyarrow as pa

FORMAT = 4
CACHE_DIR = "_analysis"
KEYS_DIR = "keys"
_MAX_JSON = 32 << 20
_MAX_WINDOWS = 1_000_000
Identity = tuple[str, int, int]  # path (relative to the log folder), size, mtime in ns


def identity(path: Path, base: Path) -> Identity:
    st = path.stat()
    return (path.relative_to(base).as_posix(), int(st.st_size), int(st.st_mtime_ns))


def fingerprint(parts: dict[str, Any]) -> str:
    text = json.dumps({"format": FORMAT, **parts}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def group_id(members: list[Identity]) -> str:
    return hashlib.sha256(json.dumps(members).encode()).hexdigest()[:24]


@dataclass
class Entry:
    members: list[Identity]  # the group's segments
    side: list[Identity]  # the label and outcome files present when it was computed
    relevant: list[str]  # of those, the ones that name one of its requests
    stats: GroupStats


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def _write_ipc(path: Path, table: pa.Table) -> None:
    """``table`` as an Arrow IPC file at ``path`` (written straight to a temporary file, then
    renamed: no copy of it in memory)."""
    import pyarrow as pa

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with pa.OSFile(str(tmp), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    tmp.replace(path)


def _read_ipc(path: Path, limit: int) -> pa.Table | None:
    import pyarrow as pa

    try:
        if path.stat().st_size > limit:
            return None
        with pa.memory_map(str(path)) as source:
            table = pa.ipc.open_file(source).read_all()
        table.validate(full=True)
        return table
    except (OSError, ValueError, pa.ArrowException):
        return None


def _pairs(array: Any) -> list[list[float]]:
    return [[float(x) for x in row] for row in array]


def store(folder: Path, entry: Entry, *, arrays: bool = True) -> None:
    """Write ``entry`` (Arrow first, then the JSON that names it); a failure leaves no entry.
    ``arrays=False``: only the JSON (the entry was read from this folder and only its ``side``
    changed)."""
    import numpy as np
    import pyarrow as pa

    g = entry.stats
    lat = [np.zeros(0) if t is None else np.asarray(t, dtype=np.float64) for t in g.lat_top]
    units = np.zeros(0, np.uint64) if g.units is None else g.units
    labelled = np.zeros(0, np.uint64) if g.labelled is None else g.labelled
    # every request id labelled (compute shares the array then): none stored (-1)
    every = len(labelled) > 0 and (
        labelled is g.rid or (len(labelled) == len(g.rid) and bool(np.array_equal(labelled, g.rid)))
    )
    name = group_id(entry.members)
    meta = {
        "format": FORMAT,
        "members": entry.members,
        "side": entry.side,
        "relevant": entry.relevant,
        "k0": g.k0,
        "windows": g.windows,
        "rows": g.rows,
        "min_ts": g.min_ts,
        "max_ts": g.max_ts,
        "requests": _pairs(g.requests),
        "metrics": {
            m: _sums(s) for m, s in g.metrics.items() if not any(m in p for p in g.partials.values())
        },
        "partials": {path: {m: _sums(s) for m, s in p.items()} for path, p in g.partials.items()},
        "counts": [
            len(g.rid),
            -1 if g.units is None else len(units),
            len(lat[0]),
            len(lat[1]),
            -1 if every else len(labelled),
        ],
        "latency": [g.lat_n[0], g.lat_n[1], g.lat_top[0] is not None],
    }
    try:
        if arrays:
            first = np.asarray(g.unit_first, dtype=np.int64).view(np.uint64)
            parts = [g.rid, units, first, lat[0].view(np.uint64), lat[1].view(np.uint64)]
            parts += [] if every else [labelled]
            # one column: the arrays one after the other (their lengths are in the JSON), each its
            # own record batch (no concatenated copy; a reader takes each batch as it is)
            key = pa.chunked_array([arrow_of(np.asarray(p, dtype=np.uint64)) for p in parts], pa.uint64())
            _write_ipc(folder / f"{name}.arrow", pa.Table.from_arrays([key], names=["key"]))
        _write(folder / f"{name}.json", json.dumps(meta).encode())
    except OSError:
        return  # a read-only log: analyse without caching


def _sums(s: Sums) -> dict[str, Any]:
    return {"n": _pairs(s.n), "s": _pairs(s.s), "ss": _pairs(s.ss), "shift": s.shift}


def _sums_of(data: Any, windows: int) -> Sums:
    return Sums(
        _array(data["n"], windows),
        _array(data["s"], windows),
        _array(data["ss"], windows),
        float(data["shift"]),
    )


def _array(value: Any, windows: int) -> Any:
    import numpy as np

    out = np.asarray(value, dtype=np.float64)
    if out.shape != (2, windows):
        raise ValueError("shape")
    return out


def load(path: Path, metrics: list[str], quality: list[str]) -> Entry | None:
    """The entry in ``path`` (a ``.json``), or None when it is missing, unreadable or inconsistent."""
    import numpy as np

    from shipyard.experiments.segstats import combine

    try:
        if path.stat().st_size > _MAX_JSON:
            return None
        meta = json.loads(path.read_bytes())
        if meta.get("format") != FORMAT:
            return None
        windows, rows = int(meta["windows"]), int(meta["rows"])
        if not 0 <= windows <= _MAX_WINDOWS or rows < 0:
            return None
        counts = [int(c) for c in meta["counts"]]
        if len(counts) != 5 or min(counts[0], counts[2], counts[3], counts[4] + 1) < 0:
            return None
        every = counts[4] == -1  # every request id labelled: not stored
        total = counts[0] + 2 * max(counts[1], 0) + counts[2] + counts[3] + max(counts[4], 0)
        if total > 6 * rows + 256:
            return None
        table = _read_ipc(path.with_suffix(".arrow"), 32 * total + (1 << 20))
        if table is None or table.num_rows != total or table.column_names != ["key"]:
            return None
        units = max(counts[1], 0)
        lengths = [counts[0], units, units, counts[2], counts[3]] + ([] if every else [counts[4]])
        pieces = _pieces(table["key"], lengths)
        rid, keys, first, lat0, lat1 = pieces[:5]
        labelled = rid if every else pieces[5]
        sums = {m: _sums_of(meta["metrics"][m], windows) for m in metrics if m not in quality}
        partials = {
            str(path): {m: _sums_of(p[m], windows) for m in quality} for path, p in meta["partials"].items()
        }
        has_lat = bool(meta["latency"][2])
        stats = GroupStats(
            int(meta["k0"]), windows, rows, int(meta["min_ts"]), int(meta["max_ts"]),
            _array(meta["requests"], windows), sums, rid, None if counts[1] < 0 else keys,
            first.view(np.int64),
            (int(meta["latency"][0]), int(meta["latency"][1])),
            (lat0.view(np.float64), lat1.view(np.float64)) if has_lat else (None, None),
            partials, labelled,
        )  # fmt: skip
        combine(stats, quality)
        members = [(str(m[0]), int(m[1]), int(m[2])) for m in meta["members"]]
        side = [(str(m[0]), int(m[1]), int(m[2])) for m in meta["side"]]
        return Entry(members, side, [str(r) for r in meta["relevant"]], stats)
    except (OSError, ValueError, KeyError, TypeError, IndexError, AttributeError):
        return None


def _pieces(column: Any, lengths: list[int]) -> list[Any]:
    """The stored column as the arrays it was written from: one record batch each, taken as they
    are (no copy); any other layout is read as one array and cut."""
    import numpy as np

    if [len(chunk) for chunk in column.chunks] == lengths:
        return [np.asarray(numpy_of(chunk), dtype=np.uint64) for chunk in column.chunks]
    whole = np.asarray(numpy_of(column), dtype=np.uint64)
    bounds = np.cumsum([0, *lengths])
    return [whole[bounds[i] : bounds[i + 1]] for i in range(len(lengths))]


def side_keys(folder: Path, ident: Identity) -> Any | None:
    """The cached request-id hashes of one label/outcome file (None: not cached or stale). A file
    of N bytes names at most a few N distinct ids: larger caches are not read."""
    import numpy as np

    path = folder / KEYS_DIR / f"{group_id([ident])}.arrow"
    table = _read_ipc(path, 64 * ident[1] + (1 << 20))
    if table is None or table.column_names != ["key"]:
        return None
    meta = table.schema.metadata or {}
    if meta.get(b"identity") != json.dumps(list(ident)).encode():
        return None
    return np.asarray(numpy_of(table["key"]), dtype=np.uint64)


def store_side_keys(folder: Path, ident: Identity, keys: Any) -> None:
    import numpy as np
    import pyarrow as pa

    meta = {"identity": json.dumps(list(ident))}
    keys = np.asarray(keys, dtype=np.uint64)
    table = pa.Table.from_arrays([arrow_of(keys)], names=["key"]).replace_schema_metadata(meta)
    try:
        _write_ipc(folder / KEYS_DIR / f"{group_id([ident])}.arrow", table)
    except OSError:
        return
