"""The branch registry interface: which branches a project has, who started each, and whether it
was deleted (``shipyard branches list | delete``; see :mod:`shipyard.core.branches`).

A branch is recorded the first time something is written on it (a run, a model version, a
dataset version, a deployment): :meth:`BranchStore.record` is idempotent and brings a deleted
branch back. Deleting marks the branch (``deleted_at``, ``deleted_by``); its objects keep their
names and namespace, so they read as a deleted branch's. :func:`open_branch_store` picks the
implementation beside a metadata store: SQL (table ``branches``, revision 0021_branches) or a
shipyard server's routes (``/api/v1/branches``: ``run:read`` to list, ``run:write`` at
``project:P/branch:B`` to record, ``run:delete`` there to delete).

Writing a new backend
---------------------
Subclass :class:`BranchStore`, teach :func:`open_branch_store` to build it, and run
``tests/contract/test_branch_contract.py`` against it. Rules: names are checked
(``check_project_name``, ``validate_branch``); times come from the store's clock; lists are by
project then name, paged with ``limit``/``offset`` (``limit=None``: all; negative:
InvalidInputError), deleted branches only with ``include_deleted``; an unknown branch is
NotFoundError naming it.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from shipyard.core.branches import branch_namespace

if TYPE_CHECKING:
    from shipyard.core.settings import Settings
    from shipyard.metadata.base import MetadataStore


@dataclass(frozen=True)
class Branch:
    project: str
    name: str
    created_by: str
    created_at: datetime
    deleted_at: datetime | None = None
    deleted_by: str | None = None

    @property
    def namespace(self) -> str:
        return branch_namespace(self.project, self.name)

    @property
    def deleted(self) -> bool:
        return self.deleted_at is not None


class BranchStore(abc.ABC):
    @abc.abstractmethod
    def record(self, project: str, name: str, *, by: str) -> Branch:
        """The branch, recorded now if it was not (by ``by``); a deleted one is live again."""

    @abc.abstractmethod
    def get_branch(self, project: str, name: str) -> Branch: ...

    @abc.abstractmethod
    def list_branches(
        self,
        project: str | None = None,
        *,
        include_deleted: bool = False,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[Branch]: ...

    @abc.abstractmethod
    def mark_deleted(self, project: str, name: str, *, by: str) -> Branch:
        """Mark the branch deleted (NotFoundError when it was never recorded)."""


def check_branch_ref(project: str, name: str) -> None:
    """A one-line InvalidInputError unless both names are valid."""
    from shipyard.core.branches import validate_branch, validate_project

    validate_project(project)
    validate_branch(name)


def open_branch_store(metadata: MetadataStore) -> BranchStore:
    """The branch registry beside ``metadata`` (same database, or the same server)."""
    from shipyard.metadata.registry import companion_store

    store: BranchStore = companion_store(
        metadata,
        "the branch registry",
        sql="shipyard.metadata.sql.branches_store:SqlBranchStore",
        rest="shipyard.metadata.rest.branches:RestBranchStore",
    )
    return store


def note_branch(metadata: MetadataStore, settings: Settings) -> None:
    """Record the settings' branch (if any) before something is written on it."""
    if settings.branch is not None:
        from shipyard.core.branches import branch_project

        open_branch_store(metadata).record(branch_project(settings), settings.branch, by=settings.user)
