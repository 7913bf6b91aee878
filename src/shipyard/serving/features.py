"""Predictions by entity key: a deployment that names feature views (``shipyard serve MODEL
--features VIEW[:FEATURE] ...``) also takes ``{"entities": [{"customer_id": 42}, ...]}`` on
``POST /predict``; the service reads each entity's features from the online store and predicts on
them as if they had been sent as records.

At start-up (:func:`open_entity_lookup`) the views' specs are read from the feature registry (no
project code is imported), every model input column must be a feature of exactly one named view,
with a type the column takes (``int64`` features feed float columns too), and the online store is
opened: anything else is a one-line error naming the view, feature or column.

Per request: each entity must give the join keys of the views used (integers or strings of at
most :data:`MAX_KEY_CHARS` characters; ``42.0`` is ``42``; an integer beyond 64 bits is an
unknown entity), at most ``max_entities`` entities. The
fetched values go through the same type checks as records, and are what the prediction log
stores as the request's inputs. An entity that a view has no online values for answers 404 naming
it (the body was valid; the entity is unknown); a stored value the model cannot take (null, e.g.
a NaN in the source, or out of the column's range) answers 422 naming the entity and feature:
signatures state no nullable columns, so the service never invents a value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

from shipyard.core.errors import InvalidInputError

if TYPE_CHECKING:
    from pydantic import BaseModel, TypeAdapter

    from shipyard.features.lookup import FeatureLookup
    from shipyard.features.online.base import OnlineStore
    from shipyard.registry.signature import Signature
    from shipyard.serving.config import ServingConfig
    from shipyard.tracking.stores import Stores

MAX_KEY_CHARS = 256
_INT64 = (-(2**63), 2**63 - 1)
_NUMBERS = {"int64", "int32", "float64", "float32"}
#: feature type -> the signature column types it can feed
COMPATIBLE: dict[str, set[str]] = {
    "int64": _NUMBERS,
    "int32": _NUMBERS,
    "float64": {"float64", "float32"},
    "float32": {"float64", "float32"},
    "bool": {"bool"},
    "string": {"string"},
    "timestamp": {"datetime"},
}


@dataclass
class EntityModels:
    """The entities body of one deployment and the lookup behind it."""

    lookup: FeatureLookup
    row: type[BaseModel]
    body_model: type[BaseModel]
    body: TypeAdapter[Any]
    owned: bool  # the online store was opened here (closed with the app)

    def close(self) -> None:
        if self.owned:
            self.lookup.online.close()


def check_types(lookup: FeatureLookup, signature: Signature) -> None:
    for column in signature.inputs:
        kind = lookup.feature_type(column.name)
        if column.shape or column.type not in COMPATIBLE.get(kind, set()):
            view = lookup.columns[column.name]
            wanted = f"{column.type}{list(column.shape) if column.shape else ''}"
            raise InvalidInputError(
                f"feature {view}:{column.name} is {kind}, but the model's input column {column.name!r} "
                f"takes {wanted}: serve a model trained on this feature, or fix the view"
            )


def open_entity_lookup(
    config: ServingConfig,
    stores: Stores | None,
    signature: Signature,
    online: OnlineStore | None,
    title: str = "Model",
) -> EntityModels:
    """Resolve ``config.features`` against the registry of ``stores`` and open the online store
    (``online`` when given: the caller owns it)."""
    from shipyard.features.lookup import open_lookup
    from shipyard.features.online.registry import open_online_store
    from shipyard.metadata.features import open_feature_records

    if stores is None:
        raise InvalidInputError("a deployment with --features needs stores to read the feature registry")
    records = open_feature_records(stores.metadata)
    owned = online is None
    if online is None:
        uri = config.online_store or stores.settings.online_store_uri
        online = open_online_store(uri)
    try:
        lookup = open_lookup(records, config.features, signature.column_names, online)
        check_types(lookup, signature)
    except BaseException:
        if owned:
            online.close()
        raise
    row, body_model, body = build_entity_models(lookup.join_keys, config.max_entities, title)
    return EntityModels(lookup, row, body_model, body, owned)


def build_entity_models(
    join_keys: list[str], max_entities: int, title: str = "Model"
) -> tuple[type[BaseModel], type[BaseModel], TypeAdapter[Any]]:
    from pydantic import BeforeValidator, ConfigDict, Field, StrictInt, StrictStr, TypeAdapter, create_model

    strict = ConfigDict(extra="forbid", populate_by_name=False)
    key = (
        Annotated[StrictInt, BeforeValidator(_integral)]
        | Annotated[StrictStr, Field(max_length=MAX_KEY_CHARS)]
    )
    fields: dict[str, Any] = {f"k{i}": (key, Field(alias=name)) for i, name in enumerate(join_keys)}
    safe = "".join(ch for ch in title if ch.isalnum()) or "Model"
    row = create_model(f"{safe}Entity", __config__=strict, **fields)
    entities = Annotated[list[row], Field(min_length=1, max_length=max_entities)]
    body_model = create_model(f"{safe}EntitiesBody", __config__=strict, entities=(entities, ...))
    return row, body_model, TypeAdapter(body_model)


def _integral(value: object) -> object:
    """A JSON number with no fraction is an integer (``42.0`` is the key ``42``, as JSON Schema
    says); ``true`` stays a boolean and is refused."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _too_big(value: object) -> bool:
    return isinstance(value, int) and not _INT64[0] <= value <= _INT64[1]


def is_entities_body(data: object) -> bool:
    return isinstance(data, dict) and len(data) == 1 and "entities" in data


def parse_entities(models: EntityModels | None, data: dict[str, Any]) -> list[dict[str, Any]]:
    """The validated entities of an ``{"entities": [...]}`` body."""
    from pydantic import ValidationError

    from shipyard.serving.schema import error_message

    if models is None:
        raise InvalidInputError(
            "this deployment names no feature views, so it takes records, not entities "
            "(serve it with --features VIEW to predict by entity key)"
        )
    try:
        body = models.body.validate_python(data)
    except ValidationError as exc:
        raise InvalidInputError(
            "entities: " + error_message(exc, models.lookup.join_keys, noun="join key")
        ) from None
    return [row.model_dump(by_alias=True) for row in body.entities]


def entity_records(models: EntityModels, entities: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The model's input rows from the online store (blocking: run it off the event loop).
    Raises :class:`shipyard.features.lookup.MissingEntity` or InvalidInputError (a null value)."""
    from shipyard.features.lookup import MissingEntity

    lookup = models.lookup
    for index, entity in enumerate(entities):  # no stored key is this big: unknown, as any other
        for view in lookup.used:
            if any(_too_big(entity[key]) for key in view.join_keys):
                raise MissingEntity(index, entity, view.name)
    rows = lookup.fetch(entities)
    for index, row in enumerate(rows):
        for column, value in row.items():
            if value is None:
                shown = ", ".join(f"{k}={v!r}" for k, v in entities[index].items())
                raise InvalidInputError(
                    f"entity {index} ({shown}): feature {lookup.columns[column]}:{column} has no value "
                    "online (null) and the model takes none"
                )
    return rows
