"""The SDK functions (re-exported as ``shipyard.log_model``, ``shipyard.load_model``,
``shipyard.register_model``).

Inside ``with shipyard.start_run():`` or a flow step, ``log_model`` writes the package to the
active run (and task); ``register=True`` (or ``register="name"``) also registers it::

    info = shipyard.log_model(pipe, "fraud", input_example=X.head(), register=True)
    info.version.uri            # 'models:/fraud/1'
    model = shipyard.load_model("models:/fraud@champion")
    model.predict(frame)        # checked against the signature first
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shipyard.core.errors import InvalidInputError

if TYPE_CHECKING:  # imported where used: load_model in a fresh process needs none of them
    from shipyard.core.entities import ArtifactRecord
    from shipyard.metadata.model_registry import ModelVersion
    from shipyard.registry.predictor import LoadedModel
    from shipyard.registry.service import ModelRegistry
    from shipyard.registry.signature import Signature
    from shipyard.tracking.stores import Stores


@dataclass(frozen=True)
class ModelInfo:
    """What ``log_model`` wrote: the package artifact, its ``runs:/`` URI and, if registered, the version."""

    artifact: ArtifactRecord
    uri: str
    version: ModelVersion | None = None

    @property
    def digest(self) -> str:
        return self.artifact.digest


def get_registry(stores: Stores | None = None) -> ModelRegistry:
    """A :class:`ModelRegistry` over ``stores`` (default: the process's stores, from the environment)."""
    from shipyard.registry.service import ModelRegistry

    if stores is None:
        from shipyard.tracking.fluent import get_stores

        stores = get_stores()
    return ModelRegistry(stores)


def log_model(
    model: Any,
    name: str = "model",
    *,
    input_example: Any = None,
    signature: Signature | Mapping[str, Any] | None = None,
    flavor: str | None = None,
    init_kwargs: Mapping[str, Any] | None = None,
    register: bool | str = False,
    description: str = "",
    tags: Mapping[str, Any] | None = None,
) -> ModelInfo:
    """Write ``model`` as a package artifact ``name`` of the active run (and the current flow task).

    ``register=True`` registers it as the next version of model ``name``; ``register="other"``
    registers it under another model name. ``description`` and ``tags`` go to that version.
    """
    from shipyard.registry.service import ModelRegistry
    from shipyard.tracking.fluent import active_run

    run = active_run()
    if run is None:
        raise InvalidInputError(
            "log_model needs an active run: call it inside `with shipyard.start_run():` or a flow step"
        )
    registry = ModelRegistry(run.client.stores)
    record = registry.log_model(
        run.id,
        model,
        name,
        task_id=run.task_id,
        input_example=input_example,
        signature=signature,
        flavor=flavor,
        init_kwargs=init_kwargs,
    )
    version = None
    if register:
        model_name = name if register is True else str(register)
        version = registry.register_record(record, model_name, description=description, tags=tags)
    return ModelInfo(artifact=record, uri=f"runs:/{run.id}/{name}", version=version)


def register_model(
    source: str,
    name: str,
    *,
    description: str = "",
    tags: Mapping[str, Any] | None = None,
    stores: Stores | None = None,
    project: str | None = None,
) -> ModelVersion:
    """Register a logged package: ``source`` is ``runs:/RUN_ID/ARTIFACT`` (or ``RUN_ID/ARTIFACT``),
    or just ``ARTIFACT`` inside a run (that run's package, e.g. logged earlier in the same step).
    A model registered for the first time belongs to ``project`` (default: ``SHIPYARD_PROJECT``;
    neither: the server scope); an existing model keeps its project."""
    from shipyard.registry.uri import parse_model_uri

    if stores is None:
        from shipyard.registry.service import ModelRegistry
        from shipyard.tracking.fluent import active_run

        run = active_run()
        if run is not None and "/" not in source and ":" not in source:
            registry = ModelRegistry(run.client.stores)
            record = _find_in_run(registry, run.id, source, run.task_id)
            return registry.register_record(record, name, description=description, tags=tags, project=project)
    registry = get_registry(stores)
    ref = parse_model_uri(source if source.startswith("runs:/") else f"runs:/{source}")
    if ref.run_id is None or ref.artifact is None:
        raise InvalidInputError(f"register_model needs runs:/RUN_ID/ARTIFACT, got {source!r}")
    return registry.register(
        ref.run_id, ref.artifact, name, description=description, tags=tags, project=project
    )


def _find_in_run(registry: ModelRegistry, run_id: str, artifact: str, task_id: str | None) -> ArtifactRecord:
    if task_id is not None:
        for record in registry.stores.metadata.list_artifacts(run_id, task_id):
            if record.name == artifact:
                return record
    return registry.find_package(run_id, artifact)


def load_model(
    uri: str,
    *,
    allow_unsafe: bool = False,
    trusted: Sequence[str] = (),
    stores: Stores | None = None,
    native: bool | None = None,
) -> LoadedModel:
    """Load a verified model package: ``models:/NAME/VERSION``, ``models:/NAME@ALIAS``,
    ``models:/NAME/latest`` or ``runs:/RUN_ID/ARTIFACT``.

    Loading runs no code the platform did not choose. Pickle-based packages (the ``python``
    flavor) are refused unless ``allow_unsafe=True``. A scikit-learn package may name only the
    classes and functions on an explicit allow-list, a PyTorch package a few ``torch.nn`` layers;
    ``trusted`` adds exact names of your own (``"mypkg.features.Shift"``, ``"mypkg.nets:Net"``).
    Names that run code or reach files (``builtins.exec``, ``os.*``...) are refused even then.

    A scikit-learn model whose package holds a compiled plan predicts with numpy alone (no
    scikit-learn import); ``.native`` is the scikit-learn object, loaded on first use.
    ``native=True`` (or ``SHIPYARD_NATIVE_MODELS=1``) loads and predicts with it from the start.
    """
    if stores is None and not _process_stores_open():
        from shipyard.registry.local_load import load_local

        loaded = load_local(uri, allow_unsafe=allow_unsafe, trusted=trusted, native=native)  # embedded store
        if loaded is not None:
            return loaded
    return get_registry(stores).load(uri, allow_unsafe=allow_unsafe, trusted=trusted, native=native)


def _process_stores_open() -> bool:
    """Whether the fluent API holds stores (opened, or installed with ``set_stores``): loading
    then goes through them. Not imported yet: it holds none (and is not imported just to ask)."""
    fluent = sys.modules.get("shipyard.tracking.fluent")
    return fluent is not None and bool(fluent.stores_open())
