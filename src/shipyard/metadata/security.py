"""The security storage interface: principals (users, service accounts, groups), custom roles,
bindings, API tokens (stored hashed) and the audit log.

The server is its only user. Token *values* never reach this layer: callers pass the sha256 of a
token (see :mod:`shipyard.security.tokens`), and lookups are by that hash.

Writing a new backend: subclass :class:`SecurityStore` and teach :func:`open_security_store` to
build it for your metadata backend; ``tests/server/test_security_store.py`` must pass on it.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from datetime import datetime

from shipyard.core.errors import ConfigurationError
from shipyard.metadata.base import MetadataStore


@dataclass(frozen=True)
class User:
    """A person (``kind="user"``) or a machine (``kind="service"``: a service account for CI or a
    deployment; it has tokens but never logs in to the UI)."""

    name: str
    created_at: datetime
    kind: str = "user"
    disabled: bool = False
    description: str = ""


@dataclass(frozen=True)
class Project:
    """The unit of ownership. A private project's runs (namespaces ``project:NAME...``) are invisible,
    not merely read-only, to principals without ``run:read`` at ``project:NAME``."""

    name: str
    private: bool
    created_at: datetime
    created_by: str
    description: str = ""


@dataclass(frozen=True)
class Group:
    name: str
    created_at: datetime
    description: str = ""
    members: tuple[str, ...] = ()


@dataclass(frozen=True)
class CustomRole:
    name: str
    permissions: tuple[str, ...]  # sorted catalog names (see shipyard.security.policy.PERMISSIONS)
    created_at: datetime
    description: str = ""


@dataclass(frozen=True)
class Binding:
    """``role`` granted to a user/service account (``principal_kind="user"``) or a group at ``scope``."""

    id: str
    principal_kind: str  # "user" | "group"
    principal: str
    role: str
    scope: str
    created_at: datetime
    created_by: str


@dataclass(frozen=True)
class TokenRecord:
    id: str
    user: str
    name: str
    token_hash: str  # sha256 hex of the token value
    prefix: str  # the first characters of the token, to recognize it in listings
    created_at: datetime
    expires_at: datetime | None = None
    revoked_at: datetime | None = None
    scope: str | None = None  # the token acts only inside this scope
    permissions: tuple[str, ...] | None = None  # ... and only with these permissions
    actions: tuple[str, ...] | None = None  # a machine token: its actions at ``scope`` (policy.ACTIONS)

    def active(self, now: datetime) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)

    def public(self, now: datetime) -> dict[str, object]:
        """The record as shown to people and API clients: everything but the hash."""
        return {
            "id": self.id,
            "user": self.user,
            "name": self.name,
            "prefix": self.prefix,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "revoked_at": self.revoked_at,
            "scope": self.scope,
            "permissions": list(self.permissions) if self.permissions is not None else None,
            "actions": list(self.actions) if self.actions is not None else None,
            "active": self.active(now),
        }


@dataclass(frozen=True)
class AuditEvent:
    at: datetime
    user: str
    action: str  # e.g. "POST /api/v1/runs/{run_id}/params"
    target: str  # the concrete path
    status: int  # the HTTP status the request got
    id: int | None = None
    scope: str | None = None
    request_id: str | None = None
    source: str | None = None  # the client's address
    detail: str | None = None  # canonical JSON of extra facts (digests, never values of secrets)
    chain: str | None = None  # set by the store: sha256 over the previous event's chain and this event


class SecurityStore(abc.ABC):
    # ---- principals ------------------------------------------------------------------------------
    @abc.abstractmethod
    def create_user(self, name: str, at: datetime, *, kind: str = "user", description: str = "") -> User:
        """AlreadyExistsError when the name is taken (by a user, a service account or a group)."""

    @abc.abstractmethod
    def get_user(self, name: str) -> User:
        """NotFoundError when absent."""

    @abc.abstractmethod
    def bootstrap_first_user(self, user: User, binding: Binding, token: TokenRecord) -> bool:
        """In one transaction, serialized against concurrent callers: when no user exists yet,
        create ``user``, its ``binding`` and ``token`` and return True; else write nothing and
        return False (another start made the first user)."""

    @abc.abstractmethod
    def list_users(
        self, *, kind: str | None = None, limit: int = 1000, after: str | None = None
    ) -> list[User]:
        """By name, at most ``limit``, those after ``after`` (the last name of the previous page)."""

    @abc.abstractmethod
    def set_user_disabled(self, name: str, disabled: bool) -> User: ...

    @abc.abstractmethod
    def set_password(self, name: str, password_hash: str | None) -> None:
        """Store the (argon2) hash of ``name``'s password, or remove it (``None``). NotFoundError for
        an unknown user. Plain passwords never reach this layer."""

    @abc.abstractmethod
    def password_of(self, name: str) -> tuple[User, str | None] | None:
        """``name``'s user and its password hash (None when it has no password), or None for an
        unknown name. The only read of a hash: :class:`User` never carries it."""

    @abc.abstractmethod
    def create_group(self, name: str, at: datetime, description: str = "") -> Group: ...

    @abc.abstractmethod
    def delete_group(self, name: str) -> None:
        """Also removes its memberships and bindings."""

    @abc.abstractmethod
    def list_groups(self, limit: int = 1000, after: str | None = None) -> list[Group]: ...

    @abc.abstractmethod
    def set_membership(self, group: str, member: str, present: bool) -> Group:
        """Add (``present``) or remove ``member``; idempotent. NotFoundError for an unknown group or user."""

    # ---- projects --------------------------------------------------------------------------------
    @abc.abstractmethod
    def create_project(self, project: Project) -> Project:
        """AlreadyExistsError when the name is taken."""

    @abc.abstractmethod
    def set_project_private(self, name: str, private: bool) -> Project: ...

    @abc.abstractmethod
    def list_projects(self, limit: int = 1000, after: str | None = None) -> list[Project]: ...

    @abc.abstractmethod
    def private_projects(self) -> frozenset[str]:
        """The names of every private project (one small read; the server caches it briefly)."""

    # ---- roles and bindings ----------------------------------------------------------------------
    @abc.abstractmethod
    def create_role(self, role: CustomRole) -> CustomRole: ...

    @abc.abstractmethod
    def delete_role(self, name: str) -> None:
        """ConflictError while a binding still uses it."""

    @abc.abstractmethod
    def list_roles(self) -> list[CustomRole]: ...

    @abc.abstractmethod
    def create_binding(self, binding: Binding) -> Binding:
        """AlreadyExistsError for the same (principal, role, scope); NotFoundError for an unknown
        principal."""

    @abc.abstractmethod
    def delete_binding(self, binding_id: str) -> Binding: ...

    @abc.abstractmethod
    def list_bindings(
        self, *, principal: str | None = None, scope: str | None = None, limit: int = 1000, offset: int = 0
    ) -> list[Binding]: ...

    @abc.abstractmethod
    def access_rows(self, user: str) -> tuple[list[tuple[str, str]], dict[str, frozenset[str]]]:
        """What :func:`shipyard.security.policy.resolve_access` needs for ``user``, in one read:
        the (role, scope) pairs bound to the user and to its groups, and the custom roles they name."""

    @abc.abstractmethod
    def create_token(self, token: TokenRecord) -> TokenRecord: ...

    @abc.abstractmethod
    def find_token(self, token_hash: str) -> tuple[TokenRecord, User] | None:
        """The token with this hash and its user, or None (revoked and expired ones included)."""

    @abc.abstractmethod
    def list_tokens(self, user: str | None = None, limit: int = 1000, offset: int = 0) -> list[TokenRecord]:
        """Tokens (of one user when given), oldest first."""

    @abc.abstractmethod
    def get_token(self, token_id: str) -> TokenRecord: ...

    @abc.abstractmethod
    def revoke_token(self, token_id: str, at: datetime) -> TokenRecord:
        """Mark revoked (idempotent: the first revocation time stays)."""

    # ---- the audit log (a hash chain: see shipyard.security.audit_chain) ---------------------------
    @abc.abstractmethod
    def record_audit(self, events: list[AuditEvent]) -> None:
        """Append ``events`` in order, each chained to the one before it (serialized across writers)."""

    @abc.abstractmethod
    def list_audit(
        self,
        limit: int = 100,
        user: str | None = None,
        *,
        action: str | None = None,
        since: datetime | None = None,
        before_id: int | None = None,
    ) -> list[AuditEvent]:
        """Newest first; ``action`` matches a substring of the action; ``before_id`` pages back."""

    @abc.abstractmethod
    def iter_audit(self, after_id: int = 0, batch: int = 1000) -> list[AuditEvent]:
        """Oldest first: up to ``batch`` events with id > ``after_id`` (for verifying the chain)."""


def open_security_store(metadata: MetadataStore) -> SecurityStore:
    """The security store in ``metadata``'s database (SQL backends only: the server owns it)."""
    from shipyard.metadata.sql.store import SqlMetadataStore

    metadata = metadata.backing_store()
    if isinstance(metadata, SqlMetadataStore):
        from shipyard.metadata.sql.security_store import SqlSecurityStore

        return SqlSecurityStore(metadata)
    raise ConfigurationError(
        "the server needs a SQL metadata store (sqlite:/// or postgresql://), "
        f"not {type(metadata).__name__}; "
        "set SHIPYARD_URI for the server process to the database"
    )
