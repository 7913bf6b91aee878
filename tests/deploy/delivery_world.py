"""A project to deliver in tests: a metadata store with registered models (approved or not, with
their source runs' metrics), a two-environment spec, and the stores the planner asks."""

from __future__ import annotations

import textwrap
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from shipyard.core.entities import Metric, RunCreate
from shipyard.deploy.facts import StoreFacts
from shipyard.deploy.spec.load import parse, validate
from shipyard.deploy.spec.models import Spec
from shipyard.metadata.base import MetadataStore
from shipyard.metadata.delivery import DeliveryStore, open_delivery_store
from shipyard.metadata.model_registry import ModelVersionCreate, RegistryStore, open_registry_store

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

SPEC = textwrap.dedent(
    """\
    project: {name: fraud, owners: [alice]}
    environments:
      staging:
        policies:
          secrets: [db]
          data: {datasets: [transactions]}
      production:
        policies:
          apply: {users: [alice], roles: [release-manager]}
          models: {require: {approved: true, min_quality: {f1: 0.9}}}
          secrets: [db]
        settings:
          DB_URL: "postgresql://app:${secret:db}@db/fraud"
    deployments:
      api:
        model: models:/fraud@candidate
        replicas: 1
        secrets: [db]
      nightly:
        kind: batch
        model: models:/fraud/1
        input: datasets:/transactions
        output: scores/
        environments: [staging]
    flows:
      train: {file: flows/train.py, environment: staging}
    monitors:
      api-health: {deployment: api, checks: {volume: {min: 1}}}
    overrides:
      production:
        deployments:
          api: {replicas: 2}
    """
)


def spec_of(text: str = SPEC) -> Spec:
    return validate(parse(text, "shipyard.yaml"))


@dataclass
class World:
    metadata: MetadataStore
    registry: RegistryStore
    delivery: DeliveryStore

    def facts(self, user: str = "alice") -> StoreFacts:
        return StoreFacts(self.metadata, self.delivery, user)

    def register(self, name: str = "fraud", *, f1: float | None = 0.95, approved: bool = False) -> int:
        """A new version of ``name`` from a run that logged ``f1``; approved when asked."""
        run_id = uuid.uuid4().hex
        self.metadata.create_run(RunCreate(run_id, "train", "user:bob", "bob", T0))
        if f1 is not None:
            self.metadata.log_metrics(run_id, [Metric("f1", f1)])
        version = self.registry.create_version(
            ModelVersionCreate(name, "a" * 64, 1, "sklearn", "bob", T0, run_id=run_id)
        ).version
        if approved:
            self.registry.set_approval(name, version, True, user="carol", at=T0)
        return version

    def alias(self, alias: str, version: int, name: str = "fraud") -> None:
        self.registry.set_alias(name, alias, version, user="bob", at=T0)

    def secret(self, name: str, environment: str, project: str = "fraud") -> None:
        """A secret row (metadata is all a plan reads; the value never matters here)."""
        from sqlalchemy import insert

        from shipyard.metadata.sql.secrets_schema import secrets
        from shipyard.metadata.sql.store import SqlMetadataStore

        assert isinstance(self.metadata, SqlMetadataStore)
        row = {
            "project": project,
            "environment": environment,
            "name": name,
            "key_id": "k",
            "nonce": b"n" * 12,
            "ciphertext": b"c",
            "version": 1,
            "created_at": T0,
            "created_by": "admin",
            "updated_at": T0,
            "updated_by": "admin",
        }
        with self.metadata._tx(write=True) as conn:
            conn.execute(insert(secrets).values(**row))


def open_world(metadata: MetadataStore) -> World:
    return World(metadata, open_registry_store(metadata), open_delivery_store(metadata))


def sqlite_uri(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'home' / 'shipyard.db'}"
