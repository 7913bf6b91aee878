"""Arrow columns as numpy arrays without pyarrow's ``to_numpy`` (which imports pandas the first
time: most of a second of a cold analysis that never uses it). Fixed-width columns without nulls
are viewed in place (booleans unpacked from their bits); anything else goes through ``to_numpy``.
"""

from __future__ import annotations

from typing import Any


def numpy_of(column: Any) -> Any:
    """A ``pyarrow.Array`` or ``ChunkedArray`` as one numpy array (chunks concatenated)."""
    import numpy as np
    import pyarrow as pa

    if isinstance(column, pa.ChunkedArray):
        if column.num_chunks == 1:
            return numpy_of(column.chunk(0))
        if column.num_chunks == 0:
            kind = _DTYPES.get(str(column.type))
            return np.zeros(0, dtype=kind) if kind else np.asarray(column.to_numpy())
        return np.concatenate([numpy_of(chunk) for chunk in column.chunks])
    kind = _DTYPES.get(str(column.type))
    if kind is None or column.null_count:
        return np.asarray(column.to_numpy(zero_copy_only=False))
    data = column.buffers()[1]
    n, offset = len(column), column.offset
    if kind == "bool":
        if data is None or n == 0:
            return np.zeros(n, dtype=bool)
        bits = np.frombuffer(data, dtype=np.uint8)
        return np.unpackbits(bits, count=offset + n, bitorder="little")[offset:].view(bool)
    dtype = np.dtype(kind)
    if data is None or n == 0:
        return np.zeros(n, dtype=dtype)
    return np.frombuffer(data, dtype=dtype, count=n, offset=offset * dtype.itemsize)


_DTYPES = {
    "bool": "bool",
    "int8": "int8",
    "int16": "int16",
    "int32": "int32",
    "int64": "int64",
    "uint8": "uint8",
    "uint16": "uint16",
    "uint32": "uint32",
    "uint64": "uint64",
    "float": "float32",
    "double": "float64",
}


def arrow_of(values: Any) -> Any:
    """A 1-d numpy array of fixed width (not bool) as a ``pyarrow.Array`` over the same memory
    (``pyarrow.array`` would import pandas to check for its objects)."""
    import numpy as np
    import pyarrow as pa

    values = np.ascontiguousarray(values)
    kind = {v: k for k, v in _DTYPES.items() if k != "bool"}.get(values.dtype.name)
    if kind is None:
        return pa.array(values)
    return pa.Array.from_buffers(pa.type_for_alias(kind), len(values), [None, pa.py_buffer(values)])
