"""``RestPolicyStore``: :class:`PolicyStore` over a shipyard server (routes in
``shipyard/server/routers/policies.py``)."""

from __future__ import annotations

from typing import Any

from shipyard.core.data_policies import DataPolicy, check_policy
from shipyard.metadata.policies import PolicyStore
from shipyard.metadata.rest.codec import decode
from shipyard.metadata.rest.http import RestSession, seg
from shipyard.metadata.rest.paging import follow_pages


class RestPolicyStore(PolicyStore):
    def __init__(self, session: RestSession) -> None:
        self._http = session

    def create_policy(self, policy: DataPolicy) -> DataPolicy:
        check_policy(policy)
        body = {
            "name": policy.name,
            "target_kind": policy.target_kind,
            "target": policy.target,
            "subjects": list(policy.subjects),
            "columns": dict(policy.columns),
            "row_filter": policy.row_filter,
            "description": policy.description,
        }
        # the server records who (the token's principal) and when (its clock)
        return decode(DataPolicy, self._http.call("POST", "/policies", body)["policy"])

    def get_policy(self, name: str) -> DataPolicy:
        return decode(DataPolicy, self._http.call("GET", f"/policies/{seg(name)}")["policy"])

    def list_policies(
        self,
        *,
        target_kind: str | None = None,
        target: str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[DataPolicy]:
        params: dict[str, Any] = {}
        if target_kind is not None:
            params["target_kind"] = target_kind
        if target is not None:
            params["target"] = target
        rows = follow_pages(self._http, "/policies", "policies", params, limit=limit, offset=offset)
        return [decode(DataPolicy, row) for row in rows]

    def delete_policy(self, name: str) -> None:
        self._http.call("DELETE", f"/policies/{seg(name)}")
