"""Event triggers of a flow: ``@flow(trigger=on_dataset("transactions"))``.

A trigger is a small frozen value (no I/O): what to watch, never how. The local runtime polls for
the events (:mod:`shipyard.runtime.schedule_events`); exporters translate
:func:`~shipyard.flows.schedule.schedule_spec` into Argo Events sensors or Airflow datasets.

- :func:`on_dataset` — a new version of a dataset is logged;
- :func:`on_model_version` — a new version of a registered model is registered;
- :func:`on_model` — an alias of a model is set or moved (``alias=None``: any alias).

``a | b`` is "either": the flow runs for an event of any of them (``trigger=[a, b]`` says the same).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from shipyard.core.errors import FlowError, InvalidInputError
from shipyard.core.names import validate_alias_name, validate_name


class _Combinable:
    def __or__(self, other: object) -> AnyOf:
        return AnyOf((*_flatten(self), *_flatten(other)))


@dataclass(frozen=True)
class DatasetTrigger(_Combinable):
    """A new version of ``dataset``."""

    dataset: str

    @property
    def source(self) -> str:
        """The key the scheduler keeps its cursor under (one per watched thing)."""
        return f"dataset:{self.dataset}"

    def describe(self) -> dict[str, Any]:
        return {"kind": "dataset", "dataset": self.dataset}


@dataclass(frozen=True)
class ModelVersionTrigger(_Combinable):
    """A new version of the registered model ``model``."""

    model: str

    @property
    def source(self) -> str:
        return f"model-version:{self.model}"

    def describe(self) -> dict[str, Any]:
        return {"kind": "model_version", "model": self.model}


@dataclass(frozen=True)
class ModelAliasTrigger(_Combinable):
    """``alias`` of ``model`` is set or moved to a version (``alias=None``: any of its aliases);
    deleting or (un)protecting an alias is not an event."""

    model: str
    alias: str | None = None

    @property
    def source(self) -> str:
        return f"model-alias:{self.model}@{self.alias or '*'}"

    def describe(self) -> dict[str, Any]:
        return {"kind": "model_alias", "model": self.model, "alias": self.alias}


Trigger = DatasetTrigger | ModelVersionTrigger | ModelAliasTrigger
_TRIGGER_TYPES = (DatasetTrigger, ModelVersionTrigger, ModelAliasTrigger)


@dataclass(frozen=True)
class AnyOf(_Combinable):
    """Triggers combined with ``|``: an event of any of them runs the flow."""

    triggers: tuple[Trigger, ...]


def _flatten(value: object) -> tuple[Trigger, ...]:
    if isinstance(value, AnyOf):
        return value.triggers
    if isinstance(value, _TRIGGER_TYPES):
        return (value,)
    raise FlowError(
        f"{value!r} is not a trigger; combine on_dataset(...), on_model(...) and on_model_version(...)"
    )


def _name(what: str, call: str, value: object) -> str:
    try:
        return validate_name(what, value)
    except InvalidInputError as exc:
        raise FlowError(f"{call}: {exc}") from None


def on_dataset(name: str) -> DatasetTrigger:
    """Run the flow when a new version of dataset ``name`` is logged."""
    return DatasetTrigger(_name("dataset", "on_dataset", name))


def on_model_version(name: str) -> ModelVersionTrigger:
    """Run the flow when a new version of model ``name`` is registered."""
    return ModelVersionTrigger(_name("model", "on_model_version", name))


def on_model(name: str, *, alias: str | None = None) -> ModelAliasTrigger:
    """Run the flow when ``alias`` of model ``name`` is set or moved (``alias=None``: any alias)."""
    model = _name("model", "on_model", name)
    if alias is not None:
        try:
            alias = validate_alias_name(alias)
        except InvalidInputError as exc:
            raise FlowError(f"on_model({model!r}): {exc}") from None
    return ModelAliasTrigger(model, alias)


def trigger_from_dict(flow_name: str, entry: object) -> Trigger:
    """A trigger written as data, for a spec file's ``flows:`` entries (the hook its reader calls):
    ``{"dataset": NAME}``, ``{"model_version": NAME}`` or ``{"model": NAME, "alias": ALIAS}``
    (no ``alias``: any alias), the inverse of ``describe()`` without its ``kind``."""
    shapes = ({"dataset"}, {"model_version"}, {"model"}, {"model", "alias"})
    if not isinstance(entry, dict) or set(entry) not in shapes:
        raise FlowError(
            f"flow {flow_name!r}: trigger {entry!r} is not one of {{dataset: NAME}}, "
            "{model_version: NAME}, {model: NAME, alias: ALIAS}"
        )
    if "dataset" in entry:
        return on_dataset(entry["dataset"])
    if "model_version" in entry:
        return on_model_version(entry["model_version"])
    return on_model(entry["model"], alias=entry.get("alias"))


def parse_triggers(flow_name: str, value: object) -> tuple[Trigger, ...]:
    """The triggers of ``@flow(trigger=...)``: one, an ``a | b`` combination or a list; no duplicates."""
    if value is None:
        return ()
    items: Iterable[object] = value if isinstance(value, list | tuple) else (value,)
    found: list[Trigger] = []
    for item in items:
        try:
            found.extend(_flatten(item))
        except FlowError as exc:
            raise FlowError(f"flow {flow_name!r}: trigger {exc}") from None
    sources = [t.source for t in found]
    if len(set(sources)) != len(sources):
        raise FlowError(f"flow {flow_name!r}: a trigger is given twice ({', '.join(sources)})")
    return tuple(found)


__all__ = [
    "AnyOf",
    "DatasetTrigger",
    "ModelAliasTrigger",
    "ModelVersionTrigger",
    "Trigger",
    "on_dataset",
    "on_model",
    "on_model_version",
    "parse_triggers",
    "trigger_from_dict",
]
