"""MetadataStore.referenced_digests, over every metadata backend (see ``metadata_uri``).

SQL backends answer with every digest an artifact record points at; the REST backend refuses with
a message that says where garbage collection runs. Model packages, lineage and reference profiles
are covered end to end in tests/tracking/test_gc.py.
"""

from __future__ import annotations

import pytest

from shipyard.core.errors import ConfigurationError
from shipyard.metadata import MetadataStore
from tests.contract.metadata_helpers import make_artifact, make_run, make_task


def test_referenced_digests_follow_the_artifact_records(metadata_store: MetadataStore) -> None:
    if type(metadata_store).__name__ == "RestMetadataStore":
        with pytest.raises(ConfigurationError, match="runs where the stores are"):
            metadata_store.referenced_digests()
        return
    assert metadata_store.referenced_digests() == set()
    run, other = make_run(metadata_store), make_run(metadata_store)
    task = make_task(run, "train")
    metadata_store.create_tasks([task])
    metadata_store.record_artifact(make_artifact(run, "data", "a" * 64))
    metadata_store.record_artifact(make_artifact(run, "model", "b" * 64, task=task))
    metadata_store.record_artifact(make_artifact(other, "shared", "a" * 64))
    assert metadata_store.referenced_digests() == {"a" * 64, "b" * 64}
    metadata_store.delete_run(run.id)
    assert metadata_store.referenced_digests() == {"a" * 64}  # still another run's artifact
