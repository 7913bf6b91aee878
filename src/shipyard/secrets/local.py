"""``LocalSecretsBackend``: AES-GCM ciphertext in the metadata database (SQLite or Postgres).

It borrows the :class:`~shipyard.metadata.sql.store.SqlMetadataStore`'s engine and transactions, as
the registry and security stores do; the table is ``secrets`` (revision 0008_secrets). See
:mod:`shipyard.secrets.crypto` for the key, the nonce and the associated data.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from shipyard.core.errors import ConfigurationError, NotFoundError
from shipyard.metadata.sql.secrets_schema import secrets
from shipyard.metadata.sql.store import BorrowedTransactions, SqlMetadataStore
from shipyard.secrets.base import (
    SecretDecryptionError,
    SecretInfo,
    SecretsBackend,
    check_secret_ref,
    check_secret_value,
)
from shipyard.secrets.crypto import SecretKey, associated_data, decrypt, encrypt

_S = secrets.c
_INFO = (
    _S.project,
    _S.environment,
    _S.name,
    _S.version,
    _S.created_at,
    _S.created_by,
    _S.updated_at,
    _S.updated_by,
)


def _info(row: Any) -> SecretInfo:
    return SecretInfo(
        project=row.project,
        environment=row.environment,
        name=row.name,
        version=row.version,
        created_at=row.created_at,
        created_by=row.created_by,
        updated_at=row.updated_at,
        updated_by=row.updated_by,
    )


def _missing(project: str, environment: str, name: str) -> NotFoundError:
    return NotFoundError(
        f"secret {name!r} does not exist in {project}/{environment}; "
        f"`shipyard secrets list {project} {environment}` shows them"
    )


def _where(project: str, environment: str, name: str) -> Any:
    return (_S.project == project) & (_S.environment == environment) & (_S.name == name)


class LocalSecretsBackend(BorrowedTransactions, SecretsBackend):
    def __init__(self, metadata: SqlMetadataStore, key: SecretKey) -> None:
        super().__init__(metadata)
        self._key = key

    @property
    def key_id(self) -> str:
        return self._key.key_id

    def set(
        self, project: str, environment: str, name: str, value: str, *, by: str, at: datetime
    ) -> SecretInfo:
        check_secret_ref(project, environment, name)
        plaintext = check_secret_value(value)
        nonce, ciphertext = encrypt(self._key, plaintext, associated_data(project, environment, name))
        sealed = {"key_id": self._key.key_id, "nonce": nonce, "ciphertext": ciphertext}
        where = _where(project, environment, name)
        with self._write() as conn:
            found = conn.execute(select(_S.version).where(where).with_for_update()).first()
            if found is None:
                conn.execute(
                    insert(secrets).values(
                        project=project,
                        environment=environment,
                        name=name,
                        version=1,
                        created_at=at,
                        created_by=by,
                        updated_at=at,
                        updated_by=by,
                        **sealed,
                    )
                )
            else:
                changes = {"version": found.version + 1, "updated_at": at, "updated_by": by}
                conn.execute(update(secrets).where(where).values(**changes, **sealed))
            row = conn.execute(select(*_INFO).where(where)).one()
        return _info(row)

    def get(self, project: str, environment: str, name: str) -> str:
        check_secret_ref(project, environment, name)
        with self._read() as conn:
            row = conn.execute(
                select(_S.key_id, _S.nonce, _S.ciphertext).where(_where(project, environment, name))
            ).first()
        if row is None:
            raise _missing(project, environment, name)
        where = f"{project}/{environment}/{name}"
        if row.key_id != self._key.key_id:
            raise SecretDecryptionError(
                f"cannot decrypt secret {where}: it was written with the key {row.key_id}, and the "
                f"configured key is {self._key.key_id}; configure that key (SHIPYARD_SECRETS_KEY or "
                "SHIPYARD_SECRETS_KEY_FILE), or rotate the old values to this key"
            )
        plaintext = decrypt(self._key, row.nonce, row.ciphertext, associated_data(project, environment, name))
        if plaintext is None:
            raise SecretDecryptionError(
                f"cannot decrypt secret {where}: its stored ciphertext was changed or belongs to "
                "another secret; set the secret again"
            )
        return plaintext.decode("utf-8")

    def info(self, project: str, environment: str, name: str) -> SecretInfo:
        check_secret_ref(project, environment, name)
        with self._read() as conn:
            row = conn.execute(select(*_INFO).where(_where(project, environment, name))).first()
        if row is None:
            raise _missing(project, environment, name)
        return _info(row)

    def list(
        self, project: str, environment: str, limit: int = 100, after: str | None = None
    ) -> list[SecretInfo]:
        check_secret_ref(project, environment)
        query = (
            select(*_INFO)
            .where(_S.project == project, _S.environment == environment)
            .order_by(_S.name)
            .limit(max(0, limit))
        )
        if after is not None:
            query = query.where(_S.name > after)
        with self._read() as conn:
            return [_info(r) for r in conn.execute(query)]

    def delete(self, project: str, environment: str, name: str) -> None:
        check_secret_ref(project, environment, name)
        with self._write() as conn:
            gone = conn.execute(delete(secrets).where(_where(project, environment, name))).rowcount
        if not gone:
            raise _missing(project, environment, name)

    def rotate_key(self, old_key: bytes, new_key: bytes) -> int:
        old, new = SecretKey(old_key), SecretKey(new_key)
        with self._write() as conn:
            count = _reencrypt(conn, old, new)
        self._key = new
        return count


def _reencrypt(conn: Connection, old: SecretKey, new: SecretKey) -> int:
    """Re-encrypt ``old``'s rows under ``new`` inside ``conn``'s transaction; rows already under
    ``new`` are left as they are (a rotation that was cut short can run again)."""
    rows = conn.execute(
        select(_S.project, _S.environment, _S.name, _S.key_id, _S.nonce, _S.ciphertext).with_for_update()
    ).all()
    strangers = sorted({r.key_id for r in rows} - {old.key_id, new.key_id})
    if strangers:
        raise ConfigurationError(
            f"some secrets were written with key(s) {', '.join(strangers)}, neither the old key "
            f"({old.key_id}) nor the new one ({new.key_id}); nothing was re-encrypted"
        )
    count = 0
    for row in rows:
        if row.key_id != old.key_id:
            continue
        aad = associated_data(row.project, row.environment, row.name)
        plaintext = decrypt(old, row.nonce, row.ciphertext, aad)
        if plaintext is None:
            raise SecretDecryptionError(
                f"cannot decrypt secret {row.project}/{row.environment}/{row.name} with the old key; "
                "nothing was re-encrypted"
            )
        nonce, ciphertext = encrypt(new, plaintext, aad)
        conn.execute(
            update(secrets)
            .where(_where(row.project, row.environment, row.name))
            .values(key_id=new.key_id, nonce=nonce, ciphertext=ciphertext)
        )
        count += 1
    return count
