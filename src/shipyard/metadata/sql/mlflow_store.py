"""MLflow compatibility records in SQL (interface: :mod:`shipyard.metadata.mlflow_compat`)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, delete, exists, func, select, update

from shipyard.core.errors import AlreadyExistsError, InvalidInputError, NotFoundError
from shipyard.metadata.base import RunPage
from shipyard.metadata.mlflow_compat import (
    DEFAULT_EXPERIMENT_ID,
    DEFAULT_EXPERIMENT_NAME,
    DEFAULT_NAMESPACE,
    MAX_INPUTS,
    DatasetInput,
    Experiment,
    LoggedModel,
    MlflowCompatStore,
    ViewType,
    input_document,
)
from shipyard.metadata.sql import search
from shipyard.metadata.sql.dialect import insert_for
from shipyard.metadata.sql.mlflow_schema import (
    mlflow_deleted_runs,
    mlflow_experiment_tags,
    mlflow_experiments,
    mlflow_logged_models,
    mlflow_run_inputs,
)
from shipyard.metadata.sql.schema import runs
from shipyard.metadata.sql.store import BorrowedTransactions

_E, _T = mlflow_experiments.c, mlflow_experiment_tags.c
_MAX_TAGS = 1000  # tags read back per experiment


def _experiment_id(text: str) -> int:
    if not text.isdigit() or len(text) > 18:
        raise NotFoundError(f"experiment {text[:40]!r} not found: experiment ids are whole numbers")
    return int(text)


class SqlMlflowStore(BorrowedTransactions, MlflowCompatStore):
    def _ensure_default(self, conn: Connection, now_ms: int) -> None:
        if conn.execute(select(_E.id).where(_E.id == 0)).first() is not None:
            return
        stmt = insert_for(conn, mlflow_experiments).values(
            id=0,
            name=DEFAULT_EXPERIMENT_NAME,
            namespace=DEFAULT_NAMESPACE,
            lifecycle_stage="active",
            created_ms=now_ms,
            updated_ms=now_ms,
        )
        conn.execute(stmt.on_conflict_do_nothing())

    def _load(self, conn: Connection, rows: Sequence[Any]) -> list[Experiment]:
        ids = [row.id for row in rows]
        tags: dict[int, dict[str, str]] = {i: {} for i in ids}
        if ids:
            query = select(_T.experiment_id, _T.key, _T.value).where(_T.experiment_id.in_(ids))
            for tag in conn.execute(query.order_by(_T.key).limit(_MAX_TAGS * len(ids))):
                tags[tag.experiment_id][tag.key] = tag.value
        return [
            Experiment(
                id=str(row.id),
                name=row.name,
                namespace=row.namespace,
                lifecycle_stage=row.lifecycle_stage,
                created_ms=int(row.created_ms),
                updated_ms=int(row.updated_ms),
                tags=tags[row.id],
            )
            for row in rows
        ]

    # ---- experiments -------------------------------------------------------------------------
    def create_experiment(self, name: str, *, tags: dict[str, str], now_ms: int) -> Experiment:
        with self._write() as conn:
            self._ensure_default(conn, now_ms)
            taken = conn.execute(select(_E.name).where((_E.name == name) | (_E.namespace == name))).first()
            if taken is not None:
                raise AlreadyExistsError(f"experiment {name!r} already exists (or its namespace has one)")
            new_id = conn.execute(
                mlflow_experiments.insert()
                .values(
                    name=name, namespace=name, lifecycle_stage="active", created_ms=now_ms, updated_ms=now_ms
                )
                .returning(_E.id)
            ).scalar_one()
            if tags:
                conn.execute(
                    mlflow_experiment_tags.insert(),
                    [{"experiment_id": new_id, "key": k, "value": v} for k, v in tags.items()],
                )
            row = conn.execute(select(mlflow_experiments).where(_E.id == new_id)).one()
            return self._load(conn, [row])[0]

    def get_experiment(self, experiment_id: str) -> Experiment:
        key = _experiment_id(experiment_id)
        with self._write() if key == 0 else self._read() as conn:
            if key == 0:
                self._ensure_default(conn, _now_ms())
            row = conn.execute(select(mlflow_experiments).where(_E.id == key)).first()
            if row is None:
                raise NotFoundError(f"experiment {experiment_id!r} not found")
            return self._load(conn, [row])[0]

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        with self._read() as conn:
            row = conn.execute(select(mlflow_experiments).where(_E.name == name)).first()
            return None if row is None else self._load(conn, [row])[0]

    def experiment_for_namespace(self, namespace: str, now_ms: int) -> Experiment:
        with self._read() as conn:
            row = conn.execute(select(mlflow_experiments).where(_E.namespace == namespace)).first()
            if row is not None:
                return self._load(conn, [row])[0]
        with self._write() as conn:
            self._ensure_default(conn, now_ms)
            self._adopt(conn, [namespace], now_ms)
            row = conn.execute(select(mlflow_experiments).where(_E.namespace == namespace)).one()
            return self._load(conn, [row])[0]

    @staticmethod
    def _adopt(conn: Connection, namespaces: Sequence[str], now_ms: int) -> None:
        for namespace in namespaces:
            clash = conn.execute(
                select(_E.id).where((_E.name == namespace) | (_E.namespace == namespace))
            ).first()
            if clash is not None:
                continue
            stmt = insert_for(conn, mlflow_experiments).values(
                name=namespace,
                namespace=namespace,
                lifecycle_stage="active",
                created_ms=now_ms,
                updated_ms=now_ms,
            )
            conn.execute(stmt.on_conflict_do_nothing())

    def adopt_namespaces(self, now_ms: int, limit: int = 1000) -> None:
        orphan = (
            select(runs.c.namespace)
            .where(~exists(select(1).where(_E.namespace == runs.c.namespace)))
            .group_by(runs.c.namespace)
            .order_by(runs.c.namespace)
            .limit(limit)
        )
        with self._read() as conn:
            found = [row.namespace for row in conn.execute(orphan)]
            default_missing = conn.execute(select(_E.id).where(_E.id == 0)).first() is None
        if found or default_missing:
            with self._write() as conn:
                self._ensure_default(conn, now_ms)
                self._adopt(conn, found, now_ms)

    def list_experiments(
        self, view: ViewType, *, name_like: str | None, limit: int, offset: int
    ) -> list[Experiment]:
        query = select(mlflow_experiments)
        if view != "all":
            query = query.where(_E.lifecycle_stage == view)
        if name_like is not None:
            query = query.where(_E.name.like(name_like))
        with self._read() as conn:
            rows = conn.execute(query.order_by(_E.id).limit(limit).offset(offset)).all()
            return self._load(conn, rows)

    def _update(self, experiment_id: str, now_ms: int, **values: Any) -> None:
        key = _experiment_id(experiment_id)
        with self._write() as conn:
            done = conn.execute(
                update(mlflow_experiments).where(_E.id == key).values(updated_ms=now_ms, **values)
            )
            if done.rowcount == 0:
                raise NotFoundError(f"experiment {experiment_id!r} not found")

    def rename_experiment(self, experiment_id: str, name: str, now_ms: int) -> None:
        with self._read() as conn:
            clash = conn.execute(select(_E.id).where(_E.name == name)).first()
        if clash is not None and str(clash.id) != experiment_id:
            raise AlreadyExistsError(f"experiment {name!r} already exists")
        self._update(experiment_id, now_ms, name=name)

    def set_experiment_stage(self, experiment_id: str, stage: str, now_ms: int) -> None:
        if stage not in ("active", "deleted"):
            raise InvalidInputError(f"lifecycle stage {stage!r} is not 'active' or 'deleted'")
        if experiment_id == DEFAULT_EXPERIMENT_ID and stage == "deleted":
            raise InvalidInputError("the default experiment (id 0) cannot be deleted")
        self._update(experiment_id, now_ms, lifecycle_stage=stage)

    def set_experiment_tag(self, experiment_id: str, key: str, value: str | None, now_ms: int) -> None:
        self._update(experiment_id, now_ms)  # NotFoundError for an unknown experiment
        ident = _experiment_id(experiment_id)
        with self._write() as conn:
            if value is None:
                gone = conn.execute(
                    delete(mlflow_experiment_tags).where(_T.experiment_id == ident, _T.key == key)
                )
                if gone.rowcount == 0:
                    raise NotFoundError(f"experiment {experiment_id} has no tag {key!r}")
                return
            stmt = insert_for(conn, mlflow_experiment_tags).values(experiment_id=ident, key=key, value=value)
            conn.execute(
                stmt.on_conflict_do_update(index_elements=["experiment_id", "key"], set_={"value": value})
            )

    # ---- runs ----------------------------------------------------------------------------------
    def set_run_deleted(self, run_id: str, deleted: bool, now_ms: int) -> None:
        with self._write() as conn:
            if conn.execute(select(runs.c.id).where(runs.c.id == run_id)).first() is None:
                raise NotFoundError(f"run {run_id!r} not found")
            if deleted:
                stmt = insert_for(conn, mlflow_deleted_runs).values(run_id=run_id, deleted_ms=now_ms)
                conn.execute(stmt.on_conflict_do_nothing())
            else:
                conn.execute(delete(mlflow_deleted_runs).where(mlflow_deleted_runs.c.run_id == run_id))

    def deleted_runs(self, run_ids: Sequence[str]) -> set[str]:
        if not run_ids:
            return set()
        column = mlflow_deleted_runs.c.run_id
        found: set[str] = set()
        with self._read() as conn:
            for part in _chunks(run_ids):
                found |= {row.run_id for row in conn.execute(select(column).where(column.in_(part)))}
        return found

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
        conds = search.conditions(list(namespaces), filter, None, None, hidden_projects)
        gone = exists(select(1).where(mlflow_deleted_runs.c.run_id == runs.c.id))
        if view == "active":
            conds.append(~gone)
        elif view == "deleted":
            conds.append(gone)
        with self._read() as conn:
            return search.search_runs(conn, conds, order_by, max_results, offset)

    def log_inputs(self, run_id: str, inputs: Sequence[DatasetInput]) -> None:
        now = _now_ms()
        with self._write() as conn:
            for item in inputs:
                context = item.tags.get("mlflow.data.context", "")
                ident = hashlib.sha256(json.dumps([item.name, item.digest, context]).encode()).hexdigest()
                document = json.dumps(input_document(item), separators=(",", ":"))
                stmt = insert_for(conn, mlflow_run_inputs).values(
                    run_id=run_id, ident=ident, logged_ms=now, document=document
                )
                conn.execute(stmt.on_conflict_do_nothing())

    def run_inputs(self, run_ids: Sequence[str]) -> dict[str, list[DatasetInput]]:
        found: dict[str, list[DatasetInput]] = {run_id: [] for run_id in run_ids}
        if not run_ids:
            return found
        c = mlflow_run_inputs.c
        with self._read() as conn:
            rows = [
                row
                for part in _chunks(run_ids)
                for row in conn.execute(
                    select(c.run_id, c.document)
                    .where(c.run_id.in_(part))
                    .order_by(c.run_id, c.logged_ms, c.ident)
                )
            ]
            for row in rows:
                items = found[row.run_id]
                if len(items) < MAX_INPUTS:
                    doc = json.loads(row.document)
                    items.append(DatasetInput(**{**doc, "tags": dict(doc.get("tags") or {})}))
        return found

    # ---- logged models ---------------------------------------------------------------------------
    def put_logged_model(self, model: LoggedModel) -> LoggedModel:
        from dataclasses import asdict

        doc = {
            k: v for k, v in asdict(model).items() if k not in ("model_id", "experiment_id", "run_id", "name")
        }
        values = {
            "model_id": model.model_id,
            "experiment_id": int(model.experiment_id),
            "run_id": model.run_id,
            "name": model.name,
            "created_ms": model.created_ms,
            "document": json.dumps(doc, separators=(",", ":")),
        }
        with self._write() as conn:
            stmt = insert_for(conn, mlflow_logged_models).values(**values)
            conn.execute(
                stmt.on_conflict_do_update(index_elements=["model_id"], set_={"document": values["document"]})
            )
        return model

    @staticmethod
    def _logged(row: Any) -> LoggedModel:
        doc = json.loads(row.document)
        return LoggedModel(
            model_id=row.model_id,
            experiment_id=str(row.experiment_id),
            name=row.name,
            run_id=row.run_id,
            **{k: doc[k] for k in ("status", "created_ms", "updated_ms", "creator", "model_type")},
            tags=dict(doc.get("tags") or {}),
            params=dict(doc.get("params") or {}),
        )

    def get_logged_model(self, model_id: str) -> LoggedModel:
        c = mlflow_logged_models.c
        with self._read() as conn:
            row = conn.execute(select(mlflow_logged_models).where(c.model_id == model_id)).first()
        if row is None:
            raise NotFoundError(f"logged model {model_id[:80]!r} not found")
        return self._logged(row)

    def search_logged_models(
        self, experiment_ids: Sequence[str], *, name: str | None, limit: int, offset: int
    ) -> list[LoggedModel]:
        c = mlflow_logged_models.c
        ids = [int(i) for i in experiment_ids if i.isdigit() and len(i) <= 18]
        query = select(mlflow_logged_models).where(c.experiment_id.in_(ids))
        if name is not None:
            query = query.where(c.name == name)
        query = query.order_by(c.created_ms.desc(), c.model_id.desc()).limit(limit).offset(offset)
        with self._read() as conn:
            return [self._logged(row) for row in conn.execute(query)]

    def count_experiments(self) -> int:
        with self._read() as conn:
            return int(conn.execute(select(func.count()).select_from(mlflow_experiments)).scalar_one())


def _chunks(ids: Sequence[str], size: int = 500) -> list[list[str]]:
    """``ids`` in parts small enough for any database's bound-parameter limit."""
    items = list(ids)
    return [items[i : i + size] for i in range(0, len(items), size)]


def _now_ms() -> int:
    import time

    return int(time.time() * 1000)
