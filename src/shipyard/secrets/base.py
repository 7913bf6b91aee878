"""The secrets interface: values per project and environment, readable only through a backend.

A secret is addressed by ``(project, environment, name)``; its **value** is a string that leaves a
backend only through :meth:`SecretsBackend.get`. Everything else (listings, errors, audit events,
logs) carries metadata only: :class:`SecretInfo`.

Writing a backend
-----------------

Subclass :class:`SecretsBackend` in a module of its own and implement its methods; teach
:func:`shipyard.secrets.open_secrets_backend` to build it; run ``tests/secrets/test_contract.py``
against it (add it to ``BACKENDS`` in ``tests/secrets/conftest.py``). The rules every backend keeps:

- ``set(project, environment, name, value, by=..., at=...)`` creates or replaces a value and
  returns its :class:`SecretInfo` (``version`` counts the writes of that name, from 1); ``get``
  returns the value or raises :class:`~shipyard.core.errors.NotFoundError`; ``info`` returns the
  metadata of one secret; ``delete`` removes it (NotFoundError when absent);
- ``list`` returns metadata only, ordered by name, at most ``limit``, the names after ``after``
  (the last name of the previous page) — **never** a value, not even a digest of one;
- a value that cannot be decrypted (wrong key, tampered or moved ciphertext) raises
  :class:`SecretDecryptionError`, whose message names the secret and the cause, never the value;
- no method logs, prints or puts a value into an exception message;
- ``rotate_key`` re-encrypts what the backend stores under a new key (a backend without keys of
  its own, such as Vault, raises ConfigurationError saying where rotation happens instead).

Names are checked by :func:`check_secret_ref` before a backend sees them: project and environment
as in a scope (``project:NAME/env:ENV``), secret names as lower-case identifiers, so that each one
maps to exactly one environment variable (``db_password`` → ``DB_PASSWORD``).

The local backend (:mod:`shipyard.secrets.local`) keeps AES-GCM ciphertext in the metadata
database. A HashiCorp Vault backend (``hvac``) maps onto this interface as follows; it is not
shipped, because no Vault server can run where shipyard is tested (not on PyPI or Debian main),
and an untested backend would be a fake:

- mount a KV version 2 engine (e.g. ``shipyard/``); a secret lives at the path
  ``{project}/{environment}/{name}`` with the data ``{"value": value}``;
- ``set`` → ``client.secrets.kv.v2.create_or_update_secret(path, secret={"value": v},
  mount_point=mount)``; the answer's ``data.version`` is :attr:`SecretInfo.version`, and ``by`` is
  kept in the secret's custom metadata (``update_metadata(custom_metadata={"updated_by": by})``);
- ``get`` → ``read_secret_version(path, mount_point=mount, raise_on_deleted_version=True)
  ["data"]["data"]["value"]``; ``hvac.exceptions.InvalidPath`` → NotFoundError;
- ``list`` → ``list_secrets(f"{project}/{environment}")["data"]["keys"]`` sorted, cut after
  ``after`` and at ``limit``, each name's ``read_secret_metadata`` giving ``updated_time``,
  ``current_version`` and the custom metadata — never a ``read_secret_version``;
- ``delete`` → ``delete_metadata_and_all_versions(path, mount_point=mount)``;
- ``rotate_key`` → Vault encrypts its storage itself (``vault operator rotate``): raise
  ConfigurationError saying so;
- the token comes from the typed settings (a ``secrets_vault_token`` SecretStr, or Vault's
  Kubernetes auth method for pods), never from a module global.
"""

from __future__ import annotations

import abc
import re
from dataclasses import dataclass
from datetime import datetime

from shipyard.core.errors import IntegrityError, InvalidInputError

MAX_VALUE_BYTES = 64 * 1024  # a secret is a credential, not a file store
_SCOPE_NAME = re.compile(r"[a-z0-9][a-z0-9_\-]{0,62}")
_SECRET_NAME = re.compile(r"[a-z][a-z0-9_]{0,62}")


class SecretDecryptionError(IntegrityError):
    """A stored value cannot be decrypted: the configured key is not the one it was written with,
    or the ciphertext was changed or moved to another secret's row (code ``integrity_error``)."""


@dataclass(frozen=True)
class SecretInfo:
    """What may be shown about a secret: never its value."""

    project: str
    environment: str
    name: str
    version: int
    created_at: datetime
    created_by: str
    updated_at: datetime
    updated_by: str

    @property
    def path(self) -> str:
        return f"{self.project}/{self.environment}/{self.name}"


def secret_scope(project: str, environment: str) -> str:
    """The scope a binding needs to reach the secrets of ``project``'s ``environment``."""
    return f"project:{project}/env:{environment}"


def check_secret_ref(project: str, environment: str, name: str | None = None) -> None:
    """A one-line InvalidInputError unless the names are in their canonical forms."""
    for what, value in (("project", project), ("environment", environment)):
        if not _SCOPE_NAME.fullmatch(value):
            raise InvalidInputError(
                f"invalid {what} name {value!r}; use 1-63 lower-case letters, digits, '-' and '_', "
                "starting with a letter or digit"
            )
    if name is not None and not _SECRET_NAME.fullmatch(name):
        raise InvalidInputError(
            f"invalid secret name {name!r}; use 1-63 lower-case letters, digits and '_', starting with a "
            "letter (a step sees it as the environment variable of the same name in upper case)"
        )


def check_secret_value(value: str) -> bytes:
    """The value as UTF-8 bytes, if it is non-empty and at most :data:`MAX_VALUE_BYTES`."""
    data = value.encode("utf-8")
    if not data:
        raise InvalidInputError("a secret's value must not be empty; `shipyard secrets delete` removes one")
    if len(data) > MAX_VALUE_BYTES:
        raise InvalidInputError(
            f"a secret's value is at most {MAX_VALUE_BYTES} bytes (this one is {len(data)}); "
            "store large files as artifacts and keep only their credentials here"
        )
    return data


class SecretsBackend(abc.ABC):
    """Where secret values live (see the module doc for how to write one)."""

    @abc.abstractmethod
    def set(
        self, project: str, environment: str, name: str, value: str, *, by: str, at: datetime
    ) -> SecretInfo:
        """Create or replace the value; its metadata (``version`` 1 for a new secret, +1 per write)."""

    @abc.abstractmethod
    def get(self, project: str, environment: str, name: str) -> str:
        """The value; NotFoundError when absent, SecretDecryptionError when it cannot be decrypted."""

    @abc.abstractmethod
    def info(self, project: str, environment: str, name: str) -> SecretInfo:
        """The metadata of one secret (no value); NotFoundError when absent."""

    @abc.abstractmethod
    def list(
        self, project: str, environment: str, limit: int = 100, after: str | None = None
    ) -> list[SecretInfo]:
        """Metadata of the environment's secrets by name: at most ``limit``, names after ``after``."""

    @abc.abstractmethod
    def delete(self, project: str, environment: str, name: str) -> None:
        """Remove the secret; NotFoundError when absent."""

    @abc.abstractmethod
    def rotate_key(self, old_key: bytes, new_key: bytes) -> int:
        """Re-encrypt every value written with ``old_key`` under ``new_key`` (all or nothing) and use
        ``new_key`` from then on; the number of values re-encrypted."""
