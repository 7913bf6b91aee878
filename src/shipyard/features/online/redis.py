"""The Redis online store: a hash per (view, entity) — ``t`` the event time, ``v`` the values'
JSON — written by a small Lua script so a stale write never replaces a newer record."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import islice
from typing import TYPE_CHECKING, Any

import orjson

from shipyard.features.online.base import OnlineStore, Record, encode_values

if TYPE_CHECKING:
    import redis

_WRITE = """
local current = redis.call('HGET', KEYS[1], 't')
if current and tonumber(current) > tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 't', ARGV[1], 'v', ARGV[2])
return 1
"""
_CHUNK = 2_000


class RedisOnlineStore(OnlineStore):
    def __init__(self, url: str, prefix: str = "shipyard:features") -> None:
        import redis

        self.uri = url
        self._prefix = prefix
        self._client: redis.Redis = redis.Redis.from_url(url)
        self._write = self._client.register_script(_WRITE)

    def _key(self, view: str, entity: str) -> str:
        return f"{self._prefix}:{view}:{entity}"

    def write(self, view: str, records: Iterable[Record]) -> int:
        total = 0
        iterator = iter(records)
        while chunk := list(islice(iterator, _CHUNK)):
            pipe = self._client.pipeline(transaction=False)
            for key, event_us, values in chunk:
                self._write(keys=[self._key(view, key)], args=[event_us, encode_values(values)], client=pipe)
            pipe.execute()
            total += len(chunk)
        return total

    def read(self, view: str, keys: Sequence[str]) -> list[tuple[int, dict[str, Any]] | None]:
        if len(keys) == 1:
            answers = [self._client.hmget(self._key(view, keys[0]), "t", "v")]
        else:
            pipe = self._client.pipeline(transaction=False)
            for key in keys:
                pipe.hmget(self._key(view, key), "t", "v")
            answers = pipe.execute()
        out: list[tuple[int, dict[str, Any]] | None] = []
        for event, data in answers:
            out.append(None if event is None or data is None else (int(event), orjson.loads(data)))
        return out

    def delete_view(self, view: str) -> int:
        removed = 0
        pattern = f"{self._prefix}:{_glob_escape(view)}:*"
        batch = iter(self._client.scan_iter(match=pattern, count=1000))
        while keys := list(islice(batch, 1000)):
            removed += int(self._client.delete(*keys))
        self._client.delete(self._mark(view))
        return removed

    def _mark(self, view: str) -> str:
        return f"{self._prefix}-watermark:{view}"

    def set_watermark(self, view: str, until_us: int, at_us: int) -> None:
        self._client.hset(self._mark(view), mapping={"until": until_us, "at": at_us})

    def watermark(self, view: str) -> tuple[int, int] | None:
        until, at = self._client.hmget(self._mark(view), "until", "at")
        return None if until is None or at is None else (int(until), int(at))

    def close(self) -> None:
        self._client.close()


def _glob_escape(text: str) -> str:
    return "".join("\\" + ch if ch in "*?[]\\" else ch for ch in text)
