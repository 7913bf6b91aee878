"""Online lookups for a service that imports no project code: the views come from the feature
registry (their applied specs), the values from the online store.

``shipyard serve MODEL --features customer --features merchant:risk`` names views (all their
features) or single features; :func:`open_lookup` resolves, once at start-up, which view gives
each model input column (a column is a feature's name), and :meth:`FeatureLookup.fetch` turns one
request's entities (``{"customer_id": 42, "merchant_id": "m7"}``) into the model's input rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shipyard.core.errors import InvalidInputError, NotFoundError
from shipyard.features.online.base import OnlineStore, encode_key

if TYPE_CHECKING:
    from shipyard.metadata.features import FeatureRecords, ViewRecord


@dataclass(frozen=True)
class AppliedView:
    """What a lookup needs of an applied view (its registry version, keys and feature types)."""

    name: str
    version: int
    join_keys: tuple[str, ...]
    features: dict[str, str]

    @classmethod
    def from_record(cls, record: ViewRecord) -> AppliedView:
        spec = record.spec
        return cls(
            record.name,
            record.version,
            tuple(spec["entity"]["join_keys"]),
            {str(k): str(v) for k, v in spec["features"].items()},
        )


class MissingEntity(Exception):
    """An entity of a request has no online values in a view."""

    def __init__(self, index: int, entity: Mapping[str, Any], view: str) -> None:
        shown = ", ".join(f"{key}={value!r}" for key, value in entity.items())
        super().__init__(
            f"entity {index} ({shown}) has no online values in feature view {view!r}: "
            "check the key, or materialize the view"
        )
        self.message = str(self)


def parse_selection(texts: Sequence[str]) -> dict[str, set[str] | None]:
    """``["customer", "merchant:risk"]`` -> ``{"customer": None, "merchant": {"risk"}}`` (None: all)."""
    chosen: dict[str, set[str] | None] = {}
    for text in texts:
        view, sep, feature = text.strip().partition(":")
        if not view or (sep and not feature) or ":" in feature:
            raise InvalidInputError(f"--features {text!r}: use VIEW or VIEW:FEATURE, e.g. customer:amount_7d")
        if not sep:
            chosen[view] = None
        elif view not in chosen or chosen[view] is not None:
            chosen.setdefault(view, set()).add(feature)  # type: ignore[union-attr]
    return chosen


class FeatureLookup:
    """Which view gives each model input column; :meth:`fetch` reads one request's entities."""

    def __init__(self, views: Sequence[AppliedView], columns: Mapping[str, str], online: OnlineStore) -> None:
        self.views = {view.name: view for view in views}
        self.columns = dict(columns)  # input column -> the view giving it
        self.online = online
        used = [self.views[name] for name in dict.fromkeys(self.columns.values())]
        self.used = used
        self.join_keys = list(dict.fromkeys(key for view in used for key in view.join_keys))

    def feature_type(self, column: str) -> str:
        """The declared type of the feature that gives input ``column``."""
        return self.views[self.columns[column]].features[column]

    def key_views(self) -> dict[str, list[str]]:
        """Each join key, with the views keyed by it."""
        return {key: [view.name for view in self.used if key in view.join_keys] for key in self.join_keys}

    def lineage(self) -> dict[str, int]:
        """The views read, by name, with their registry versions."""
        return {view.name: view.version for view in self.used}

    def fetch(self, entities: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """One row per entity: each input column's online value (``None`` where the stored value
        is null). Raises :class:`MissingEntity` for an entity a view has no values for."""
        rows: list[dict[str, Any]] = [{} for _ in entities]
        for view in self.used:
            keys = [encode_key([entity[key] for key in view.join_keys]) for entity in entities]
            found = self.online.read(view.name, keys)
            wanted = [column for column, name in self.columns.items() if name == view.name]
            for index, hit in enumerate(found):
                if hit is None:
                    raise MissingEntity(index, entities[index], view.name)
                values = hit[1]
                for column in wanted:
                    rows[index][column] = values.get(column)
        return [{column: row[column] for column in self.columns} for row in rows]


def open_lookup(
    records: FeatureRecords, selection: Sequence[str], columns: Sequence[str], online: OnlineStore
) -> FeatureLookup:
    """Resolve ``selection`` (``VIEW`` or ``VIEW:FEATURE``) against the registry so that every one
    of ``columns`` (the model's inputs) is given by exactly one view; one-line errors otherwise."""
    chosen = parse_selection(selection)
    if not chosen:
        raise InvalidInputError("name at least one feature view: --features VIEW or VIEW:FEATURE")
    views: list[AppliedView] = []
    offered: dict[str, list[str]] = {}
    for name, features in chosen.items():
        try:
            view = AppliedView.from_record(records.get_view(name))
        except NotFoundError:
            known = ", ".join(record.name for record in records.list_views(limit=20)) or "none applied"
            raise InvalidInputError(
                f"feature view {name!r} is not in the feature registry (known: {known}); "
                "apply it with `shipyard features apply`"
            ) from None
        unknown = sorted((features or set()) - set(view.features))
        if unknown:
            raise InvalidInputError(
                f"feature {name}:{unknown[0]} does not exist (view {name!r} has: {', '.join(view.features)})"
            )
        views.append(view)
        for feature in sorted(features) if features is not None else view.features:
            offered.setdefault(feature, []).append(name)
    mapping: dict[str, str] = {}
    for column in columns:
        givers = offered.get(column, [])
        if not givers:
            raise InvalidInputError(
                f"model input column {column!r} is given by none of the feature views "
                f"{', '.join(chosen)}: add the view that has it with --features VIEW:{column}"
            )
        if len(givers) > 1:
            raise InvalidInputError(
                f"model input column {column!r} is a feature of views {' and '.join(givers)}: "
                f"name one, e.g. --features {givers[0]}:{column}"
            )
        mapping[column] = givers[0]
    return FeatureLookup(views, mapping, online)
