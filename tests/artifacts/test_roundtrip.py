"""Property-based round trips: what put_object stores, get_object gives back exactly."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from shipyard.artifacts.store import ArtifactStore

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

DTYPES = st.one_of(
    hnp.integer_dtypes(),
    hnp.unsigned_integer_dtypes(),
    hnp.floating_dtypes(),
    hnp.complex_number_dtypes(),
    hnp.boolean_dtypes(),
    hnp.datetime64_dtypes(),
    hnp.timedelta64_dtypes(),
    hnp.byte_string_dtypes(min_len=1),
    hnp.unicode_string_dtypes(min_len=1),
)
SHAPES = hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=6)


def same_array(a: np.ndarray, b: np.ndarray) -> bool:
    return (
        type(b) is np.ndarray
        and a.dtype == b.dtype
        and a.shape == b.shape
        and np.ascontiguousarray(a).tobytes() == np.ascontiguousarray(b).tobytes()
    )


@SETTINGS
@given(hnp.arrays(DTYPES, SHAPES))
def test_numpy_arrays(store: ArtifactStore, array: np.ndarray) -> None:
    stored = store.put_object(array)
    assert stored.serializer == "numpy" and not stored.unsafe
    assert stored.meta["shape"] == list(array.shape)
    json.dumps(stored.meta)  # the metadata store keeps meta as JSON
    assert same_array(array, store.get_object(stored, allow_unsafe=False))


@SETTINGS
@given(hnp.arrays(hnp.floating_dtypes() | hnp.integer_dtypes(), hnp.array_shapes(min_dims=2, max_dims=3)))
def test_numpy_fortran_and_strided(store: ArtifactStore, array: np.ndarray) -> None:
    for view in (np.asfortranarray(array), array[::2], array.T, array[..., ::-1]):
        loaded = store.get_object(store.put_object(view))
        assert same_array(view, loaded)
        assert np.array_equal(view, loaded, equal_nan=view.dtype.kind == "f")


def test_numpy_scalar_and_byte_order(store: ArtifactStore) -> None:
    for scalar in (np.float32(1.5), np.int64(-3), np.bool_(True), np.datetime64("2024-01-02")):
        loaded = store.get_object(store.put_object(scalar), allow_unsafe=False)
        assert type(loaded) is type(scalar) and loaded == scalar
    big_endian = np.arange(10, dtype=">f8")
    assert same_array(big_endian, store.get_object(store.put_object(big_endian)))


def test_numpy_object_array_goes_to_pickle(store: ArtifactStore) -> None:
    array = np.array([{"a": 1}, None], dtype=object)
    stored = store.put_object(array)
    assert stored.serializer == "pickle" and stored.unsafe
    assert list(store.get_object(stored, allow_unsafe=True)) == [{"a": 1}, None]


def test_numpy_same_array_same_digest(store: ArtifactStore) -> None:
    array = np.random.default_rng(0).random((100, 7))
    assert store.put_object(array).digest == store.put_object(array.copy()).digest


# JSON-able values -----------------------------------------------------------------------------------------
SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text()
HASHABLE = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5) | st.floats(allow_nan=False),
    lambda inner: st.tuples(inner, inner) | st.frozensets(inner, max_size=3),
    max_leaves=4,
)
JSONISH = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=5), inner, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(HASHABLE, inner, max_size=3)
        | st.sets(st.integers() | st.text(max_size=3), max_size=4)
    ),
    max_leaves=12,
)


def identical(a: Any, b: Any) -> bool:
    """Equality that also checks types, NaN, the sign of zero and dict order."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))
    if isinstance(a, set | frozenset):
        return bool(a == b)
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(identical(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        pairs = zip(a.items(), b.items(), strict=False)
        return len(a) == len(b) and all(
            identical(ka, kb) and identical(va, vb) for (ka, va), (kb, vb) in pairs
        )
    return bool(a == b)


@SETTINGS
@given(JSONISH)
def test_json_values_round_trip_exactly(store: ArtifactStore, value: Any) -> None:
    stored = store.put_object(value)
    assert stored.serializer == "json" and not stored.unsafe
    loaded = store.get_object(stored, allow_unsafe=False)
    assert identical(value, loaded)


def test_plain_json_stays_readable(store: ArtifactStore) -> None:
    value = {"params": {"lr": 0.1, "layers": [64, 32]}, "name": "élan", "ok": True, "none": None}
    stored = store.put_object(value)
    assert stored.meta["encoding"] == "plain"
    assert json.loads(store.get_bytes(stored.digest)) == value


def test_json_special_values(store: ArtifactStore) -> None:
    value = {
        "nan": float("nan"),
        "inf": float("inf"),
        "-inf": float("-inf"),
        "neg0": -0.0,
        "t": (1, (2, "x")),
        1: "int key",
        (1, 2): {3},
        "big": 10**100,
        "$float": "looks like a tag",
    }
    stored = store.put_object(value)
    assert stored.meta["encoding"] == "tagged"
    assert identical(value, store.get_object(stored))


def test_json_rejects_subclasses_and_cycles(store: ArtifactStore) -> None:
    import enum

    class Color(enum.IntEnum):
        RED = 1

    assert store.put_object(Color.RED).serializer == "pickle"
    cyclic: list[Any] = [1]
    cyclic.append(cyclic)
    stored = store.put_object(cyclic)
    assert stored.serializer == "pickle"
    loaded = store.get_object(stored, allow_unsafe=True)
    assert loaded[1] is loaded


@SETTINGS
@given(st.binary(max_size=2000), st.booleans())
def test_bytes(store: ArtifactStore, data: bytes, as_bytearray: bool) -> None:
    value: bytes | bytearray = bytearray(data) if as_bytearray else data
    stored = store.put_object(value)
    assert stored.serializer == "bytes" and not stored.unsafe
    loaded = store.get_object(stored, allow_unsafe=False)
    assert type(loaded) is type(value) and loaded == value
    assert store.put_bytes(data) == stored.digest  # raw bytes: the digest is the data's sha256


def test_memoryview_is_stored_as_bytes(store: ArtifactStore) -> None:
    stored = store.put_object(memoryview(b"abcdef")[1:4])
    assert store.get_object(stored) == b"bcd"


# the pickle fallback --------------------------------------------------------------------------------------
class Point:
    def __init__(self, x: int, y: int) -> None:
        self.x, self.y = x, y

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Point) and (self.x, self.y) == (other.x, other.y)

    __hash__ = None  # type: ignore[assignment]


def test_pickle_fallback_is_unsafe_and_refused(store: ArtifactStore) -> None:
    from shipyard.core.errors import SerializationError

    stored = store.put_object(Point(1, 2))
    assert stored.serializer == "pickle" and stored.unsafe
    assert stored.meta["python_type"].endswith("Point")
    with pytest.raises(SerializationError, match=r"allow_unsafe=True") as info:
        store.get_object(stored, name="point-artifact", allow_unsafe=False)
    assert "point-artifact" in str(info.value) and "runs code from the artifact" in str(info.value)
    assert store.get_object(stored, allow_unsafe=True) == Point(1, 2)


def test_pickle_refused_even_if_the_record_says_safe(store: ArtifactStore) -> None:
    import dataclasses

    from shipyard.core.errors import SerializationError

    stored = dataclasses.replace(store.put_object(Point(3, 4)), unsafe=False)
    with pytest.raises(SerializationError, match="unsafe"):
        store.get_object(stored, allow_unsafe=False)


def _generator() -> Any:
    yield 1


@pytest.mark.parametrize("make", ["lock", "generator", "socket"])
def test_unstorable_values_raise_serialization_error(store: ArtifactStore, make: str) -> None:
    import socket
    import threading

    from shipyard.core.errors import SerializationError

    before = sorted(store.blobs.list_keys())
    sock = socket.socket() if make == "socket" else None
    try:
        makers: dict[str, Callable[[], object]] = {
            "lock": threading.Lock,
            "generator": _generator,
            "socket": lambda: sock,
        }
        value = makers[make]()
        with pytest.raises(SerializationError, match=type(value).__name__) as info:
            store.put_object(value)
        assert "make it picklable" in str(info.value)
    finally:
        if sock is not None:
            sock.close()
    assert sorted(store.blobs.list_keys()) == before
    staging = store.blobs.staging_dir()
    assert staging is not None and list(staging.iterdir()) == []


def test_pickle_fallback_keeps_large_numpy_buffers(tmp_path: Path) -> None:
    """Pickle protocol 5 hands big buffers to the writer as PickleBuffer objects."""
    from shipyard.artifacts.backends.local import LocalBackend
    from shipyard.artifacts.store import ArtifactStore

    store = ArtifactStore(LocalBackend(tmp_path))
    weights = np.random.default_rng(0).random((500, 400))
    stored = store.put_object({"w": weights, "marker": object})
    assert stored.serializer == "pickle" and stored.unsafe
    back = store.get_object(stored, allow_unsafe=True)
    assert np.array_equal(back["w"], weights) and back["marker"] is object
