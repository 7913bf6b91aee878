"""An A/B experiment in the router: which arm a request belongs to.

The router of a deployment with a running experiment sends a ``share`` percent of the assignment
units to the challenger's backends and the rest to production's. A unit is the request (its
``X-Request-ID`` when the client sent a valid one, else an id the router makes and forwards, so
the service logs the request under the id it was assigned by) or, for a sticky experiment, the
value of a request key such as ``customer_id``: the first row's ``key`` of a records body
(``[{...}]`` or ``{"records": [{...}]}``), the first value of ``{"columns": {key: [...]}}``, the
first entity of ``{"entities": [{...}]}``, or ``?key=VALUE`` on the URL — the places ``shipyard
serve`` reads it from. A unit lands in the same arm every time (a hash salted with the
experiment's name: :func:`shipyard.experiments.assign.arm`, the same assignment ``shipyard serve
--experiment`` makes in one process).
"""

from __future__ import annotations

import itertools
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from shipyard.experiments.assign import arm, unit_value

if TYPE_CHECKING:
    from shipyard.deploy.agent.router import Router

REQUEST_ID = re.compile(rb"^[A-Za-z0-9._:\-]{1,128}$")  # what shipyard serve accepts as X-Request-ID
ARMS = ("control", "challenger")


@dataclass(eq=False)
class Split:
    """A running experiment on a router: ``share`` percent of units to ``challenger``'s backends
    (a router that listens nowhere when the challenger is a model version the agent runs for
    the experiment, or another deployment's router). ``key``: the sticky request key (None: each
    request is its own unit)."""

    name: str
    share: float
    challenger: Router
    key: str | None = None
    arms: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ARMS, 0))
    fallbacks: int = 0  # challenger's units served by production: the challenger had no ready backend
    _prefix: str = field(default_factory=lambda: uuid.uuid4().hex[:16])
    _counter: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def request_id(self, given: bytes | None) -> tuple[str, bool]:
        """The request's id: the client's when valid (False), else a new one to forward (True)."""
        if given is not None and REQUEST_ID.match(given):
            return given.decode("ascii"), False
        return f"{self._prefix}{next(self._counter):012x}", True

    def arm_of(self, unit: str) -> int:
        """1: the challenger's unit, 0: production's."""
        return arm(unit, self.share, self.name)

    def snapshot(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "share": self.share,
            "unit": self.key or "request",
            "requests": dict(self.arms),
            "fallbacks": self.fallbacks,
        }


def sticky_unit(key: str, body: bytes, query: bytes) -> str | None:
    """The value of request key ``key`` (see the module doc); None when the request has none."""
    found = _from_body(key, body)
    if found is not None:
        return found
    if query:
        values = parse_qs(query.decode("latin-1"), max_num_fields=100).get(key)
        if values:
            return unit_value(values[0])
    return None


def _from_body(key: str, body: bytes) -> str | None:
    if not body:
        return None
    import orjson

    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if isinstance(data, Mapping) and len(data) == 1:
        if "records" in data:
            data = data["records"]
        elif "entities" in data:
            data = data["entities"]
        elif isinstance(data.get("columns"), Mapping):
            column = data["columns"].get(key)
            return unit_value(column[0]) if isinstance(column, list) and column else None
    if isinstance(data, list) and data and isinstance(data[0], Mapping):
        return unit_value(data[0].get(key))
    return None
