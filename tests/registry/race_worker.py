"""Run in separate processes by the race tests: register versions / move an alias on one database."""

from __future__ import annotations

from datetime import UTC, datetime


def register_versions(uri: str, name: str, count: int) -> list[int]:
    from shipyard.metadata import open_metadata_store
    from shipyard.metadata.model_registry import ModelVersionCreate, open_registry_store

    store = open_metadata_store(uri)
    try:
        registry = open_registry_store(store)
        got = []
        for _ in range(count):
            create = ModelVersionCreate(
                model_name=name,
                package_digest="b" * 64,
                package_size=1,
                flavor="sklearn",
                created_by="racer",
                created_at=datetime.now(UTC),
            )
            got.append(registry.create_version(create).version)
        return got
    finally:
        store.close()
