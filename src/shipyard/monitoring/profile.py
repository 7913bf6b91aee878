"""Reference profiles: one sketch per feature and per output, computed in one streaming pass.

``build_profile(data)`` takes a pandas DataFrame, a pyarrow Table, a Parquet file path or any
iterable of DataFrames / Arrow record batches; it reads ``chunk_rows`` rows at a time, so memory
is bounded by the chunk plus the sketches. The first chunk fixes each numeric feature's grid.
Profiles are mergeable (:meth:`Profile.merge`) and serialize to JSON (:meth:`Profile.to_json`).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.core.errors import InvalidInputError
from shipyard.monitoring.sketch import (
    DEFAULT_BINS,
    CategoricalSketch,
    NumericSketch,
    Sketch,
    sketch_from_dict,
)

if TYPE_CHECKING:
    pass

FORMAT = 1
MAX_PROFILE_BYTES = 64 << 20  # a stored profile is bounded before it is parsed
CHUNK_ROWS = 262_144


def is_numeric(values: Any) -> bool:
    import numpy as np

    kind = np.asarray(values[:0] if hasattr(values, "__getitem__") else values).dtype.kind
    return kind in "fiu"


@dataclass
class Profile:
    """Sketches of the features (``features``) and outputs (``outputs``, e.g. ``prediction``)."""

    features: dict[str, Sketch] = field(default_factory=dict)
    outputs: dict[str, Sketch] = field(default_factory=dict)
    rows: int = 0
    model: str | None = None

    def merge(self, other: Profile) -> Profile:
        if set(self.features) != set(other.features) or set(self.outputs) != set(other.outputs):
            raise InvalidInputError(
                "cannot merge profiles of different schemas: "
                f"{sorted(self.features)} vs {sorted(other.features)}"
            )
        return Profile(
            {k: _merge(v, other.features[k]) for k, v in self.features.items()},
            {k: _merge(v, other.outputs[k]) for k, v in self.outputs.items()},
            self.rows + other.rows,
            self.model,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "model": self.model,
            "rows": self.rows,
            "features": {k: v.to_dict() for k, v in self.features.items()},
            "outputs": {k: v.to_dict() for k, v in self.outputs.items()},
        }

    def to_json(self) -> bytes:
        return json.dumps(self.to_dict(), separators=(",", ":")).encode()

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Profile:
        if data.get("format") != FORMAT:
            raise InvalidInputError(
                f"unknown reference profile format {data.get('format')!r} (expected {FORMAT})"
            )
        return cls(
            {k: sketch_from_dict(v) for k, v in dict(data["features"]).items()},
            {k: sketch_from_dict(v) for k, v in dict(data["outputs"]).items()},
            int(data["rows"]),
            data.get("model"),
        )

    @classmethod
    def from_json(cls, raw: bytes | str) -> Profile:
        """A stored profile; InvalidInputError (never a crash or a huge allocation) when malformed."""
        if len(raw) > MAX_PROFILE_BYTES:
            raise InvalidInputError(
                f"reference profile of {len(raw)} bytes is over the limit of {MAX_PROFILE_BYTES}; "
                "store a profile of fewer features or bins"
            )
        try:
            return cls.from_dict(json.loads(raw))
        except InvalidInputError as exc:
            raise InvalidInputError(f"reference profile is malformed: {exc.message}") from None
        except (KeyError, TypeError, ValueError, IndexError, AttributeError, RecursionError) as exc:
            raise InvalidInputError(f"reference profile is malformed: {type(exc).__name__}: {exc}") from None

    def summary(self) -> list[dict[str, Any]]:
        """One row per column: name, role, kind, missing rate and a few numbers."""
        out = []
        for role, sketches in (("feature", self.features), ("output", self.outputs)):
            for name, s in sketches.items():
                row: dict[str, Any] = {"name": name, "role": role, "kind": s.kind, "missing": s.missing_rate}
                if isinstance(s, NumericSketch):
                    row.update(mean=s.mean, std=s.std, min=s.min, max=s.max)
                else:
                    row.update(categories=len(s.counts))
                out.append(row)
        return out


def _merge(a: Sketch, b: Sketch) -> Sketch:
    if isinstance(a, NumericSketch) and isinstance(b, NumericSketch):
        return a.merge(b)
    if isinstance(a, CategoricalSketch) and isinstance(b, CategoricalSketch):
        return a.merge(b)
    raise InvalidInputError("cannot merge a numeric sketch with a categorical one")


def column_chunks(
    data: Any, chunk_rows: int = CHUNK_ROWS, columns: Sequence[str] | None = None
) -> Iterator[tuple[str, Iterator[Any]]]:
    """``(column, chunks of its values)`` for every column of ``data`` (see the module doc).

    Parquet files and Arrow tables are read one column (and row group) at a time, so memory holds
    one column chunk, not the frame; DataFrames are sliced without copies.
    """
    import pyarrow as pa

    wanted = list(columns) if columns is not None else None
    if isinstance(data, str | Path):
        yield from _parquet_columns(Path(data), wanted)
        return
    import numpy as np
    import pandas as pd

    if isinstance(data, np.ndarray):
        if data.ndim != 2:
            raise InvalidInputError(
                f"cannot profile a {data.ndim}-D array: pass a 2-D array (rows x features) or a DataFrame"
            )
        # the names a model signature gives a 2-D array's columns (c0, c1, ...), so they match the log
        data = pd.DataFrame(data, columns=[f"c{i}" for i in range(data.shape[1])], copy=False)
    if isinstance(data, pd.DataFrame):
        names = wanted if wanted is not None else [str(c) for c in data.columns]
        _check_columns(names, [str(c) for c in data.columns])
        for name in names:
            values = data[name].to_numpy()
            yield name, (values[i : i + chunk_rows] for i in range(0, len(values), chunk_rows))
        return
    if isinstance(data, pa.Table):
        names = wanted if wanted is not None else data.column_names
        _check_columns(names, data.column_names)
        for name in names:
            yield name, (chunk.to_numpy(zero_copy_only=False) for chunk in data.column(name).chunks)
        return
    if isinstance(data, Iterable):  # chunks of rows: gather per column (one pass over the chunks)
        gathered: dict[str, list[Any]] = {}
        for item in data:
            chunk = item.to_pandas() if isinstance(item, pa.RecordBatch | pa.Table) else item
            if not isinstance(chunk, pd.DataFrame):
                raise InvalidInputError(
                    f"chunks must be DataFrames or Arrow batches, got {type(chunk).__name__}"
                )
            for name in wanted if wanted is not None else [str(c) for c in chunk.columns]:
                gathered.setdefault(name, []).append(chunk[name].to_numpy())
        for name, parts in gathered.items():
            yield name, iter(parts)
        return
    raise InvalidInputError(
        f"cannot profile a {type(data).__name__}: pass a DataFrame, 2-D numpy array, Arrow table, "
        "Parquet path or chunks"
    )


def _check_columns(names: Sequence[str], available: Sequence[str]) -> None:
    missing = [n for n in names if n not in available]
    if missing:
        raise InvalidInputError(f"no column(s) {missing} in the data; it has {list(available)[:20]}")


def _parquet_columns(path: Path, wanted: list[str] | None) -> Iterator[tuple[str, Iterator[Any]]]:
    import pyarrow.parquet as pq

    if not path.exists():
        raise InvalidInputError(f"no such file: {path}")
    with pq.ParquetFile(path) as handle:
        names = wanted if wanted is not None else handle.schema_arrow.names
        _check_columns(names, handle.schema_arrow.names)
        groups = handle.num_row_groups

        def chunks(name: str) -> Iterator[Any]:
            for group in range(groups):
                column = handle.read_row_group(group, columns=[name]).column(0)
                for chunk in column.chunks:
                    yield arrow_values(chunk)

        for name in names:
            yield name, chunks(name)


def arrow_values(array: Any) -> Any:
    """A numpy view of a null-free numeric Arrow array (read straight from its buffer, so pyarrow
    does not import pandas), else ``to_numpy`` (nulls become NaN / None)."""
    import numpy as np
    import pyarrow.types as pat

    kind = array.type
    if array.null_count == 0 and (pat.is_floating(kind) or pat.is_integer(kind)) and kind.bit_width >= 8:
        letter = "f" if pat.is_floating(kind) else ("u" if pat.is_unsigned_integer(kind) else "i")
        dtype = np.dtype(f"<{letter}{kind.bit_width // 8}")
        return np.frombuffer(
            array.buffers()[1], dtype=dtype, count=len(array), offset=array.offset * dtype.itemsize
        )
    return array.to_numpy(zero_copy_only=False)


def build_profile(
    data: Any,
    *,
    outputs: Any = None,
    output_names: Sequence[str] = ("prediction",),
    features: Sequence[str] | None = None,
    bins: int = DEFAULT_BINS,
    chunk_rows: int = CHUNK_ROWS,
    model: str | None = None,
) -> Profile:
    """A profile of ``data`` (features) and, optionally, ``outputs`` (predictions: an array, a
    Series/DataFrame, or anything ``data`` may be). Columns named in ``output_names`` found in
    ``data`` are profiled as outputs."""
    profile = Profile(model=model)
    sources: Iterator[tuple[str, Iterator[Any], bool]] = (
        (name, chunks, name in output_names) for name, chunks in column_chunks(data, chunk_rows, features)
    )
    if outputs is not None:
        extra = column_chunks(_as_frame(outputs, output_names), chunk_rows)
        sources = itertools.chain(sources, ((name, chunks, True) for name, chunks in extra))
    for name, chunks, is_output in sources:  # lazily: a Parquet file stays open while it is read
        sketch = _sketch_column(chunks, bins)
        if sketch is None:
            continue
        (profile.outputs if is_output else profile.features)[name] = sketch
        profile.rows = max(profile.rows, sketch.n + sketch.missing)
    if not profile.rows:
        raise InvalidInputError("cannot profile empty data: no rows")
    return profile


def _sketch_column(chunks: Iterator[Any], bins: int) -> Sketch | None:
    sketch: Sketch | None = None
    for values in chunks:
        if sketch is None:
            sketch = (
                NumericSketch.from_values(values, bins)
                if is_numeric(values)
                else CategoricalSketch.from_values(values)
            )
        else:
            sketch.add(values)
    return sketch


def _as_frame(outputs: Any, names: Sequence[str]) -> Any:
    import numpy as np
    import pandas as pd

    if isinstance(outputs, pd.DataFrame):
        return outputs
    if isinstance(outputs, pd.Series):
        return outputs.to_frame(names[0] if outputs.name is None else str(outputs.name))
    arr = np.asarray(outputs)
    if arr.ndim == 2 and arr.shape[1] > 1:  # probabilities: profile the positive/last class
        return pd.DataFrame({"prediction": arr.argmax(axis=1), "proba": arr[:, -1]})
    return pd.DataFrame({names[0]: arr.ravel()})
