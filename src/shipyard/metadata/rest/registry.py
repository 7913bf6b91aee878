"""``RestRegistryStore``: the :class:`RegistryStore` over a shipyard server (shares the metadata
store's HTTP session)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from shipyard.metadata.model_registry import (
    AliasEvent,
    LineageRecord,
    ModelVersion,
    ModelVersionCreate,
    RegisteredModel,
    RegistryStore,
)
from shipyard.metadata.rest.codec import decode, to_wire
from shipyard.metadata.rest.http import RestSession, seg
from shipyard.metadata.rest.paging import follow_pages


def _m(name: str) -> str:
    return f"/models/{seg(name)}"


def _v(name: str, version: int) -> str:
    return f"/models/{seg(name)}/versions/{int(version)}"


class RestRegistryStore(RegistryStore):
    server_checks_packages = True  # the alias and approval routes check the package (registry/validation.py)

    def __init__(self, session: RestSession) -> None:
        self._http = session

    def _rows(
        self, path: str, field: str, params: dict[str, Any], limit: int | None, offset: int
    ) -> list[Any]:
        return follow_pages(self._http, path, field, params, limit=limit, offset=offset)

    def _versions(
        self, path: str, params: dict[str, Any], limit: int | None, offset: int
    ) -> list[ModelVersion]:
        return [decode(ModelVersion, v) for v in self._rows(path, "versions", params, limit, offset)]

    # ---- models ------------------------------------------------------------------------------------
    def create_model(
        self,
        name: str,
        *,
        user: str,
        at: datetime,
        description: str = "",
        tags: Mapping[str, str] | None = None,
        project: str | None = None,
    ) -> RegisteredModel:
        body = {
            "name": name,
            "user": user,
            "at": at,
            "description": description,
            "tags": dict(tags or {}),
            "project": project,
        }
        return decode(RegisteredModel, self._http.call("POST", "/models", body))

    def get_model(self, name: str) -> RegisteredModel:
        return decode(RegisteredModel, self._http.call("GET", _m(name)))

    def list_models(
        self,
        prefix: str | None = None,
        *,
        limit: int | None = None,
        offset: int = 0,
        hidden_projects: Sequence[str] = (),
    ) -> list[RegisteredModel]:
        params: dict[str, Any] = {"prefix": prefix} if prefix is not None else {}
        if hidden_projects:  # the server hides the caller's invisible projects on its own
            params["hidden_project"] = list(hidden_projects)
        return [decode(RegisteredModel, m) for m in self._rows("/models", "models", params, limit, offset)]

    def update_model(self, name: str, *, description: str, at: datetime) -> RegisteredModel:
        body = {"description": description, "at": at}
        return decode(RegisteredModel, self._http.call("PATCH", _m(name), body))

    def set_model_tags(self, name: str, tags: Mapping[str, str], at: datetime) -> None:
        self._http.call("POST", _m(name) + "/tags", {"tags": dict(tags), "at": at})

    def rename_model(self, name: str, new_name: str, *, at: datetime) -> RegisteredModel:
        body = {"new_name": new_name, "at": at}
        return decode(RegisteredModel, self._http.call("POST", _m(name) + "/rename", body))

    def delete_model_tag(self, name: str, key: str, at: datetime) -> None:
        self._http.call("DELETE", _m(name) + "/tags", params={"key": key, "at": at.isoformat()})

    def delete_model(self, name: str) -> None:
        self._http.call("DELETE", _m(name))

    # ---- versions ----------------------------------------------------------------------------------
    def create_version(self, create: ModelVersionCreate) -> ModelVersion:
        body = to_wire(create)
        body.pop("model_name")
        return decode(ModelVersion, self._http.call("POST", _m(create.model_name) + "/versions", body))

    def get_version(self, name: str, version: int) -> ModelVersion:
        return decode(ModelVersion, self._http.call("GET", _v(name, version)))

    def list_versions(self, name: str, *, limit: int | None = None, offset: int = 0) -> list[ModelVersion]:
        return self._versions(_m(name) + "/versions", {}, limit, offset)

    def delete_version(self, name: str, version: int) -> None:
        self._http.call("DELETE", _v(name, version))

    def set_version_tags(self, name: str, version: int, tags: Mapping[str, str]) -> ModelVersion:
        return decode(
            ModelVersion, self._http.call("POST", _v(name, version) + "/tags", {"tags": dict(tags)})
        )

    def delete_version_tag(self, name: str, version: int, key: str) -> ModelVersion:
        data = self._http.call("DELETE", _v(name, version) + "/tags", params={"key": key})
        return decode(ModelVersion, data)

    def set_approval(
        self, name: str, version: int, approved: bool, *, user: str, at: datetime
    ) -> ModelVersion:
        body = {"approved": approved, "user": user, "at": at}
        return decode(ModelVersion, self._http.call("POST", _v(name, version) + "/approval", body))

    # ---- aliases -----------------------------------------------------------------------------------
    def set_alias(self, name: str, alias: str, version: int, *, user: str, at: datetime) -> AliasEvent:
        body = {"version": version, "user": user, "at": at}
        return decode(AliasEvent, self._http.call("PUT", f"{_m(name)}/aliases/{seg(alias)}", body))

    def delete_alias(self, name: str, alias: str, *, user: str, at: datetime) -> AliasEvent:
        body = {"user": user, "at": at}
        return decode(AliasEvent, self._http.call("POST", f"{_m(name)}/aliases/{seg(alias)}/delete", body))

    def protect_alias(self, name: str, alias: str, protected: bool, *, user: str, at: datetime) -> AliasEvent:
        body = {"protected": protected, "user": user, "at": at}
        path = f"{_m(name)}/aliases/{seg(alias)}/protection"
        return decode(AliasEvent, self._http.call("POST", path, body))

    def resolve_alias(self, name: str, alias: str) -> ModelVersion:
        return decode(ModelVersion, self._http.call("GET", f"{_m(name)}/aliases/{seg(alias)}"))

    def alias_history(
        self, name: str, alias: str | None = None, *, limit: int | None = None, offset: int = 0
    ) -> list[AliasEvent]:
        params = {"alias": alias} if alias is not None else {}
        rows = self._rows(_m(name) + "/alias-history", "events", params, limit, offset)
        return [decode(AliasEvent, e) for e in rows]

    # ---- lineage -----------------------------------------------------------------------------------
    def version_lineage(
        self, name: str, version: int, *, limit: int | None = None, offset: int = 0
    ) -> list[LineageRecord]:
        rows = self._rows(_v(name, version) + "/lineage", "lineage", {}, limit, offset)
        return [decode(LineageRecord, r) for r in rows]

    def versions_from_artifact(
        self,
        *,
        artifact_id: str | None = None,
        digest: str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[ModelVersion]:
        params = {k: v for k, v in (("artifact_id", artifact_id), ("digest", digest)) if v is not None}
        return self._versions("/model-versions", params, limit, offset)

    def versions_from_run(
        self, run_id: str, *, limit: int | None = None, offset: int = 0
    ) -> list[ModelVersion]:
        return self._versions(f"/runs/{seg(run_id)}/model-versions", {}, limit, offset)
