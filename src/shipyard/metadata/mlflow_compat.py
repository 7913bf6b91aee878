"""What MLflow's REST API needs beyond shipyard's own run store: experiments, soft-deleted runs and
run inputs (datasets). Runs, params, metrics, tags and artifacts stay in the :class:`MetadataStore`
(one source of truth); this store only keeps what MLflow names that shipyard does not.

An **experiment** is a view of one shipyard **namespace**, 1:1: the experiment ``fraud`` holds the
runs of namespace ``fraud``, ``project:fraud`` those of ``project:fraud`` (decided at that project's
scope), ``user:alice`` alice's own. Its name is the namespace when created (so the name must be a
valid namespace: a flat name, no ``/``); renaming it keeps the namespace. Experiment ``0``
("Default", what MLflow clients use when nothing is set) is the namespace ``default``. A namespace
that holds runs but no experiment yet (runs written by the shipyard SDK) gets one on first sight
(:meth:`MlflowCompatStore.experiment_for_namespace`, :meth:`MlflowCompatStore.adopt_namespaces`).

Writing a new backend
---------------------
Subclass :class:`MlflowCompatStore` and teach :func:`open_mlflow_store` to build it; the MLflow
tests (``tests/server/test_mlflow_*``) run the real MLflow client over it.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from shipyard.metadata.base import MetadataStore, RunPage

DEFAULT_EXPERIMENT_ID = "0"
DEFAULT_NAMESPACE = "default"
DEFAULT_EXPERIMENT_NAME = "Default"
ViewType = Literal["active", "deleted", "all"]
MAX_INPUTS = 1000  # dataset inputs read back per run


@dataclass(frozen=True)
class Experiment:
    id: str
    name: str
    namespace: str
    lifecycle_stage: str  # "active" | "deleted"
    created_ms: int
    updated_ms: int
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class DatasetInput:
    """One dataset a run consumed, as MLflow's ``log_inputs`` sends it (its fields bounded)."""

    name: str
    digest: str
    source_type: str
    source: str
    schema: str = ""
    profile: str = ""
    tags: dict[str, str] = field(default_factory=dict)  # the input's tags (mlflow.data.context)


@dataclass(frozen=True)
class LoggedModel:
    """MLflow 3's logged model: a model's files logged by a run (stored as that run's artifacts
    under ``mlflow-models/<model_id>/``), before any registration."""

    model_id: str
    experiment_id: str
    name: str
    run_id: str | None
    status: str  # LOGGED_MODEL_PENDING | LOGGED_MODEL_READY | LOGGED_MODEL_UPLOAD_FAILED
    created_ms: int
    updated_ms: int
    creator: str
    model_type: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)


class MlflowCompatStore(abc.ABC):
    """Experiments over namespaces, run lifecycle and run inputs; shares the metadata database."""

    # ---- experiments -------------------------------------------------------------------------
    @abc.abstractmethod
    def create_experiment(self, name: str, *, tags: dict[str, str], now_ms: int) -> Experiment:
        """A new experiment for namespace ``name``; AlreadyExistsError when the name or the
        namespace already has one."""

    @abc.abstractmethod
    def get_experiment(self, experiment_id: str) -> Experiment:
        """NotFoundError for an unknown id."""

    @abc.abstractmethod
    def get_experiment_by_name(self, name: str) -> Experiment | None: ...

    @abc.abstractmethod
    def experiment_for_namespace(self, namespace: str, now_ms: int) -> Experiment:
        """The namespace's experiment, created (named after the namespace) when it has none."""

    @abc.abstractmethod
    def adopt_namespaces(self, now_ms: int, limit: int = 1000) -> None:
        """Create experiments for (at most ``limit``) namespaces that hold runs and have none."""

    @abc.abstractmethod
    def list_experiments(
        self, view: ViewType, *, name_like: str | None, limit: int, offset: int
    ) -> list[Experiment]:
        """Experiments by id (name matching the SQL LIKE pattern when given); one page."""

    @abc.abstractmethod
    def rename_experiment(self, experiment_id: str, name: str, now_ms: int) -> None: ...

    @abc.abstractmethod
    def set_experiment_stage(self, experiment_id: str, stage: str, now_ms: int) -> None: ...

    @abc.abstractmethod
    def set_experiment_tag(self, experiment_id: str, key: str, value: str | None, now_ms: int) -> None:
        """Set a tag (``value`` None deletes it; NotFoundError when it is not set)."""

    # ---- runs ----------------------------------------------------------------------------------
    @abc.abstractmethod
    def set_run_deleted(self, run_id: str, deleted: bool, now_ms: int) -> None: ...

    @abc.abstractmethod
    def deleted_runs(self, run_ids: Sequence[str]) -> set[str]:
        """Which of ``run_ids`` are soft-deleted."""

    @abc.abstractmethod
    def search_runs(  # noqa: PLR0917
        self,
        namespaces: Sequence[str],
        filter: str | None,
        order_by: Sequence[str],
        max_results: int,
        offset: int,
        view: ViewType,
        *,
        hidden_projects: Sequence[str] = (),
    ) -> RunPage:
        """``MetadataStore.search_runs`` (same filter language) restricted to the view's runs."""

    @abc.abstractmethod
    def log_inputs(self, run_id: str, inputs: Sequence[DatasetInput]) -> None:
        """Record dataset inputs (idempotent per run, name, digest and context)."""

    @abc.abstractmethod
    def run_inputs(self, run_ids: Sequence[str]) -> dict[str, list[DatasetInput]]: ...

    # ---- logged models ---------------------------------------------------------------------------
    @abc.abstractmethod
    def put_logged_model(self, model: LoggedModel) -> LoggedModel:
        """Insert or replace (by ``model_id``) a logged model."""

    @abc.abstractmethod
    def get_logged_model(self, model_id: str) -> LoggedModel:
        """NotFoundError for an unknown id."""

    @abc.abstractmethod
    def search_logged_models(
        self, experiment_ids: Sequence[str], *, name: str | None, limit: int, offset: int
    ) -> list[LoggedModel]:
        """Logged models of the experiments (named ``name`` when given), newest first; one page."""


def input_document(item: DatasetInput) -> dict[str, Any]:
    return {
        "name": item.name,
        "digest": item.digest,
        "source_type": item.source_type,
        "source": item.source,
        "schema": item.schema,
        "profile": item.profile,
        "tags": dict(item.tags),
    }


def open_mlflow_store(metadata: MetadataStore) -> MlflowCompatStore:
    """The MLflow store beside ``metadata`` (SQL only: the server's own database)."""
    from shipyard.core.errors import ConfigurationError
    from shipyard.metadata.sql.store import SqlMetadataStore

    metadata = metadata.backing_store()
    if not isinstance(metadata, SqlMetadataStore):
        raise ConfigurationError("the MLflow API needs a sqlite:/// or postgresql:// metadata store")
    from shipyard.metadata.sql.mlflow_store import SqlMlflowStore

    return SqlMlflowStore(metadata)
