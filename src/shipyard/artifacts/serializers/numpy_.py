"""numpy arrays (and numpy scalars) as ``.npy``, without pickle and without copying the data.

The header is written first, then the array's own memory as one buffer: the hash thread reads the
same memory while the main thread writes it to the temp file. Loading reads straight into a fresh
array while the previous chunk is hashed, and only returns it once the digest matches.
"""

from __future__ import annotations

import io
import math
from typing import Any

from shipyard.artifacts.cas import BlobWriter
from shipyard.artifacts.serializers.base import BlobSource, Dumped, Fallthrough, Serializer, loaded_module
from shipyard.core.errors import IntegrityError


class NumpySerializer(Serializer):
    name = "numpy"

    def accepts(self, obj: object) -> bool:
        np = loaded_module("numpy")
        return np is not None and (type(obj) is np.ndarray or isinstance(obj, np.generic))

    def dump(self, obj: Any, out: BlobWriter) -> Dumped:
        import numpy as np

        scalar = isinstance(obj, np.generic)
        array = np.asarray(obj)
        if array.dtype.hasobject or array.dtype.itemsize == 0:
            raise Fallthrough("object (or zero-width) arrays need pickle")
        if not (array.flags.c_contiguous or array.flags.f_contiguous):
            array = np.ascontiguousarray(array)
        fortran = not array.flags.c_contiguous
        header = io.BytesIO()
        fields = np.lib.format.header_data_from_array_1_0(array)
        try:
            np.lib.format.write_array_header_1_0(header, fields)
        except ValueError:  # header too long for format 1.0
            header = io.BytesIO()
            np.lib.format.write_array_header_2_0(header, fields)
        out.write(header.getvalue())
        flat = (array.T if fortran else array).reshape(-1).view(np.uint8)
        out.write_stable(flat.data)
        meta = {
            "python_type": "numpy.generic" if scalar else "numpy.ndarray",
            "dtype": array.dtype.str if not array.dtype.fields else str(array.dtype.descr),
            "shape": list(array.shape),
            "fortran_order": fortran,
        }
        return Dumped(meta)

    def load(self, blob: BlobSource, meta: dict[str, Any], *, allow_unsafe: bool) -> Any:
        import numpy as np

        with blob.open() as reader:
            try:
                version = np.lib.format.read_magic(reader)
                if version == (1, 0):
                    shape, fortran, dtype = np.lib.format.read_array_header_1_0(reader)
                else:
                    shape, fortran, dtype = np.lib.format.read_array_header_2_0(reader)
            except ValueError:
                reader.verify()  # a damaged header is an integrity problem when the hash says so
                raise
            if dtype.hasobject:
                raise IntegrityError(f"artifact {blob.label!r} claims an object array; refusing to load it")
            expected = math.prod(shape) * dtype.itemsize
            if reader.position + expected != blob.stored_size():
                reader.verify()  # a damaged header: report it as such rather than allocating for it
                raise IntegrityError(f"artifact {blob.label!r}: the .npy header does not match the data size")
            array = np.empty(shape, dtype=dtype, order="F" if fortran else "C")
            flat = (array.T if fortran else array).reshape(-1).view(np.uint8)
            reader.readinto_stable(flat.data)
            reader.verify()
        if meta.get("python_type") == "numpy.generic":
            return array[()]
        return array
