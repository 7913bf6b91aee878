"""``SqlDatasetStore``: the :class:`DatasetStore` on the SQL metadata store's database.

It borrows the :class:`SqlMetadataStore`'s transactions, so each method is one short transaction
and a version with all its files is written, or nothing is.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, Select, delete, or_, select, update

from shipyard.core.errors import AlreadyExistsError, ConflictError, InvalidInputError, NotFoundError
from shipyard.core.names import canonical_name, validate_alias_name, validate_name
from shipyard.metadata.base import check_page
from shipyard.metadata.datasets import (
    DATASET_KINDS,
    USE_DIRECTIONS,
    Dataset,
    DatasetFile,
    DatasetStore,
    DatasetUse,
    DatasetVersion,
    DatasetVersionCreate,
    chunks_digest,
)
from shipyard.metadata.sql.dataset_manifest import blobs_of, decode_manifest, encode_manifest
from shipyard.metadata.sql.datasets_schema import (
    dataset_aliases,
    dataset_files,
    dataset_uses,
    dataset_version_blobs,
    dataset_versions,
    datasets,
)
from shipyard.metadata.sql.dialect import insert_for
from shipyard.metadata.sql.store import BorrowedTransactions

_D = datasets.c
_V = dataset_versions.c
_F = dataset_files.c
_A = dataset_aliases.c
_U = dataset_uses.c
_VERSION_COLUMNS = [c for c in dataset_versions.c if c.name != "manifest"]  # read apart, on demand


def _page(query: Select[Any], limit: int | None, offset: int) -> Select[Any]:
    check_page(limit, offset)
    return query.limit(limit).offset(offset) if limit is not None or offset else query


def _dataset_row(conn: Connection, name: str) -> Row[Any]:
    row = conn.execute(select(datasets).where(_D.name == name)).first()
    if row is None:
        similar = conn.execute(select(_D.name).where(_D.canonical == canonical_name(name))).scalar()
        hint = f"did you mean {similar!r}?" if similar is not None else "`shipyard data list` shows them"
        raise NotFoundError(f"no dataset {name!r}; {hint}")
    return row


def _version_row(conn: Connection, name: str, version: int) -> Row[Any]:
    query = select(*_VERSION_COLUMNS).where(_V.dataset_name == name, _V.version == version)
    row = conn.execute(query).first()
    if row is None:
        _dataset_row(conn, name)
        raise NotFoundError(
            f"dataset {name!r} has no version {version}; `shipyard data versions {name}` lists them"
        )
    return row


def _aliases_of(conn: Connection, name: str) -> dict[str, int]:
    rows = conn.execute(select(_A.alias, _A.version).where(_A.dataset_name == name).order_by(_A.alias))
    return {str(a): int(v) for a, v in rows}


def _load_dataset(conn: Connection, row: Row[Any]) -> Dataset:
    last = conn.execute(
        select(_V.version).where(_V.dataset_name == row.name).order_by(_V.version.desc())
    ).scalar()
    return Dataset(
        name=row.name,
        description=row.description,
        created_at=row.created_at,
        updated_at=row.updated_at,
        created_by=row.created_by,
        latest_version=None if last is None else int(last),
        aliases=_aliases_of(conn, row.name),
        project=row.project,
    )


def _load_versions(conn: Connection, rows: Sequence[Row[Any]]) -> list[DatasetVersion]:
    aliases: dict[tuple[str, int], list[str]] = {}
    for name in {r.dataset_name for r in rows}:
        for alias, version in _aliases_of(conn, name).items():
            aliases.setdefault((name, version), []).append(alias)
    return [
        DatasetVersion(
            dataset_name=r.dataset_name,
            version=r.version,
            kind=r.kind,
            source_format=r.source_format,
            num_files=r.num_files,
            size=r.size,
            num_rows=r.num_rows,
            columns=tuple(r.columns),
            stats=dict(r.stats),
            description=r.description,
            created_by=r.created_by,
            created_at=r.created_at,
            run_id=r.run_id,
            task_id=r.task_id,
            aliases=tuple(sorted(aliases.get((r.dataset_name, r.version), ()))),
        )
        for r in rows
    ]


def _insert_dataset(conn: Connection, create: DatasetVersionCreate) -> None:
    """Insert the dataset row unless it exists; AlreadyExistsError for a look-alike name."""
    name, canonical = create.dataset_name, canonical_name(create.dataset_name)
    stmt = insert_for(conn, datasets).values(
        name=name,
        canonical=canonical,
        description="",
        created_at=create.created_at,
        updated_at=create.created_at,
        created_by=create.created_by,
        last_version=0,
        project=create.project,
    )
    inserted = conn.execute(stmt.on_conflict_do_nothing().returning(_D.name)).first()
    if inserted is None:
        existing = conn.execute(select(_D.name).where(_D.canonical == canonical)).scalar()
        if existing is not None and existing != name:
            raise AlreadyExistsError(
                f"dataset {name!r} looks like the existing dataset {existing!r}; use that name"
            )
        return
    validate_name("dataset", name, new=True)  # refusing rolls the insert back


_DIGEST = re.compile("(?:blake3:)?[0-9a-f]{64}")  # sha256 hex, or a BLAKE3 digest


def _check_create(create: DatasetVersionCreate) -> None:
    if create.kind not in DATASET_KINDS:
        raise InvalidInputError(f"dataset kind {create.kind!r} is not one of {', '.join(DATASET_KINDS)}")
    paths = [f.path for f in create.files]
    if len(set(paths)) != len(paths):
        raise InvalidInputError(f"dataset {create.dataset_name!r}: a version lists the same file twice")
    if any((f.pack is None) != (f.offset is None) or (f.offset or 0) < 0 for f in create.files):
        raise InvalidInputError(f"dataset {create.dataset_name!r}: a packed file needs its pack and offset")
    for f in create.files:
        if f.chunks is not None and not _chunks_ok(f):
            raise InvalidInputError(
                f"dataset {create.dataset_name!r}: file {f.path[:100]!r} is chunked but its chunks do "
                "not add up to its size and digest (or it is also packed)"
            )


def _chunks_ok(f: DatasetFile) -> bool:
    assert f.chunks is not None
    return (
        f.pack is None
        and bool(f.chunks)
        and all(size > 0 and _DIGEST.fullmatch(digest) for digest, size in f.chunks)
        and sum(size for _, size in f.chunks) == f.size
        and chunks_digest(f.chunks) == f.digest
    )


class SqlDatasetStore(BorrowedTransactions, DatasetStore):
    def get_dataset(self, name: str) -> Dataset:
        with self._read() as conn:
            return _load_dataset(conn, _dataset_row(conn, name))

    def list_datasets(
        self,
        prefix: str | None = None,
        *,
        limit: int | None = None,
        offset: int = 0,
        hidden_projects: Sequence[str] = (),
    ) -> list[Dataset]:
        query = select(datasets).order_by(_D.name)
        if prefix:
            query = query.where(_D.name.startswith(prefix, autoescape=True))
        if hidden_projects:
            query = query.where(or_(_D.project.is_(None), _D.project.not_in(list(hidden_projects))))
        query = _page(query, limit, offset)
        with self._read() as conn:
            return [_load_dataset(conn, row) for row in conn.execute(query).all()]

    def create_version(self, create: DatasetVersionCreate) -> DatasetVersion:
        _check_create(create)
        name = create.dataset_name
        with self._write() as conn:
            _insert_dataset(conn, create)
            conn.execute(
                update(datasets)
                .where(_D.name == name)
                .values(last_version=_D.last_version + 1, updated_at=create.created_at)
            )
            version = int(conn.execute(select(_D.last_version).where(_D.name == name)).scalar_one())
            manifest, manifest_digest = encode_manifest(create.files)
            conn.execute(
                dataset_versions.insert(),
                {
                    "dataset_name": name,
                    "version": version,
                    "kind": create.kind,
                    "source_format": create.source_format,
                    "num_files": len(create.files),
                    "size": sum(f.size for f in create.files),
                    "num_rows": create.num_rows,
                    "columns": list(create.columns),
                    "stats": dict(create.stats),
                    "description": create.description,
                    "run_id": create.run_id,
                    "task_id": create.task_id,
                    "created_by": create.created_by,
                    "created_at": create.created_at,
                    "manifest": manifest,
                    "manifest_digest": manifest_digest,
                },
            )
            blobs = [{"dataset_name": name, "version": version, "digest": d} for d in blobs_of(create.files)]
            if blobs:
                conn.execute(dataset_version_blobs.insert(), blobs)
            return _load_versions(conn, [_version_row(conn, name, version)])[0]

    def get_version(self, name: str, version: int) -> DatasetVersion:
        with self._read() as conn:
            return _load_versions(conn, [_version_row(conn, name, version)])[0]

    def list_versions(self, name: str, *, limit: int | None = None, offset: int = 0) -> list[DatasetVersion]:
        query = _page(
            select(*_VERSION_COLUMNS).where(_V.dataset_name == name).order_by(_V.version), limit, offset
        )
        with self._read() as conn:
            _dataset_row(conn, name)
            return _load_versions(conn, conn.execute(query).all())

    def list_files(
        self, name: str, version: int, *, limit: int | None = None, offset: int = 0
    ) -> list[DatasetFile]:
        check_page(limit, offset)
        with self._read() as conn:
            row = conn.execute(
                select(_V.manifest, _V.manifest_digest, _V.num_files).where(
                    _V.dataset_name == name, _V.version == version
                )
            ).first()
            if row is None:
                _version_row(conn, name, version)  # raises the one-line not-found error
            assert row is not None
            if row.manifest is not None:
                label = f"datasets:/{name}/{version}"
                files = decode_manifest(bytes(row.manifest), row.manifest_digest, row.num_files, label)
                return files[offset:] if limit is None else files[offset : offset + limit]
            query = _page(  # a version written before manifests (0016): one row per file
                select(_F.path, _F.digest, _F.size, _F.rows, _F.pack, _F.offset)
                .where(_F.dataset_name == name, _F.version == version)
                .order_by(_F.path),
                limit,
                offset,
            )
            return [
                DatasetFile(r.path, r.digest, int(r.size), r.rows, r.pack, r.offset)
                for r in conn.execute(query)
            ]

    def delete_version(self, name: str, version: int) -> None:
        with self._write() as conn:
            _version_row(conn, name, version)
            pointing = [a for a, v in _aliases_of(conn, name).items() if v == version]
            if pointing:
                raise ConflictError(
                    f"cannot delete {name} version {version}: alias(es) {', '.join(pointing)} point at it; "
                    f"move or delete them first (`shipyard data alias {name} ALIAS --delete`)"
                )
            for table in (dataset_uses, dataset_files, dataset_version_blobs):
                conn.execute(delete(table).where(table.c.dataset_name == name, table.c.version == version))
            conn.execute(delete(dataset_versions).where(_V.dataset_name == name, _V.version == version))

    def set_alias(self, name: str, alias: str, version: int, *, user: str, at: datetime) -> DatasetVersion:
        validate_alias_name(alias, new=True)
        with self._write() as conn:
            _version_row(conn, name, version)
            stmt = insert_for(conn, dataset_aliases).values(
                dataset_name=name, alias=alias, version=version, updated_by=user, updated_at=at
            )
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=["dataset_name", "alias"],
                    set_={"version": version, "updated_by": user, "updated_at": at},
                )
            )
            return _load_versions(conn, [_version_row(conn, name, version)])[0]

    def delete_alias(self, name: str, alias: str) -> None:
        with self._write() as conn:
            _dataset_row(conn, name)
            gone = conn.execute(delete(dataset_aliases).where(_A.dataset_name == name, _A.alias == alias))
            if not gone.rowcount:
                raise NotFoundError(f"dataset {name!r} has no alias {alias!r}")

    def resolve_alias(self, name: str, alias: str) -> DatasetVersion:
        with self._read() as conn:
            _dataset_row(conn, name)
            version = conn.execute(
                select(_A.version).where(_A.dataset_name == name, _A.alias == alias)
            ).scalar()
            if version is None:
                known = ", ".join(_aliases_of(conn, name)) or "none yet"
                raise NotFoundError(
                    f"dataset {name!r} has no alias {alias!r} (aliases: {known}); "
                    f"set one with `shipyard data alias {name} {alias} VERSION`"
                )
            return _load_versions(conn, [_version_row(conn, name, int(version))])[0]

    def versions_holding(self, digest: str, *, limit: int = 100) -> list[tuple[str, int]]:
        """(dataset, version) pairs whose files are the blob ``digest`` or packed in it (SQL only:
        the server's blob route asks, to refuse a dataset's bytes to whom a data policy restricts)."""
        files, needed = dataset_files.c, dataset_version_blobs.c
        rows = select(files.dataset_name, files.version).where(
            (files.digest == digest) | (files.pack == digest)
        )
        # versions written since 0016 list their files in a manifest; the blobs (files and packs)
        # each one needs are in dataset_version_blobs
        manifests = select(needed.dataset_name, needed.version).where(needed.digest == digest)
        union = rows.union(manifests).subquery("holding")
        query = (
            select(union.c.dataset_name, union.c.version)
            .order_by(union.c.dataset_name, union.c.version)
            .limit(limit)
        )
        with self._read() as conn:
            return [(str(r.dataset_name), int(r.version)) for r in conn.execute(query)]

    def versions_described_with(
        self, text: str, *, hidden_projects: Sequence[str] = (), limit: int = 20, offset: int = 0
    ) -> list[DatasetVersion]:
        """Versions whose description contains ``text`` (taken literally), newest first, outside
        ``hidden_projects`` (SQL only: the feature page finds the training sets logged from a view
        by the lineage their description carries, ``features/training.py``)."""
        query = _page(
            select(*_VERSION_COLUMNS)
            .join(datasets, _D.name == _V.dataset_name)
            .where(_V.description.contains(text, autoescape=True))
            .where(or_(_D.project.is_(None), _D.project.not_in(list(hidden_projects))))
            .order_by(_V.created_at.desc(), _V.dataset_name, _V.version.desc()),
            limit,
            offset,
        )
        with self._read() as conn:
            return _load_versions(conn, conn.execute(query).all())

    def record_use(self, use: DatasetUse) -> None:
        if use.direction not in USE_DIRECTIONS:
            raise InvalidInputError(f"dataset use direction {use.direction!r} is not one of input, output")
        with self._write() as conn:
            _version_row(conn, use.dataset_name, use.version)
            stmt = insert_for(conn, dataset_uses).values(
                dataset_name=use.dataset_name,
                version=use.version,
                run_id=use.run_id,
                task_id=use.task_id or "",
                direction=use.direction,
                at=use.at,
            )
            conn.execute(stmt.on_conflict_do_nothing())

    def version_uses(
        self, name: str, version: int, *, limit: int | None = None, offset: int = 0
    ) -> list[DatasetUse]:
        query = _page(
            select(dataset_uses)
            .where(_U.dataset_name == name, _U.version == version)
            .order_by(_U.at, _U.run_id, _U.task_id, _U.direction),
            limit,
            offset,
        )
        with self._read() as conn:
            _version_row(conn, name, version)
            return [_use(r) for r in conn.execute(query)]

    def run_uses(self, run_id: str, *, limit: int | None = None, offset: int = 0) -> list[DatasetUse]:
        query = _page(
            select(dataset_uses)
            .where(_U.run_id == run_id)
            .order_by(_U.dataset_name, _U.version, _U.direction, _U.task_id),
            limit,
            offset,
        )
        with self._read() as conn:
            return [_use(r) for r in conn.execute(query)]


def _use(row: Row[Any]) -> DatasetUse:
    return DatasetUse(
        dataset_name=row.dataset_name,
        version=row.version,
        run_id=row.run_id,
        direction=row.direction,
        at=row.at,
        task_id=row.task_id or None,
    )
