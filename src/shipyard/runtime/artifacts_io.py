"""Artifact references inside task specs, and loading task inputs from them."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from shipyard.artifacts.store import ArtifactStore, StoredObject
from shipyard.core.entities import ArtifactRecord
from shipyard.core.errors import FlowError

_SMALL = 1 << 20  # cache loaded inputs up to 1 MiB (a fan-out's source list is read by every task)
#: A flow loads its own step outputs even when they are pickles: its own code wrote them, in this
#: run or in the origin run its user chose to resume from. Every other reader of artifacts
#: (``load_artifact``, the CLI, the server) refuses pickles unless told ``allow_unsafe=True``.
OWN_OUTPUTS = True


def record_to_ref(rec: ArtifactRecord) -> dict[str, Any]:
    return {
        "id": rec.id,
        "digest": rec.digest,
        "size": rec.size,
        "serializer": rec.serializer,
        "unsafe": rec.unsafe,
        "meta": rec.meta,
    }


def ref_to_stored(ref: dict[str, Any]) -> StoredObject:
    return StoredObject(
        digest=ref["digest"],
        size=int(ref["size"]),
        serializer=ref["serializer"],
        unsafe=bool(ref.get("unsafe", False)),
        meta=dict(ref.get("meta") or {}),
    )


class InputLoader:
    """Loads artifact refs, keeping small objects by digest (per worker process)."""

    def __init__(self, max_items: int = 256) -> None:
        self._cache: OrderedDict[str, Any] = OrderedDict()
        self._max = max_items

    def load(self, store: ArtifactStore, ref: dict[str, Any], name: str, keep: bool = False) -> Any:
        """Load one artifact; ``keep`` caches small ones (fan-out sources, never mutated by us)."""
        digest = ref["digest"]
        if digest in self._cache:
            self._cache.move_to_end(digest)
            return self._cache[digest]
        value = store.get_object(ref_to_stored(ref), name=name, allow_unsafe=OWN_OUTPUTS)
        if keep and int(ref["size"]) <= _SMALL:
            self._cache[digest] = value
            if len(self._cache) > self._max:
                self._cache.popitem(last=False)
        return value

    def resolve(self, store: ArtifactStore, entry: dict[str, Any], name: str) -> Any:
        """One input entry of a task spec: ``const``, ``art`` (+ ``select`` path) or ``gather``."""
        if "const" in entry:
            return entry["const"]
        if "art" in entry:
            select = entry.get("select", [])
            value = self.load(store, entry["art"], name, keep=bool(select))
            for index in select:
                value = select_item(value, index, name)
            return value
        if "gather" in entry:
            return self._gather(store, entry["gather"], name)
        raise FlowError(f"input {name!r} has an unknown spec {entry!r}")

    def _gather(self, store: ArtifactStore, tree: Any, name: str) -> Any:
        if isinstance(tree, list):
            return [self._gather(store, t, name) for t in tree]
        return self.load(store, tree, name)


def select_item(value: Any, index: int, name: str) -> Any:
    try:
        return value[index]
    except (TypeError, IndexError, KeyError):
        raise FlowError(f"input {name!r}: cannot take item {index} of a {type(value).__name__}") from None
