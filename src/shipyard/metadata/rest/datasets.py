"""``RestDatasetStore``: the :class:`DatasetStore` over a shipyard server (shares the metadata
store's HTTP session). A version's files travel as compact rows
``[path, digest, size, rows, pack, offset]``."""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from shipyard.metadata.datasets import (
    Dataset,
    DatasetFile,
    DatasetStore,
    DatasetUse,
    DatasetVersion,
    DatasetVersionCreate,
    file_row,
)
from shipyard.metadata.rest.codec import decode, to_wire
from shipyard.metadata.rest.http import RestSession, seg
from shipyard.metadata.rest.paging import follow_pages


def _d(name: str) -> str:
    return f"/datasets/{seg(name)}"


def _v(name: str, version: int) -> str:
    return f"/datasets/{seg(name)}/versions/{int(version)}"


def _file(row: list[Any]) -> DatasetFile:
    p, d, s, r, k, o, *more = row
    chunks = tuple((str(cd), int(cs)) for cd, cs in more[0]) if more else None
    return DatasetFile(str(p), str(d), int(s), _int(r), None if k is None else str(k), _int(o), chunks)


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


class RestDatasetStore(DatasetStore):
    def __init__(self, session: RestSession) -> None:
        self._http = session

    def _rows(
        self, path: str, field: str, params: dict[str, Any], limit: int | None, offset: int
    ) -> list[Any]:
        return follow_pages(self._http, path, field, params, limit=limit, offset=offset)

    def get_dataset(self, name: str) -> Dataset:
        return decode(Dataset, self._http.call("GET", _d(name)))

    def list_datasets(
        self,
        prefix: str | None = None,
        *,
        limit: int | None = None,
        offset: int = 0,
        hidden_projects: Sequence[str] = (),
    ) -> list[Dataset]:
        params: dict[str, Any] = {"prefix": prefix} if prefix is not None else {}
        if hidden_projects:
            params["hidden_project"] = list(hidden_projects)
        return [decode(Dataset, d) for d in self._rows("/datasets", "datasets", params, limit, offset)]

    def create_version(self, create: DatasetVersionCreate) -> DatasetVersion:
        body = to_wire(create)
        body.pop("dataset_name")
        body["files"] = [file_row(f) for f in create.files]
        return decode(DatasetVersion, self._http.call("POST", _d(create.dataset_name) + "/versions", body))

    def get_version(self, name: str, version: int) -> DatasetVersion:
        return decode(DatasetVersion, self._http.call("GET", _v(name, version)))

    def list_versions(self, name: str, *, limit: int | None = None, offset: int = 0) -> list[DatasetVersion]:
        rows = self._rows(_d(name) + "/versions", "versions", {}, limit, offset)
        return [decode(DatasetVersion, v) for v in rows]

    def list_files(
        self, name: str, version: int, *, limit: int | None = None, offset: int = 0
    ) -> list[DatasetFile]:
        rows = self._rows(_v(name, version) + "/files", "files", {}, limit, offset)
        return [_file(row) for row in rows]

    def delete_version(self, name: str, version: int) -> None:
        self._http.call("DELETE", _v(name, version))

    def set_alias(self, name: str, alias: str, version: int, *, user: str, at: datetime) -> DatasetVersion:
        body = {"version": version, "user": user, "at": at}
        return decode(DatasetVersion, self._http.call("PUT", f"{_d(name)}/aliases/{seg(alias)}", body))

    def delete_alias(self, name: str, alias: str) -> None:
        self._http.call("DELETE", f"{_d(name)}/aliases/{seg(alias)}")

    def resolve_alias(self, name: str, alias: str) -> DatasetVersion:
        return decode(DatasetVersion, self._http.call("GET", f"{_d(name)}/aliases/{seg(alias)}"))

    def record_use(self, use: DatasetUse) -> None:
        body = {"run_id": use.run_id, "task_id": use.task_id, "direction": use.direction, "at": use.at}
        self._http.call("POST", _v(use.dataset_name, use.version) + "/uses", body)

    def version_uses(
        self, name: str, version: int, *, limit: int | None = None, offset: int = 0
    ) -> list[DatasetUse]:
        return [
            decode(DatasetUse, u) for u in self._rows(_v(name, version) + "/uses", "uses", {}, limit, offset)
        ]

    def run_uses(self, run_id: str, *, limit: int | None = None, offset: int = 0) -> list[DatasetUse]:
        rows = self._rows(f"/runs/{seg(run_id)}/dataset-uses", "uses", {}, limit, offset)
        return [decode(DatasetUse, u) for u in rows]

    # ---- reads the server decides (data policies; not part of the DatasetStore interface) ---------
    def read_access(self, name: str, version: int) -> dict[str, Any]:
        """What the caller may see of a version: ``hidden``, ``masked``, ``row_filter`` (whether
        one applies), ``pii_read`` and ``data_route`` (read it through the data route)."""
        found: dict[str, Any] = self._http.call("GET", _v(name, version) + "/access")
        return found

    def read_data(
        self, name: str, version: int, *, columns: Sequence[str] | None = None, where: str | None = None
    ) -> Any:
        """The version's rows as the server answers them for the caller (policies applied), as
        an Arrow table (the route streams Arrow IPC)."""
        return self.stream_data(name, version, columns=columns, where=where).read_all()

    def stream_data(
        self, name: str, version: int, *, columns: Sequence[str] | None = None, where: str | None = None
    ) -> Any:
        """The same rows as a ``pyarrow.RecordBatchReader`` that reads the answer as it is consumed
        (one batch in memory at a time, never the whole answer)."""
        import pyarrow as pa

        params: dict[str, Any] = {"format": "arrow"}
        if columns is not None:
            params["column"] = list(columns)
        if where is not None:
            params["where"] = where
        chunks = self._http.stream(_v(name, version) + "/data", params=params)
        return pa.ipc.open_stream(_ChunkFile(chunks))


class _ChunkFile(io.RawIOBase):
    """A read-only file over an iterator of byte chunks (what Arrow's stream reader reads)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._pending = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        """Fill ``buffer`` (short only at the end: Arrow takes a short read for the end)."""
        filled = 0
        while filled < len(buffer):
            if not self._pending:
                chunk = next(self._chunks, None)
                if chunk is None:
                    break
                self._pending = memoryview(chunk)
            size = min(len(buffer) - filled, len(self._pending))
            buffer[filled : filled + size] = self._pending[:size]
            self._pending = self._pending[size:]
            filled += size
        return filled

    def close(self) -> None:
        close = getattr(self._chunks, "close", None)
        if close is not None:
            close()
        super().close()
