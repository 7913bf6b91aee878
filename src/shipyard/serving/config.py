"""``ServingConfig``: everything one serving deployment is built from (the CLI fills it in)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from shipyard.core.errors import InvalidInputError

_DEPLOYMENT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}$")


@dataclass(frozen=True)
class Route:
    """One traffic target: ``ref`` is an alias (``champion``) or a version number (``3``) of the
    served model; ``weight`` is its share of traffic in percent."""

    ref: str
    weight: int

    @classmethod
    def parse(cls, text: str) -> Route:
        ref, sep, weight = text.partition("=")
        if not sep or not ref.strip():
            raise InvalidInputError(f"--route {text!r}: use REF=WEIGHT, e.g. champion=90 or 3=10")
        try:
            value = int(weight)
        except ValueError:
            raise InvalidInputError(f"--route {text!r}: the weight must be an integer percent") from None
        if not 0 <= value <= 100:
            raise InvalidInputError(f"--route {text!r}: the weight must be between 0 and 100")
        return cls(ref.strip(), value)


@dataclass(frozen=True)
class ServingConfig:
    """One deployment.

    ``model_uri``: ``models:/NAME@ALIAS``, ``models:/NAME/VERSION`` or ``runs:/RUN/ARTIFACT``.
    ``routes``: canary split between versions of the same model (weights sum to 100); empty means
    all traffic to ``model_uri``. ``shadow``: a version that gets a copy of every request (answers
    logged, never returned). ``max_batch_size`` rows / ``max_wait_ms`` bound one micro-batch;
    ``max_queue`` requests may wait per version before new ones get 503. ``max_in_flight``: the most
    requests admitted at once (:mod:`shipyard.serving.admission`; 0: ``max_queue +
    max_batch_size``; the gate adapts below it, down to one batch); the rest wait at most 25 ms for
    a slot, then get a prebuilt 503 before any other work. ``log_dir``: where the
    prediction log goes (a local folder or ``s3://bucket/prefix``; None disables it).

    ``token_cache_s``: how long a checked token is trusted before it is checked again (at most
    ``MAX_TOKEN_CACHE_S`` = 5 s, so a revoked token stops working within it). ``allowed_hosts``:
    the ``Host`` names answered (``--allowed-hosts``; None: any with auth, loopback names only with
    ``--no-auth``). ``auth_failures`` failed authentications per client address, and per token
    prefix, within ``auth_window_s`` seconds, and the next attempt gets 429.
    """

    model_uri: str
    routes: tuple[Route, ...] = ()
    shadow: str | None = None
    deployment: str = ""
    auth: bool = True
    allow_unsafe_model: bool = False
    trusted: tuple[str, ...] = ()  # --trust: classes a package may name beyond the flavor's allow-list
    secrets: tuple[str, ...] = ()  # --secret: read for SHIPYARD_PROJECT/ENVIRONMENT, set as env variables
    max_batch_size: int = 64
    max_wait_ms: float = 2.0
    max_queue: int = 256
    max_in_flight: int = 0
    timeout_s: float = 10.0
    max_body_bytes: int = 4 * 1024 * 1024
    log_dir: str | None = None
    log_queue: int = 100_000
    log_flush_s: float = 1.0
    log_segment_rows: int = 50_000
    token_cache_s: float = 2.0
    retry_after_s: int = 1
    allowed_hosts: tuple[str, ...] | None = None
    auth_failures: int = 20
    auth_window_s: float = 60.0
    features: tuple[str, ...] = ()
    online_store: str | None = None
    max_entities: int = 1000
    # an A/B experiment (``--experiment NAME``): the two routes are control (first) and challenger;
    # ``assign_key`` (``--assign-key customer_id``) makes the assignment sticky by that request key
    # (an input column, an entities body's join key or ``?KEY=`` on the URL) instead of the request id
    experiment: str | None = None
    assign_key: str | None = None
    experiment_poll_s: float = 5.0  # how often the experiment's state is read (a guardrail stop)
    # the key (hex) an agent's router signs the experiment arm it assigned with
    # (``SHIPYARD_ROUTER_KEY``; :mod:`shipyard.experiments.armtag`): None: arm headers are ignored
    router_key: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.max_batch_size < 1 or self.max_queue < 1:
            raise InvalidInputError("--max-batch-size and the queue size must be at least 1")
        if not 1 <= self.max_entities <= 100_000:
            raise InvalidInputError("--max-entities must be between 1 and 100000")
        if self.max_in_flight < 0:
            raise InvalidInputError("--max-in-flight must be at least 0 (0: --max-queue + --max-batch-size)")
        if self.max_wait_ms < 0 or self.timeout_s <= 0:
            raise InvalidInputError("--max-wait-ms must be >= 0 and the timeout > 0")
        if self.routes and sum(r.weight for r in self.routes) != 100:
            shown = ", ".join(f"{r.ref}={r.weight}" for r in self.routes)
            raise InvalidInputError(f"--route weights must add up to 100, got {shown}")
        from shipyard.security.network import check_allowed_hosts
        from shipyard.security.tokens import MAX_TOKEN_CACHE_S

        if self.secrets:
            from shipyard.flows.decorators import parse_secrets

            parse_secrets(self.deployment_name, self.secrets, what="deployment")

        if not 0 <= self.token_cache_s <= MAX_TOKEN_CACHE_S:
            raise InvalidInputError(
                f"token_cache_s={self.token_cache_s:g}: the token cache must be 0 to {MAX_TOKEN_CACHE_S:g} "
                "seconds (a revoked token keeps working that long)"
            )
        if self.auth_failures < 1 or self.auth_window_s <= 0:
            raise InvalidInputError("--max-auth-failures must be at least 1 and the window more than 0 s")
        check_allowed_hosts(self.allowed_hosts, auth=self.auth)
        if self.experiment is not None and len(self.routes) != 2:
            raise InvalidInputError(
                "--experiment needs two --route options: production first, then the challenger "
                "(e.g. --route champion=90 --route 4=10)"
            )
        if self.assign_key is not None and not re.match(r"^[A-Za-z_][A-Za-z0-9_.\-]{0,99}$", self.assign_key):
            raise InvalidInputError(f"--assign-key {self.assign_key!r}: use a request key like customer_id")
        if self.router_key is not None and not re.match(r"^[0-9a-f]{32,128}$", self.router_key):
            raise InvalidInputError(
                "SHIPYARD_ROUTER_KEY: use 32 to 128 lower-case hex digits (the agent sets it)"
            )
        if self.deployment and not _DEPLOYMENT_RE.match(self.deployment):
            raise InvalidInputError(
                f"deployment name {self.deployment!r}: use letters, digits, '_', '-' and '.' (at most 100)"
            )

    @property
    def in_flight_limit(self) -> int:
        """Requests admitted at once (the admission gate's limit)."""
        from shipyard.serving.admission import default_limit

        return self.max_in_flight or default_limit(self.max_queue, self.max_batch_size)

    @property
    def deployment_name(self) -> str:
        """The deployment's name in the prediction log (default: the model name)."""
        if self.deployment:
            return self.deployment
        rest = self.model_uri.split(":/", 1)[-1]
        name = re.split(r"[@/]", rest, maxsplit=1)[0] or "model"
        return re.sub(r"[^A-Za-z0-9_.\-]", "_", name)


def default_log_dir(home: Path) -> str:
    return str(home / "predictions")
