"""The security storage interface: users, API tokens (stored hashed) and audit events.

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
    name: str
    role: str  # "reader" | "writer" | "admin"
    created_at: datetime
    disabled: bool = False


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


class SecurityStore(abc.ABC):
    @abc.abstractmethod
    def create_user(self, name: str, role: str, at: datetime) -> User:
        """AlreadyExistsError when the name is taken."""

    @abc.abstractmethod
    def get_user(self, name: str) -> User:
        """NotFoundError when absent."""

    @abc.abstractmethod
    def list_users(self) -> list[User]: ...

    @abc.abstractmethod
    def create_token(self, token: TokenRecord) -> TokenRecord: ...

    @abc.abstractmethod
    def find_token(self, token_hash: str) -> tuple[TokenRecord, User] | None:
        """The token with this hash and its user, or None (revoked and expired ones included)."""

    @abc.abstractmethod
    def list_tokens(self, user: str | None = None) -> list[TokenRecord]:
        """Tokens (of one user when given), oldest first."""

    @abc.abstractmethod
    def get_token(self, token_id: str) -> TokenRecord: ...

    @abc.abstractmethod
    def revoke_token(self, token_id: str, at: datetime) -> TokenRecord:
        """Mark revoked (idempotent: the first revocation time stays)."""

    @abc.abstractmethod
    def record_audit(self, events: list[AuditEvent]) -> None: ...

    @abc.abstractmethod
    def list_audit(self, limit: int = 100, user: str | None = None) -> list[AuditEvent]:
        """Newest first."""


def open_security_store(metadata: MetadataStore) -> SecurityStore:
    """The security store in ``metadata``'s database (SQL backends only: the server owns it)."""
    from shipyard.metadata.sql.store import SqlMetadataStore

    if isinstance(metadata, SqlMetadataStore):
        from shipyard.metadata.sql.security_store import SqlSecurityStore

        return SqlSecurityStore(metadata)
    raise ConfigurationError(
        "the server needs a SQL metadata store (sqlite:/// or postgresql://), "
        f"not {type(metadata).__name__}; "
        "set SHIPYARD_URI for the server process to the database"
    )
