"""One exception base for shipyard, subclasses named by meaning, one code -> HTTP status table.

Every error a user can cause carries a message that says what was wrong and how to fix it; the CLI
prints ``str(error)`` on one line and the server answers ``{"error": {"code": ..., "message": ...}}``
with ``HTTP_STATUS[error.code]``.
"""

from __future__ import annotations


class ShipyardError(Exception):
    """Base of every error shipyard raises on purpose."""

    code: str = "internal_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class InvalidInputError(ShipyardError):
    """The caller passed something malformed (a name, a value, a filter...)."""

    code = "invalid_input"


class NotFoundError(ShipyardError):
    """A run, task, artifact, model... that does not exist."""

    code = "not_found"


class AlreadyExistsError(ShipyardError):
    """Creating something whose identity is taken."""

    code = "already_exists"


class ConflictError(ShipyardError):
    """The request contradicts stored state (e.g. re-logging a param with another value)."""

    code = "conflict"


class PermissionDeniedError(ShipyardError):
    code = "permission_denied"


class UnauthenticatedError(ShipyardError):
    code = "unauthenticated"


class ConfigurationError(ShipyardError):
    """Settings that cannot work (unknown URI scheme, unreachable database...)."""

    code = "configuration_error"


class NotConfiguredError(ConfigurationError):
    """A feature the server was not set up for (secrets without a key): the server answers 503,
    and a client does not retry it (the fix is on the server's side, not a wait)."""

    code = "not_configured"


class SchemaVersionError(ConfigurationError):
    """The database schema is newer than this version of shipyard understands."""

    code = "schema_too_new"


class StorageError(ShipyardError):
    """A backend failed to read or write (disk, network, database)."""

    code = "storage_error"


class InsufficientStorageError(StorageError):
    """The disk (or quota) that should hold the bytes is full; nothing partial was kept."""

    code = "insufficient_storage"


class IntegrityError(StorageError):
    """Stored bytes do not match their recorded hash (corrupted or truncated)."""

    code = "integrity_error"


class SerializationError(ShipyardError):
    """A value cannot be stored or loaded by any serializer."""

    code = "serialization_error"


class UntrustedContentError(SerializationError):
    """Loading was refused because it needs trust the caller did not give (a class off the
    allow-list, a pickle package without ``allow_unsafe``); the content itself may be fine."""


class FlowError(ShipyardError):
    """A flow or step definition is invalid, or a flow file cannot be loaded."""

    code = "flow_error"


class TaskFailedError(ShipyardError):
    code = "task_failed"


HTTP_STATUS: dict[str, int] = {
    "internal_error": 500,
    "invalid_input": 400,
    "not_found": 404,
    "already_exists": 409,
    "conflict": 409,
    "permission_denied": 403,
    "unauthenticated": 401,
    "configuration_error": 500,
    "not_configured": 503,
    "schema_too_new": 500,
    "storage_error": 503,
    "insufficient_storage": 507,
    "integrity_error": 500,
    "serialization_error": 400,
    "flow_error": 400,
    "task_failed": 500,
}
