"""The data-policy storage interface: named :class:`~shipyard.security.data_policy.DataPolicy`
records (column rules and a row filter on a dataset or feature view, bound to subjects).

Writing a new backend
---------------------
Subclass :class:`PolicyStore`, implement every abstract method, teach :func:`open_policy_store`
to build it, and add it to ``tests/contract/test_policies_contract.py`` (it runs over every
metadata backend: SQLite, Postgres, REST).

Rules every backend keeps:

- Policy names are unique; creating a taken name raises
  :class:`~shipyard.core.errors.AlreadyExistsError` (delete and create again to change one: a
  policy is immutable, so what a read was decided by is what was recorded).
- ``list_policies`` is by name, with keyword-only ``limit``/``offset`` (``limit=None``: all) and
  optional ``target_kind``/``target`` filters (exact).
- An unknown name raises :class:`~shipyard.core.errors.NotFoundError` naming it.
"""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING

from shipyard.core.data_policies import DataPolicy

if TYPE_CHECKING:
    from shipyard.metadata.base import MetadataStore


class PolicyStore(abc.ABC):
    @abc.abstractmethod
    def create_policy(self, policy: DataPolicy) -> DataPolicy:
        """Store a new policy (checked by :func:`~shipyard.security.data_policy.check_policy`)."""

    @abc.abstractmethod
    def get_policy(self, name: str) -> DataPolicy: ...

    @abc.abstractmethod
    def list_policies(
        self,
        *,
        target_kind: str | None = None,
        target: str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[DataPolicy]:
        """The policies (on one target when given), by name."""

    @abc.abstractmethod
    def delete_policy(self, name: str) -> None: ...


def open_policy_store(metadata: MetadataStore) -> PolicyStore:
    """The policy store that lives beside ``metadata`` (same database, or same server)."""
    from shipyard.metadata.registry import companion_store

    store: PolicyStore = companion_store(
        metadata,
        "data policies",
        sql="shipyard.metadata.sql.policies_store:SqlPolicyStore",
        rest="shipyard.metadata.rest.policies:RestPolicyStore",
    )
    return store
