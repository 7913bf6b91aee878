"""``RestDatasetStore``: the :class:`DatasetStore` over a shipyard server (shares the metadata
store's HTTP session). A version's files travel as compact rows
``[path, digest, size, rows, pack, offset]``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from shipyard.metadata.datasets import (
    Dataset,
    DatasetFile,
    DatasetStore,
    DatasetUse,
    DatasetVersion,
    DatasetVersionCreate,
)
from shipyard.metadata.rest.codec import decode, to_wire
from shipyard.metadata.rest.http import RestSession, seg
from shipyard.metadata.rest.paging import follow_pages


def _d(name: str) -> str:
    return f"/datasets/{seg(name)}"


def _v(name: str, version: int) -> str:
    return f"/datasets/{seg(name)}/versions/{int(version)}"


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
        body["files"] = [[f.path, f.digest, f.size, f.rows, f.pack, f.offset] for f in create.files]
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
        return [
            DatasetFile(str(p), str(d), int(s), _int(r), None if k is None else str(k), _int(o))
            for p, d, s, r, k, o in rows
        ]

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
