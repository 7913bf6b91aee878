"""Online stores by URI: ``sqlite:///path/online.db`` (the embedded default) or
``redis://host:6379/0``."""

from __future__ import annotations

from pathlib import Path

from shipyard.core.errors import InvalidInputError
from shipyard.features.online.base import OnlineStore

SCHEMES = ("sqlite", "redis", "rediss")


def open_online_store(uri: str) -> OnlineStore:
    scheme, sep, rest = uri.partition("://")
    if not sep:
        raise InvalidInputError(
            f"online store {uri!r} is not a URI: use one of {', '.join(s + '://' for s in SCHEMES)}"
        )
    if scheme == "sqlite":
        from shipyard.features.online.sqlite import SqliteOnlineStore

        path = rest[1:] if rest.startswith("/") else rest  # as SQLAlchemy: sqlite:////abs, sqlite:///rel
        if not path:
            raise InvalidInputError("sqlite online store needs a file: sqlite:////abs/path/online.db")
        return SqliteOnlineStore(Path(path))
    if scheme in ("redis", "rediss"):
        from shipyard.features.online.redis import RedisOnlineStore

        return RedisOnlineStore(uri)
    raise InvalidInputError(f"online store scheme {scheme!r} is not known: use one of {', '.join(SCHEMES)}")
