"""The HTTP protocol ``shipyard serve`` runs: uvicorn's httptools protocol with the admission gate
inside it, and one socket write per response.

uvicorn turns every request into an ASGI task: a scope, a task, the app's middleware, and two
writes (the head on ``http.response.start``, the body on ``http.response.body``). For a request the
gate refuses, all of that was the cost of saying no. :class:`GatedHttpToolsProtocol` decides before
any of it, where uvicorn would start the task (:meth:`_start_asgi_task`, which both a fresh request
and a pipelined one go through):

- ``/health``, ``/ready`` and ``/metrics`` (:data:`~shipyard.serving.admission.EXEMPT_PATHS`) run as
  uvicorn runs them;
- with a slot free the request runs, marked :data:`~shipyard.serving.admission.ADMITTED` in its
  scope (the app's own gate lets it pass), and its slot is released when its task ends, however it
  ends;
- otherwise it waits in the gate's line (its body, if any, is read meanwhile as uvicorn reads
  it) and, when its wait is over without a slot, gets the gate's 503 as one write of prebuilt
  bytes (``Retry-After``, ``nosniff``, uvicorn's ``date``) straight on the connection: no task, no
  ASGI message, no app code. The connection stays open for the client's next request (``Connection:
  close`` only when the request asked for it or is HTTP/1.0): reconnecting costs a client and the
  server more than a refusal does.

Every response (admitted, exempt or an error) goes out in one write: its head is held until its
first body message and written with it; a ``100 Continue`` is written at once, as before.

The app and its gate are found through ``config.loaded_app`` (uvicorn's wrappers keep the app in
``.app``); an app without a gate is served exactly as uvicorn serves it.
"""

from __future__ import annotations

import asyncio
import contextvars
from typing import TYPE_CHECKING, Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

from shipyard.serving.admission import ADMITTED, EXEMPT_PATHS, Admission

if TYPE_CHECKING:
    from uvicorn._types import ASGI3Application, ASGISendEvent
    from uvicorn.config import Config
    from uvicorn.server import ServerState


def find_gate(app: Any) -> Admission | None:
    """The admission gate of the serving app ``app`` is, or wraps (uvicorn's middleware)."""
    for _ in range(8):
        gate = getattr(app, "admission", None)
        if isinstance(gate, Admission):
            return gate
        app = getattr(app, "app", None)
        if app is None:
            return None
    return None


class _Held:
    """Stands in for the transport while uvicorn renders a response: keeps what it writes."""

    __slots__ = ("closed", "parts", "transport")

    def __init__(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        self.parts: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.parts.append(data)

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.transport.is_closing()


def _one_write(cycle: RequestResponseCycle) -> Any:
    """``cycle``'s ASGI ``send``, writing a response's head together with its first body part."""
    send = RequestResponseCycle.send
    held: list[ASGISendEvent] = []

    async def one_write(message: ASGISendEvent) -> None:
        if message["type"] == "http.response.start" and not cycle.response_started:
            held[:] = [message]  # a 500 after a start the app never finished replaces it
            return
        if not held:
            await send(cycle, message)
            return
        start = held.pop()
        transport, on_response = cycle.transport, cycle.on_response
        shim = _Held(transport)
        cycle.transport = shim  # type: ignore[assignment]
        cycle.on_response = _nothing  # after our write: a pipelined request may answer at once
        try:
            await send(cycle, start)
            await send(cycle, message)
        finally:
            cycle.transport, cycle.on_response = transport, on_response
        if shim.parts:
            transport.write(b"".join(shim.parts))
        if shim.closed:
            transport.close()
        if cycle.response_complete:
            on_response()

    return one_write


def _nothing() -> None:
    return None


class _Ticket:
    """A request of a connection waiting in the gate's line (:class:`shipyard.serving.admission.Waiter`)."""

    __slots__ = ("app", "cycle", "deadline", "protocol")

    def __init__(self, protocol: GatedHttpToolsProtocol, cycle: RequestResponseCycle, app: Any) -> None:
        self.deadline = 0.0
        self.protocol = protocol
        self.cycle = cycle
        self.app = app

    def admit(self) -> bool:
        return self.protocol.run_admitted(self.cycle, self.app)

    def refuse(self) -> bool:
        return self.protocol.refuse(self.cycle)


class GatedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, with the serving app's admission gate and one write per response."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.gate = find_gate(self.app)
        self._completions = 0  # refusals whose on_response_complete is still to run

    def _start_asgi_task(self, cycle: RequestResponseCycle, app: ASGI3Application) -> None:
        gate = self.gate
        if gate is None or app is not self.app or cycle.scope["path"] in EXEMPT_PATHS:
            cycle.send = _one_write(cycle)  # type: ignore[method-assign]
            super()._start_asgi_task(cycle, app)  # not gated (or uvicorn's own limit_concurrency 503)
        elif gate.take():
            if not self.run_admitted(cycle, app):
                gate.release()
        elif not gate.wait(_Ticket(self, cycle, app), self.loop) and self.refuse(cycle):
            gate.on_reject()

    def run_admitted(self, cycle: RequestResponseCycle, app: ASGI3Application) -> bool:
        """Run ``cycle`` in ``app`` on a slot already counted; False when its client is gone."""
        if cycle.disconnected or self.transport.is_closing():
            return False
        gate = self.gate
        assert gate is not None
        cycle.scope[ADMITTED] = True  # type: ignore[literal-required]
        cycle.send = _one_write(cycle)  # type: ignore[method-assign]
        context = contextvars.Context() if self.config.reset_contextvars else None
        task = self.loop.create_task(cycle.run_asgi(app), context=context)
        task.add_done_callback(self.tasks.discard)
        task.add_done_callback(lambda _: gate.release())
        self.tasks.add(task)
        return True

    def refuse(self, cycle: RequestResponseCycle) -> bool:
        """Answer ``cycle`` with the gate's 503 in one write; False when its client is gone."""
        if cycle.disconnected or self.transport.is_closing():
            return False
        assert self.gate is not None
        head = cycle.scope["method"] == "HEAD"
        if cycle.waiting_for_100_continue:  # its body may or may not follow: the framing is lost
            cycle.keep_alive = False
        self.transport.write(self.gate.wire(self.server_state.default_headers, cycle.keep_alive, head))
        cycle.response_started = cycle.response_complete = True
        cycle.message_event.set()
        if not cycle.keep_alive:
            self.transport.close()
        # then the next pipelined request, the keep-alive timer, reading resumed; a pipelined
        # request refused at once from there is completed by this loop, not by recursion
        self._completions += 1
        if self._completions == 1:
            while self._completions:
                self.on_response_complete()
                self._completions -= 1
        return True
