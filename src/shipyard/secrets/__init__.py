"""Secrets per project and environment, encrypted at rest, behind :class:`SecretsBackend`.

``open_secrets_backend(settings, metadata)`` gives the backend a server (or an administrator with
the database URL) uses; everyone else reaches secrets through the server, which checks
``secret:read`` / ``secret:write`` at ``project:NAME/env:ENV`` and audits every read.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shipyard.secrets.base import (
    SecretDecryptionError,
    SecretInfo,
    SecretsBackend,
    check_secret_ref,
    secret_scope,
)

if TYPE_CHECKING:
    from shipyard.core.settings import Settings
    from shipyard.metadata.base import MetadataStore

__all__ = [
    "SecretDecryptionError",
    "SecretInfo",
    "SecretsBackend",
    "check_secret_ref",
    "open_secrets_backend",
    "secret_scope",
]


def open_secrets_backend(settings: Settings, metadata: MetadataStore) -> SecretsBackend:
    """The local (encrypted-in-the-database) backend over ``metadata``'s SQL database, with the key
    ``settings`` names; ConfigurationError when there is no key or no SQL database."""
    from shipyard.core.errors import ConfigurationError
    from shipyard.metadata.sql.store import SqlMetadataStore
    from shipyard.secrets.crypto import load_key

    metadata = metadata.backing_store()
    if not isinstance(metadata, SqlMetadataStore):
        raise ConfigurationError(
            "secrets are kept by a shipyard server (or in a sqlite:/// or postgresql:// database), "
            f"not by {type(metadata).__name__}; use `shipyard secrets` against the server"
        )
    key = load_key(settings)
    from shipyard.secrets.local import LocalSecretsBackend

    return LocalSecretsBackend(metadata, key)
