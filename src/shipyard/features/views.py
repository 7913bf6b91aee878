"""Feature views declared in Python: an entity (join keys), a source, an event-timestamp column,
an optional created-timestamp column (breaks ties), a TTL, typed feature columns and an optional
transformation (a pandas function or a DuckDB SQL ``SELECT`` over the relation ``source``).

    customer = Entity("customer", join_keys=["customer_id"])

    @feature_view(entity=customer, source=FileSource("data/tx/*.parquet"), timestamp="ts",
                  ttl="30d", features={"amount_7d": "float64", "n_tx_7d": "int64"})
    def customer_stats(frame: pd.DataFrame) -> pd.DataFrame:
        ...  # the transformation; leave it out (FeatureView(...)) when the source has the columns

A view's :meth:`FeatureView.spec` is the JSON-able description the registry versions; a Python
transformation is identified there by its source code's hash, so editing it is a change.
"""

from __future__ import annotations

import hashlib
import inspect
import re
import textwrap
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, TypeAlias

import pyarrow as pa

from shipyard.core.errors import InvalidInputError
from shipyard.features.duration import format_duration, parse_duration

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
#: the feature types a view may declare, and their Arrow types
TYPES: dict[str, pa.DataType] = {
    "int64": pa.int64(),
    "int32": pa.int32(),
    "float64": pa.float64(),
    "float32": pa.float32(),
    "bool": pa.bool_(),
    "string": pa.string(),
    "timestamp": pa.timestamp("us"),
}
Transform: TypeAlias = Callable[[Any], Any]


def check_identifier(value: object, what: str) -> str:
    if not isinstance(value, str) or not _IDENT.match(value):
        raise InvalidInputError(
            f"{what} {value!r} is not a valid name: use letters, digits and '_' (not first), at most 128"
        )
    return value


@dataclass(frozen=True)
class Entity:
    """What features describe (a customer, a card), and the columns that identify one."""

    name: str
    join_keys: tuple[str, ...]

    def __init__(self, name: str, join_keys: Sequence[str] | str) -> None:
        keys = (join_keys,) if isinstance(join_keys, str) else tuple(join_keys)
        object.__setattr__(self, "name", check_identifier(name, "entity name"))
        if not keys:
            raise InvalidInputError(f"entity {name!r} has no join keys: name at least one column")
        object.__setattr__(self, "join_keys", tuple(check_identifier(k, "join key") for k in keys))


@dataclass(frozen=True)
class FileSource:
    """Parquet or CSV files: one path or a glob, relative to the project root."""

    path: str
    format: str | None = None  # "parquet" | "csv"; from the suffix when None

    def spec(self) -> dict[str, Any]:
        return {"kind": "file", "path": self.path, "format": self.file_format()}

    def file_format(self) -> str:
        if self.format is not None:
            if self.format not in ("parquet", "csv"):
                raise InvalidInputError(f"source format {self.format!r} is not known: use 'parquet' or 'csv'")
            return self.format
        return "csv" if self.path.lower().endswith((".csv", ".csv.gz")) else "parquet"


@dataclass(frozen=True)
class DatasetSource:
    """A version of a shipyard dataset: ``datasets:/transactions@training`` or ``.../3``."""

    uri: str

    def spec(self) -> dict[str, Any]:
        return {"kind": "dataset", "uri": self.uri}


@dataclass(frozen=True)
class SqlSource:
    """A query on Postgres; ``uri`` is a ``postgresql://`` URL (credentials from the environment
    or a secret, never written in the view)."""

    query: str
    uri: str

    def spec(self) -> dict[str, Any]:
        return {"kind": "sql", "query": self.query, "uri": _without_password(self.uri)}


Source: TypeAlias = FileSource | DatasetSource | SqlSource


def _without_password(uri: str) -> str:
    return re.sub(r"//([^:/@]+):[^@/]*@", r"//\1:***@", uri)


@dataclass(frozen=True)
class FeatureView:
    name: str
    entity: Entity
    source: Source
    timestamp: str
    features: Mapping[str, str]
    ttl: timedelta | None = None
    created_timestamp: str | None = None
    transform: Transform | None = field(default=None, compare=False)
    sql: str | None = None
    description: str = ""

    def __post_init__(self) -> None:
        check_identifier(self.name, "feature view name")
        if not isinstance(self.entity, Entity):
            raise InvalidInputError(f"feature view {self.name!r}: entity must be an Entity(...)")
        if not isinstance(self.source, FileSource | DatasetSource | SqlSource):
            raise InvalidInputError(
                f"feature view {self.name!r}: source must be FileSource, DatasetSource or SqlSource"
            )
        check_identifier(self.timestamp, f"feature view {self.name!r} timestamp column")
        if self.created_timestamp is not None:
            check_identifier(self.created_timestamp, f"feature view {self.name!r} created-timestamp column")
        if not self.features:
            raise InvalidInputError(f"feature view {self.name!r} declares no features: name at least one")
        reserved = {*self.entity.join_keys, self.timestamp, self.created_timestamp}
        for feature, kind in self.features.items():
            check_identifier(feature, f"feature view {self.name!r} feature")
            if feature in reserved:
                raise InvalidInputError(
                    f"feature view {self.name!r}: {feature!r} is a join key or timestamp, not a feature"
                )
            if kind not in TYPES:
                raise InvalidInputError(
                    f"feature {self.name}:{feature} has type {kind!r}: use one of {', '.join(TYPES)}"
                )
        object.__setattr__(self, "features", dict(self.features))
        if self.ttl is not None:
            object.__setattr__(self, "ttl", parse_duration(self.ttl, what=f"feature view {self.name!r} ttl"))
        if self.transform is not None and self.sql is not None:
            raise InvalidInputError(f"feature view {self.name!r}: give a Python transform or sql, not both")

    @property
    def join_keys(self) -> tuple[str, ...]:
        return self.entity.join_keys

    def spec(self) -> dict[str, Any]:
        """The JSON-able description the registry versions (a change here is a new version)."""
        transform = None
        if self.transform is not None:
            transform = {
                "name": getattr(self.transform, "__qualname__", repr(self.transform)),
                "code_sha256": _code_hash(self.transform),
            }
        return {
            "name": self.name,
            "entity": {"name": self.entity.name, "join_keys": list(self.entity.join_keys)},
            "source": self.source.spec(),
            "timestamp": self.timestamp,
            "created_timestamp": self.created_timestamp,
            "ttl": None if self.ttl is None else format_duration(self.ttl),
            "features": dict(self.features),
            "sql": self.sql,
            "transform": transform,
            "description": self.description,
        }


def _code_hash(function: Transform) -> str:
    try:
        text = textwrap.dedent(inspect.getsource(function))
        start = re.search(r"^(async\s+)?def\s", text, re.MULTILINE)  # the decorator is the spec's
        text = text[start.start() :] if start else text
    except (OSError, TypeError):
        text = getattr(getattr(function, "__code__", None), "co_code", b"").hex()
    return hashlib.sha256(text.encode()).hexdigest()


def feature_view(
    *,
    entity: Entity,
    source: Source,
    timestamp: str,
    features: Mapping[str, str],
    ttl: str | timedelta | None = None,
    created_timestamp: str | None = None,
    name: str | None = None,
    description: str | None = None,
) -> Callable[[Transform], FeatureView]:
    """Declare a view whose transformation is the decorated pandas function (frame -> frame)."""

    def wrap(function: Transform) -> FeatureView:
        return FeatureView(
            name=name or function.__name__,
            entity=entity,
            source=source,
            timestamp=timestamp,
            features=features,
            ttl=None if ttl is None else parse_duration(ttl),
            created_timestamp=created_timestamp,
            transform=function,
            description=description if description is not None else (inspect.getdoc(function) or ""),
        )

    return wrap


def parse_reference(reference: object, views: Mapping[str, FeatureView]) -> tuple[FeatureView, str]:
    """``"view:feature"`` -> (view, feature), or an error naming the known views/features."""
    if not isinstance(reference, str) or reference.count(":") != 1:
        raise InvalidInputError(
            f"feature reference {reference!r} is not 'view:feature' (e.g. 'customer:amount')"
        )
    view_name, feature = reference.split(":")
    view = views.get(view_name)
    if view is None:
        known = ", ".join(sorted(views)) or "none applied"
        raise InvalidInputError(f"feature view {view_name!r} does not exist (known: {known})")
    if feature not in view.features:
        raise InvalidInputError(
            f"feature {feature!r} is not in view {view_name!r} (it has: {', '.join(view.features)})"
        )
    return view, feature


def group_references(
    references: Sequence[str], views: Mapping[str, FeatureView]
) -> dict[str, tuple[FeatureView, list[str]]]:
    """The references per view, in first-seen order, duplicates refused."""
    if isinstance(references, str):
        raise InvalidInputError("features must be a list of 'view:feature' strings, not one string")
    grouped: dict[str, tuple[FeatureView, list[str]]] = {}
    seen: set[str] = set()
    for reference in references:
        view, feature = parse_reference(reference, views)
        if reference in seen:
            raise InvalidInputError(f"feature {reference!r} is requested twice")
        seen.add(reference)
        grouped.setdefault(view.name, (view, []))[1].append(feature)
    if not grouped:
        raise InvalidInputError("no features requested: name at least one 'view:feature'")
    return grouped
