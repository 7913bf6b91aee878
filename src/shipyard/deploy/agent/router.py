"""The router: one stable address per deployment, forwarding HTTP to its current backends.

An ASGI app served by uvicorn (httptools) inside the agent's event loop, one listening socket per
deployment. Each request goes to the ready backend with the fewest requests in flight (round robin
among equals) over a pooled keep-alive connection (:mod:`.upstream`). :meth:`Router.switch`
replaces the backends in one assignment: requests that started keep their backend, new ones go to
the new set, so a rollout loses none; :meth:`Router.drain` then waits until the old backends have
no request in flight. A backend that refuses the connection is passed over for a second and the
request goes to another (it never reached the first); with none ready the answer is 503 with
``Retry-After``, 502 when a backend failed mid-answer, 504 when it did not answer in time.

With an experiment running (:attr:`Router.split`, :mod:`.split`) each request's assignment unit
picks its arm: the challenger's units go to the challenger's backends (production's when the
challenger has none ready: counted as a fallback), the rest to production's; the arm is counted
and answered in ``X-Shipyard-Arm``. With the agent's key (``arm_key``) the backend is told the
arm too, signed (:mod:`shipyard.experiments.armtag`), so ``shipyard serve`` logs each row's
experiment and arm wherever it lands (a challenger deployment's own log included); a client's copy
of those headers is dropped here, and every split request gets an id (the signature names it).
A sticky experiment's request without its key is refused (400 ``missing_assignment_key``), as
``shipyard serve`` refuses it.

The client's ``Host`` is forwarded (the service checks it); ``X-Forwarded-For`` is replaced by the
client's address (believed by the service only when the agent says so); hop-by-hop headers are
dropped both ways.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import uvicorn

from shipyard.deploy.agent.split import ARMS, Split, sticky_unit
from shipyard.deploy.agent.upstream import Answer, UpstreamError, UpstreamPool
from shipyard.experiments import armtag

HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
        b"content-length",
        b"x-forwarded-for",
        b"expect",
    }
)
DROPPED = HOP_BY_HOP | armtag.HEADERS  # request headers never forwarded: only the router sets an arm
RETRY_AFTER = b"1"


@dataclass(eq=False)
class Target:
    """One backend as the router sees it."""

    port: int
    pool: UpstreamPool
    in_flight: int = 0
    served: int = 0
    down_until: float = 0.0


@dataclass
class RouterStats:
    requests: int = 0
    errors: dict[int, int] = field(default_factory=dict)  # status -> count, of answers the router made


def _error(code: str, message: str) -> bytes:
    import orjson

    return orjson.dumps({"error": {"code": code, "message": message}})


class Router:
    """The stable address of deployment ``name`` (``host:port``)."""

    def __init__(
        self,
        name: str,
        host: str,
        port: int,
        *,
        max_body: int = 16 * 1024 * 1024,
        timeout_s: float = 60.0,
        backend_host: str = "127.0.0.1",
        arm_key: bytes | None = None,
    ) -> None:
        self.name = name
        self.host = host
        self.port = port
        self.max_body = max_body
        self.timeout_s = timeout_s
        self.backend_host = backend_host
        self.arm_key = arm_key  # signs the arm told to the backends (None: not told)
        self.targets: tuple[Target, ...] = ()
        self.stats = RouterStats()
        self.split: Split | None = None  # a running experiment (see the module doc)
        self._turn = 0
        self._server: _QuietServer | None = None
        self._task: asyncio.Task[None] | None = None

    # ---- backends --------------------------------------------------------------------------------
    def switch(self, ports: Sequence[int]) -> list[Target]:
        """Send new requests to ``ports`` from now on (one assignment); returns the targets left
        out, whose requests in flight finish on them (:meth:`drain`)."""
        kept = {t.port: t for t in self.targets}
        new = tuple(
            kept.pop(p) if p in kept else Target(p, UpstreamPool(self.backend_host, p)) for p in ports
        )
        self.targets = new
        return list(kept.values())

    @property
    def ports(self) -> list[int]:
        return [t.port for t in self.targets]

    async def drain(self, targets: Sequence[Target], timeout_s: float) -> bool:
        """Wait until ``targets`` have no request in flight (True) or ``timeout_s`` passed (False);
        then close their pooled connections."""
        deadline = time.monotonic() + timeout_s
        try:
            while any(t.in_flight for t in targets):
                if time.monotonic() >= deadline:
                    return False
                await asyncio.sleep(0.01)
            return True
        finally:
            for target in targets:
                target.pool.close()

    def _pick(self, tried: set[int], targets: tuple[Target, ...] | None = None) -> Target | None:
        targets = self.targets if targets is None else targets
        now = time.monotonic()
        best: Target | None = None
        count = len(targets)
        self._turn += 1
        for i in range(count):
            target = targets[(self._turn + i) % count]
            if target.port in tried or target.down_until > now:
                continue
            if best is None or target.in_flight < best.in_flight:
                best = target
        return best

    # ---- serving ---------------------------------------------------------------------------------
    async def start(self) -> None:
        """Listen on ``host:port`` (ConfigurationError when the port is taken)."""
        from shipyard.core.errors import ConfigurationError

        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        # IPPROTO_TCP named: asyncio sets TCP_NODELAY only on sockets that say so (else Nagle and
        # delayed ACKs add ~40 ms to every answer)
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
        except OSError as exc:
            sock.close()
            raise ConfigurationError(
                f"deployment {self.name!r}: cannot listen on {self.host}:{self.port} ({exc.strerror}); "
                "free the port or give the deployment another in the agent's ports.json"
            ) from None
        sock.set_inheritable(False)
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self,
            lifespan="off",
            access_log=False,
            server_header=False,
            date_header=False,
            log_level="warning",
            timeout_keep_alive=30,
            timeout_graceful_shutdown=5,
            backlog=1024,
            ws="none",
            proxy_headers=False,  # the client is who connected; what it claims is replaced
        )
        if _has_httptools():
            config.http = "httptools"
        self._server = _QuietServer(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]), name=f"router-{self.name}")
        while not self._server.started:
            if self._task.done():
                self._task.result()
                break
            await asyncio.sleep(0.005)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._task is not None:
            with contextlib.suppress(Exception):
                await self._task
        for target in self.targets:
            target.pool.close()
        self.targets = ()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        self.stats.requests += 1
        body = await self._body(receive)
        if body is None:
            await self._answer(send, 413, "payload_too_large", f"request body is over {self.max_body} bytes")
            return
        headers = [(k, v) for k, v in scope["headers"] if k not in DROPPED]
        client = scope.get("client")
        if client:
            headers.append((b"x-forwarded-for", str(client[0]).encode("latin-1")))
        target_path = scope.get("raw_path") or scope["path"].encode()
        if scope.get("query_string"):
            target_path += b"?" + scope["query_string"]
        split = self.split
        challenger: Router | None = None
        tag: tuple[str, str] | None = None
        if split is not None:
            rid = self._request_id(split, headers)
            tag = (split.name, rid)
            unit = (
                rid if split.key is None else sticky_unit(split.key, body, scope.get("query_string") or b"")
            )
            if unit is None:
                key = split.key
                message = (
                    f"this deployment assigns experiment traffic by {key!r}: send it as an input "
                    f"column or as ?{key}=VALUE on the URL (a string or an integer)"
                )
                await self._answer(send, 400, "missing_assignment_key", message)
                return
            if split.arm_of(unit):  # the challenger's; production's backends when it has none
                challenger = split.challenger
        served: list[int] = []
        answer = await self._forward(
            scope["method"], target_path.decode("latin-1"), headers, body, send, challenger, served, tag
        )
        if answer is None:
            return
        out = [(k, v) for k, v in answer.headers if k.lower() not in HOP_BY_HOP]
        out.append((b"content-length", str(len(answer.body)).encode()))
        if split is not None:
            arm = ARMS[1] if challenger is not None and served[0] == 0 else ARMS[0]
            split.arms[arm] += 1
            if challenger is not None and arm == ARMS[0]:
                split.fallbacks += 1
            elif challenger is not None:
                challenger.stats.requests += 1
            out.append((b"x-shipyard-arm", arm.encode()))
        await send({"type": "http.response.start", "status": answer.status, "headers": out})
        await send({"type": "http.response.body", "body": answer.body})

    @staticmethod
    def _request_id(split: Split, headers: list[tuple[bytes, bytes]]) -> str:
        """The request's id (the unit of a request-assigned experiment); one the router makes is
        added to ``headers``, so the service logs the request under it."""
        given = next((v for k, v in headers if k == b"x-request-id"), None)
        rid, made = split.request_id(given)
        if made:
            headers[:] = [(k, v) for k, v in headers if k != b"x-request-id"]
            headers.append((b"x-request-id", rid.encode("ascii")))
        return rid

    async def _forward(  # noqa: PLR0917
        self,
        method: str,
        target: str,
        headers: list[tuple[bytes, bytes]],
        body: bytes,
        send: Any,
        challenger: Router | None = None,
        served: list[int] | None = None,
        tag: tuple[str, str] | None = None,
    ) -> Answer | None:
        """Send the request to a ready backend: ``challenger``'s when given and it has one, else
        this router's (a refused backend is passed over for the next); ``served`` gets 0 when
        the challenger's answered, 1 when this router's did. The backends are looked up again
        after a refusal, so a switch meanwhile is seen. ``tag`` (experiment, request id): the
        backend is told the arm of the group it belongs to, signed with :attr:`arm_key`."""
        tried: set[int] = set()
        while True:
            groups = (self.targets,) if challenger is None else (challenger.targets, self.targets)
            chosen, group = None, 0
            for group, targets in enumerate(groups):  # noqa: B007 - the group is used below
                chosen = self._pick(tried, targets)
                if chosen is not None:
                    break
            if chosen is None:
                if tried:
                    message = "no backend of the deployment accepted the request; retry shortly"
                else:
                    message = f"deployment {self.name!r} has no ready backend; retry shortly"
                await self._answer(send, 503, "unavailable", message, retry=True)
                return None
            sent = headers
            if tag is not None and self.arm_key is not None:
                arm = ARMS[1] if challenger is not None and group == 0 else ARMS[0]
                sent = headers + armtag.headers(self.arm_key, tag[0], arm, tag[1])
            chosen.in_flight += 1
            try:
                answer = await chosen.pool.request(method, target, sent, body, timeout=self.timeout_s)
                chosen.served += 1
                if served is not None:
                    served.append(group if challenger is not None else 1)
                return answer
            except UpstreamError as exc:
                if exc.retry_safe:
                    tried.add(chosen.port)
                    chosen.down_until = time.monotonic() + 1.0
                    continue
                if exc.timeout:
                    await self._answer(send, 504, "timeout", f"the backend did not answer: {exc}")
                else:
                    await self._answer(send, 502, "bad_gateway", f"the backend failed: {exc}")
                return None
            finally:
                chosen.in_flight -= 1

    async def _body(self, receive: Any) -> bytes | None:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return b"".join(chunks)
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    async def _answer(self, send: Any, status: int, code: str, message: str, *, retry: bool = False) -> None:
        self.stats.errors[status] = self.stats.errors.get(status, 0) + 1
        body = _error(code, message)
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"x-content-type-options", b"nosniff"),
        ]
        if retry:
            headers.append((b"retry-after", RETRY_AFTER))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _has_httptools() -> bool:
    import importlib.util

    return importlib.util.find_spec("httptools") is not None


class _QuietServer(uvicorn.Server):
    """A uvicorn server that leaves the process's signals to the agent."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield
