"""Serializers chosen by type; the first whose ``accepts`` is true stores the value (order matters)."""

from __future__ import annotations

from shipyard.artifacts.serializers.base import BlobSource, Dumped, Fallthrough, Serializer
from shipyard.core.errors import SerializationError

__all__ = [
    "BlobSource",
    "Dumped",
    "Fallthrough",
    "Serializer",
    "default_serializers",
    "serializer_named",
]


def default_serializers() -> list[Serializer]:
    """Most specific first; pickle, which accepts everything, last."""
    from shipyard.artifacts.serializers.json_ import JsonSerializer
    from shipyard.artifacts.serializers.numpy_ import NumpySerializer
    from shipyard.artifacts.serializers.parquet import ParquetSerializer
    from shipyard.artifacts.serializers.paths import DirSerializer, FileSerializer
    from shipyard.artifacts.serializers.pickle_ import PickleSerializer
    from shipyard.artifacts.serializers.raw import BytesSerializer
    from shipyard.artifacts.serializers.sklearn_ import SklearnSerializer

    return [
        NumpySerializer(),
        ParquetSerializer(),
        JsonSerializer(),
        BytesSerializer(),
        FileSerializer(),
        DirSerializer(),
        SklearnSerializer(),
        PickleSerializer(),
    ]


def serializer_named(name: str, serializers: list[Serializer] | None = None) -> Serializer:
    candidates = serializers if serializers is not None else default_serializers()
    for serializer in candidates:
        if serializer.name == name:
            return serializer
    known = ", ".join(s.name for s in candidates)
    raise SerializationError(
        f"no serializer named {name!r} (known: {known}); the artifact was written by another version "
        "of shipyard or a plugin that is not installed here"
    )
