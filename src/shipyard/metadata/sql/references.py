"""Which artifact blobs the metadata still points at (for the blob garbage collector).

A blob is referenced by an artifact record (a failed attempt's too), a model version's package,
a model version's recorded lineage (the data that made it stays available even after its run is
deleted), a reference profile or a dataset version's file. Anything else in the blob store is
garbage once it is old enough.
"""

from __future__ import annotations

from sqlalchemy import Connection, select, union

from shipyard.metadata.sql.datasets_schema import dataset_files
from shipyard.metadata.sql.model_registry_schema import model_version_lineage, model_versions
from shipyard.metadata.sql.monitoring_schema import reference_profiles
from shipyard.metadata.sql.schema import artifacts, attempt_artifacts


def referenced_digests(conn: Connection) -> set[str]:
    query = union(
        select(artifacts.c.digest),
        select(attempt_artifacts.c.digest),  # a failed attempt's logs and outputs stay inspectable
        select(model_versions.c.package_digest),
        select(model_version_lineage.c.digest),
        select(reference_profiles.c.digest),
        select(dataset_files.c.digest),
        select(dataset_files.c.pack).where(dataset_files.c.pack.is_not(None)),
    )
    return {str(digest) for (digest,) in conn.execute(query)}
