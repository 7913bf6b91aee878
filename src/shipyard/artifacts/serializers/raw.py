"""bytes, bytearray and memoryview values, stored as they are."""

from __future__ import annotations

from typing import Any

from shipyard.artifacts.cas import BlobWriter
from shipyard.artifacts.serializers.base import BlobSource, Dumped, Serializer


class BytesSerializer(Serializer):
    name = "bytes"

    def accepts(self, obj: object) -> bool:
        return type(obj) in (bytes, bytearray, memoryview)

    def dump(self, obj: Any, out: BlobWriter) -> Dumped:
        if isinstance(obj, memoryview):
            obj = obj.tobytes() if not obj.contiguous else obj.cast("B")
        out.write(obj)  # not write_stable: a bytearray may change while we hash
        python_type = "bytearray" if type(obj) is bytearray else "bytes"
        return Dumped({"python_type": python_type})

    def load(self, blob: BlobSource, meta: dict[str, Any], *, allow_unsafe: bool) -> Any:
        data = blob.read_bytes()
        return bytearray(data) if meta.get("python_type") == "bytearray" else data
