"""The arm a router assigned, told to the backend it forwards to: ``X-Shipyard-Experiment``,
``X-Shipyard-Arm`` and ``X-Shipyard-Arm-Signature``, an HMAC-SHA256 of the experiment, the arm and
the request id under a key only the agent and the services it starts know (``SHIPYARD_ROUTER_KEY``
in their environment, made afresh by each agent). ``shipyard serve`` logs the arm only when the
signature checks; the router drops any copy of these headers a client sent. Without the key (a
service not started by an agent) the headers are ignored, so a client can never choose its arm.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Mapping

KEY_ENV = "SHIPYARD_ROUTER_KEY"
EXPERIMENT_HEADER = "x-shipyard-experiment"
ARM_HEADER = "x-shipyard-arm"
SIGNATURE_HEADER = "x-shipyard-arm-signature"
HEADERS = frozenset(h.encode() for h in (EXPERIMENT_HEADER, ARM_HEADER, SIGNATURE_HEADER))
ARMS = ("control", "challenger")
_EXPERIMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}$")


def new_key() -> str:
    """A fresh key (hex) for one agent."""
    return secrets.token_hex(32)


def sign(key: bytes, experiment: str, arm: str, request_id: str) -> str:
    message = f"{experiment}\n{arm}\n{request_id}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def headers(key: bytes, experiment: str, arm: str, request_id: str) -> list[tuple[bytes, bytes]]:
    """The three headers the router adds to a request it assigned to ``arm``."""
    return [
        (EXPERIMENT_HEADER.encode(), experiment.encode()),
        (ARM_HEADER.encode(), arm.encode()),
        (SIGNATURE_HEADER.encode(), sign(key, experiment, arm, request_id).encode()),
    ]


def verified(key: bytes | None, given: Mapping[str, str], request_id: str) -> tuple[str, str] | None:
    """``(experiment, arm)`` when ``given`` (request headers) carry a valid signature for
    ``request_id`` under ``key``; None otherwise (no key, no headers, or forged)."""
    if key is None:
        return None
    experiment, arm = given.get(EXPERIMENT_HEADER), given.get(ARM_HEADER)
    signature = given.get(SIGNATURE_HEADER)
    if experiment is None or arm is None or signature is None:
        return None
    if arm not in ARMS or not _EXPERIMENT.match(experiment):
        return None
    if not hmac.compare_digest(signature.encode(), sign(key, experiment, arm, request_id).encode()):
        return None
    return experiment, arm
