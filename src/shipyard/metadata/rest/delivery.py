"""``RestDeliveryStore``: :class:`DeliveryStore` over a shipyard server (routes in
``shipyard/server/routers/deploy.py``). Who holds a lock or applies a release is the token's
principal: the ``by`` and ``user`` arguments are the server's to decide and are not sent."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from shipyard.metadata.delivery import (
    DEFAULT_LOCK_TTL_S,
    AppliedObject,
    Applier,
    ApplyLock,
    DeliveryStore,
    EnvironmentState,
    ObjectState,
    Release,
    ReleaseDraft,
    SyncReport,
    SyncStatus,
    states_json,
)
from shipyard.metadata.rest.codec import decode
from shipyard.metadata.rest.http import RestSession, seg
from shipyard.metadata.rest.paging import follow_keyset, follow_pages

_NAMES_PER_CALL = 200


def _env(project: str, environment: str) -> str:
    return f"/deploy/{seg(project)}/{seg(environment)}"


def _after(after: tuple[str, str] | None) -> str | None:
    return None if after is None else f"{after[0]}/{after[1]}"


def _changes(put: Sequence[ObjectState], remove: Sequence[tuple[str, str]]) -> dict[str, Any]:
    return {"put": states_json(put), "remove": [{"kind": k, "name": n} for k, n in remove]}


class RestDeliveryStore(DeliveryStore):
    def __init__(self, session: RestSession) -> None:
        self._http = session

    # ---- the lock ----------------------------------------------------------------------------------
    def acquire_lock(
        self, project: str, environment: str, *, owner: str, by: str, ttl_s: float = DEFAULT_LOCK_TTL_S
    ) -> ApplyLock:
        data = self._http.call("POST", _env(project, environment) + "/lock", {"owner": owner, "ttl_s": ttl_s})
        return decode(ApplyLock, data["lock"])

    def release_lock(self, project: str, environment: str, *, owner: str) -> bool:
        data = self._http.call("DELETE", _env(project, environment) + "/lock", params={"owner": owner})
        return bool(data["released"])

    def get_lock(self, project: str, environment: str) -> ApplyLock | None:
        data = self._http.call("GET", _env(project, environment) + "/lock")["lock"]
        return None if data is None else decode(ApplyLock, data)

    # ---- releases ----------------------------------------------------------------------------------
    def begin_release(
        self,
        project: str,
        environment: str,
        draft: ReleaseDraft,
        *,
        owner: str,
        by: str,
        put: Sequence[ObjectState] = (),
        remove: Sequence[tuple[str, str]] = (),
    ) -> Release:
        body = {
            "owner": owner,
            "spec_hash": draft.spec_hash,
            "plan": draft.plan,
            "commit": draft.commit,
            "author": draft.author,
            "kind": draft.kind,
            "restores": draft.restores,
            **_changes(put, remove),
        }
        data = self._http.call("POST", _env(project, environment) + "/releases", body)
        return decode(Release, data["release"])

    def finish_release(
        self,
        project: str,
        environment: str,
        number: int,
        *,
        owner: str,
        outcome: str,
        error: str | None = None,
        put: Sequence[ObjectState] = (),
        remove: Sequence[tuple[str, str]] = (),
    ) -> Release:
        body = {"owner": owner, "outcome": outcome, "error": error, **_changes(put, remove)}
        path = f"{_env(project, environment)}/releases/{int(number)}/finish"
        return decode(Release, self._http.call("POST", path, body)["release"])

    def get_release(self, project: str, environment: str, number: int) -> Release:
        path = f"{_env(project, environment)}/releases/{int(number)}"
        return decode(Release, self._http.call("GET", path)["release"])

    def list_releases(
        self, project: str, environment: str, *, limit: int | None = None, offset: int = 0
    ) -> list[Release]:
        path = _env(project, environment) + "/releases"
        rows = follow_pages(self._http, path, "releases", {}, limit=limit, offset=offset)
        return [decode(Release, row) for row in rows]

    # ---- state -------------------------------------------------------------------------------------
    def list_objects(
        self, project: str, environment: str, *, limit: int | None = None, offset: int = 0
    ) -> list[AppliedObject]:
        path = _env(project, environment) + "/objects"
        rows = follow_pages(self._http, path, "objects", {}, limit=limit, offset=offset)
        return [decode(AppliedObject, row) for row in rows]

    def list_environments(
        self,
        project: str | None = None,
        *,
        limit: int | None = None,
        offset: int = 0,
        after: tuple[str, str] | None = None,
    ) -> list[EnvironmentState]:
        params = {} if project is None else {"project": project}
        rows = follow_keyset(
            self._http,
            "/deploy/environments",
            "environments",
            params,
            limit=limit,
            offset=offset,
            after=_after(after),
        )
        return [decode(EnvironmentState, row) for row in rows]

    # ---- sync status -------------------------------------------------------------------------------
    def record_sync(self, project: str, environment: str, report: SyncReport, *, by: str) -> SyncStatus:
        body = {
            "status": report.status,
            "reason": report.reason,
            "repo": report.repo,
            "branch": report.branch,
            "revision": report.revision,
            "synced_revision": report.synced_revision,
            "release": report.release,
            "running_commit": report.running_commit,
            "drift": [dict(d) for d in report.drift],
            "drifted": report.drifted,
        }
        data = self._http.call("PUT", _env(project, environment) + "/sync", body)
        return decode(SyncStatus, data["sync"])

    def get_sync(self, project: str, environment: str) -> SyncStatus | None:
        data = self._http.call("GET", _env(project, environment) + "/sync")["sync"]
        return None if data is None else decode(SyncStatus, data)

    def list_syncs(
        self,
        project: str | None = None,
        *,
        limit: int | None = None,
        offset: int = 0,
        after: tuple[str, str] | None = None,
    ) -> list[SyncStatus]:
        params = {} if project is None else {"project": project}
        rows = follow_keyset(
            self._http, "/deploy/sync", "syncs", params, limit=limit, offset=offset, after=_after(after)
        )
        return [decode(SyncStatus, row) for row in rows]

    def request_sync(self, project: str, environment: str, *, by: str) -> int:
        data = self._http.call("POST", _env(project, environment) + "/sync/hook")
        return int(data["wake"])

    # ---- what a plan asks ----------------------------------------------------------------------------
    def applier(self, project: str, environment: str, *, user: str) -> Applier:
        return decode(Applier, self._http.call("GET", _env(project, environment) + "/applier"))

    def roles_at(self, project: str, environment: str, user: str) -> tuple[str, ...]:
        data = self._http.call("GET", _env(project, environment) + "/roles/" + seg(user))
        return tuple(str(r) for r in data["roles"])

    def evaluate_promotion(
        self, project: str, environment: str, service: str, challenger: str
    ) -> dict[str, Any]:
        """The server's verdict on every gate of promoting ``challenger`` into ``service``, judged
        with its own prediction log (``shipyard.deploy.promote.gates``)."""
        body = {"service": service, "challenger": challenger}
        data: dict[str, Any] = self._http.call(
            "POST", _env(project, environment) + "/promotions/evaluate", body
        )
        return data

    def experiment_analysis(self, project: str, environment: str, name: str) -> dict[str, Any]:
        """The server's analysis of experiment ``name`` over its own prediction log: ``spec`` (the
        experiment as recorded) and ``analysis`` (``ExperimentResult.to_dict``)."""
        path = _env(project, environment) + "/experiments/" + seg(name) + "/analysis"
        data: dict[str, Any] = self._http.call("GET", path)
        return data

    def present_secrets(self, project: str, environment: str, names: Sequence[str]) -> set[str]:
        wanted = sorted(set(names))
        present: set[str] = set()
        for start in range(0, len(wanted), _NAMES_PER_CALL):
            chunk = wanted[start : start + _NAMES_PER_CALL]
            data = self._http.call(
                "GET", _env(project, environment) + "/secret-names", params={"name": chunk}
            )
            present.update(str(n) for n in data["present"])
        return present
