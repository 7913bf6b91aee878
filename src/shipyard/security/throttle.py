"""Throttling of failed authentication: a sliding-window count of failures per key, bounded memory.

Pure and thread-safe; the clock is injected (``time.monotonic`` by default). The HTTP surfaces
(the team server's guard and UI login, the inference service's guard) keep one
:class:`AuthThrottle` each and ask it before checking a presented token:

- a **client key** is the peer address of the connection (the ASGI scope's client host; never
  ``X-Forwarded-For``, which any client can write — the servers trust proxy headers only from
  addresses configured with ``--forwarded-allow-ips``). IPv6 peers are keyed by their /64, since one
  host usually owns a whole /64;
- a **token key** is the first :data:`TOKEN_KEY_LEN` characters of the presented bearer value
  (``shp_`` + 8), so guesses spread over many addresses against one token prefix are slowed too.

Only *failures* are counted, and a key is blocked only by failures on that same key: a valid token
from another address with another prefix is never refused because of someone else's guesses.
"""

from __future__ import annotations

import ipaddress
import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass

TOKEN_KEY_LEN = 12  # "shp_" + 8 characters: the display prefix of a token


class FailureLimiter:
    """At most ``max_failures`` failures per key in any ``window_s`` seconds; the next attempt on a
    key that has reached it waits until its oldest counted failure leaves the window.

    Memory is bounded: each key keeps at most ``max_failures`` timestamps, and at most ``max_keys``
    keys are tracked (the least recently failed key is forgotten first).
    """

    def __init__(
        self,
        max_failures: int,
        window_s: float,
        *,
        max_keys: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_failures < 1 or not window_s > 0 or max_keys < 1:
            raise ValueError("max_failures and max_keys must be at least 1 and window_s more than 0")
        self.max_failures = max_failures
        self.window_s = window_s
        self.max_keys = max_keys
        self._clock = clock
        self._lock = threading.Lock()
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def retry_after(self, key: str) -> float:
        """Seconds until ``key`` may try again; 0.0 when it may try now."""
        if key not in self._failures:  # the common case, without the lock (a dict read is atomic)
            return 0.0
        with self._lock:
            times = self._failures.get(key)
            if times is None:
                return 0.0
            now = self._clock()
            self._expire(times, now)
            if not times:
                del self._failures[key]
                return 0.0
            if len(times) < self.max_failures:
                return 0.0
            return max(0.0, times[0] + self.window_s - now)

    def failure(self, key: str) -> None:
        """Count one failed attempt on ``key``."""
        with self._lock:
            now = self._clock()
            times = self._failures.get(key)
            if times is None:
                times = self._failures[key] = deque(maxlen=self.max_failures)
                while len(self._failures) > self.max_keys:
                    self._failures.popitem(last=False)
            else:
                self._failures.move_to_end(key)
                self._expire(times, now)
            times.append(now)

    def __len__(self) -> int:
        with self._lock:
            return len(self._failures)

    def _expire(self, times: deque[float], now: float) -> None:
        while times and times[0] <= now - self.window_s:
            times.popleft()


def client_key(host: str | None) -> str:
    """The throttling key of a peer address: IPv4 as is, IPv6 by its /64, anything else verbatim."""
    if not host:
        return "client:?"
    if ":" not in host:
        return f"client:{host}"  # IPv4 (or a name from a test transport): as is, no parsing
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return f"client:{host}"
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return f"client:{address.ipv4_mapped}"
        return f"client:{ipaddress.IPv6Network((address, 64), strict=False)}"
    return f"client:{address}"


def token_key(value: str) -> str:
    return f"token:{value[:TOKEN_KEY_LEN]}"


@dataclass(frozen=True)
class Throttled:
    """The answer for a blocked attempt: wait ``retry_after_s`` seconds (whole, at least 1)."""

    retry_after_s: int

    @property
    def message(self) -> str:
        return (
            f"too many failed authentication attempts from this client or for this token; "
            f"retry in {self.retry_after_s} s"
        )


class AuthThrottle:
    """Failed-authentication limits per client address and per token prefix (one limiter each)."""

    def __init__(
        self,
        max_failures: int,
        window_s: float,
        *,
        max_keys: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.clients = FailureLimiter(max_failures, window_s, max_keys=max_keys, clock=clock)
        self.tokens = FailureLimiter(max_failures, window_s, max_keys=max_keys, clock=clock)

    def check(self, client: str | None, token: str | None) -> Throttled | None:
        """None when this client may present ``token`` now; else how long it must wait."""
        wait = self.clients.retry_after(client_key(client))
        if token:
            wait = max(wait, self.tokens.retry_after(token_key(token)))
        return Throttled(max(1, math.ceil(wait))) if wait > 0 else None

    def failed(self, client: str | None, token: str | None) -> None:
        """Count a presented credential that did not authenticate."""
        self.clients.failure(client_key(client))
        if token:
            self.tokens.failure(token_key(token))
