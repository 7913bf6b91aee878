"""``SqlIdempotencyStore``: the server's ``Idempotency-Key`` records, in the metadata database.

:meth:`claim` is one write transaction (``BEGIN IMMEDIATE`` on SQLite; on Postgres the primary key
decides between two racing first requests): it answers whether the request is new (a pending row
now holds the key), a retry of a finished request (its stored response), a retry of one still
running, or a reuse of the key for another request.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from shipyard.core.errors import ConflictError
from shipyard.metadata.sql.idempotency_schema import idempotency_keys
from shipyard.metadata.sql.store import BorrowedTransactions

_K = idempotency_keys.c


@dataclass(frozen=True)
class Claim:
    outcome: Literal["new", "replay", "running", "mismatch"]
    status: int | None = None
    content_type: str | None = None
    response: bytes | None = None


class SqlIdempotencyStore(BorrowedTransactions):
    def claim(  # noqa: PLR0917
        self, principal: str, key: str, route: str, body_hash: str, now: datetime, ttl: timedelta
    ) -> Claim:
        where = (_K.principal == principal) & (_K.key == key)
        try:
            with self._write() as conn:
                conn.execute(delete(idempotency_keys).where(where & (_K.created_at < now - ttl)))
                row = conn.execute(select(idempotency_keys).where(where)).first()
                if row is None:
                    conn.execute(
                        insert(idempotency_keys).values(
                            principal=principal, key=key, route=route, body_hash=body_hash, created_at=now
                        )
                    )
                    return Claim("new")
        except ConflictError:  # a concurrent first request inserted the key a moment ago
            return Claim("running")
        except IntegrityError:  # pragma: no cover - translated by the store's transactions
            return Claim("running")
        if row.route != route or row.body_hash != body_hash:
            return Claim("mismatch")
        if row.status is None:
            return Claim("running")
        return Claim("replay", int(row.status), row.content_type, bytes(row.response or b""))

    def complete(
        self, principal: str, key: str, status: int, content_type: str | None, response: bytes
    ) -> None:
        with self._write() as conn:
            conn.execute(
                update(idempotency_keys)
                .where((_K.principal == principal) & (_K.key == key))
                .values(status=status, content_type=content_type, response=response)
            )

    def release(self, principal: str, key: str) -> None:
        """Forget a key whose request failed on the server's side: a retry runs it again."""
        with self._write() as conn:
            conn.execute(delete(idempotency_keys).where((_K.principal == principal) & (_K.key == key)))

    def purge(self, before: datetime) -> int:
        with self._write() as conn:
            return int(conn.execute(delete(idempotency_keys).where(_K.created_at < before)).rowcount or 0)
