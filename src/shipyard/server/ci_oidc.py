"""Short-lived machine tokens for CI: a CI job's OpenID Connect ID token (GitHub Actions, GitLab CI)
is exchanged for a shipyard token (``POST /api/v1/auth/oidc/exchange``), as trust rules allow.

``shipyard server --ci-trust FILE`` (``SHIPYARD_CI_TRUST_FILE``) names a YAML file of rules::

    rules:
      - name: fraud-main
        issuer: https://token.actions.githubusercontent.com
        audience: shipyard
        subject: "repo:acme/fraud:ref:refs/heads/main"   # a glob: '*' matches any text
        claims: {repository_owner: acme}                   # more string claims, each a glob
        service_account: ci
        project: fraud
        environment: staging
        actions: [apply]
        ttl: 15m                                           # at most 1h
        # keys: the issuer's discovery document (default), or jwks_uri / jwks_file

The exchange reads the issuer from the (unverified) token only to choose the rules and keys; then
the signature is checked against that issuer's JWKS (:mod:`shipyard.server.jwks`, shared with the
web UI's single sign-on), then ``iss``, ``aud``, ``exp`` (and ``nbf``/``iat`` when present), then
the first rule (in file order; only the one the request names, when it names one) whose
audience, subject and claims match. The token it mints is a
machine token of the rule's service account (enabled, a service account), narrowed to the rule's
project, environment and actions, expiring after the rule's TTL. Every outcome is one audit event
and every refusal one line (401).
"""

from __future__ import annotations

import base64
import fnmatch
import threading
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from shipyard.core.errors import ConfigurationError, InvalidInputError, UnauthenticatedError
from shipyard.security.policy import check_actions, environment_scope
from shipyard.security.tokens import parse_duration
from shipyard.server.jwks import JwksKeys, get_json

MAX_TTL = timedelta(hours=1)
MAX_TOKEN_CHARS = 16_384
LEEWAY_S = 60


class ExchangeRefused(UnauthenticatedError):
    """The ID token was not accepted; the message says why (one line)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TrustRule(_Strict):
    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_\-]{0,62}$")]
    issuer: Annotated[str, Field(min_length=8, max_length=500)]
    audience: Annotated[str, Field(min_length=1, max_length=250)]
    subject: Annotated[str, Field(min_length=1, max_length=500)]
    claims: dict[str, str] = {}
    service_account: Annotated[str, Field(min_length=1, max_length=250)]
    project: str
    environment: str
    actions: list[str]
    ttl: str = "15m"
    jwks_uri: str | None = None
    jwks_file: Path | None = None

    @field_validator("issuer", "jwks_uri")
    @classmethod
    def _https(cls, value: str | None) -> str | None:
        if value is None:
            return None
        from urllib.parse import urlsplit

        parts = urlsplit(value)
        loopback = parts.hostname in ("localhost", "127.0.0.1", "::1")
        if parts.scheme != "https" and not (parts.scheme == "http" and loopback):
            raise ValueError(f"{value!r} must be an https:// URL (http:// only on a loopback address)")
        return value.rstrip("/")

    def lifetime(self) -> timedelta:
        return parse_duration(self.ttl)

    def scope(self) -> str:
        return environment_scope(self.project, self.environment)


class TrustFile(_Strict):
    rules: Annotated[list[TrustRule], Field(min_length=1, max_length=1000)]


def load_trust_rules(path: Path) -> list[TrustRule]:
    """The rules of ``path``, each checked (names, scope, actions, TTL); ConfigurationError (one
    line) naming the rule and field that is wrong."""
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(f"cannot read the CI trust file {path}: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
        rules = TrustFile.model_validate(data).rules
    except yaml.YAMLError as exc:
        raise ConfigurationError(
            f"the CI trust file {path} is not valid YAML: {exc}".replace("\n", " ")
        ) from None
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise ConfigurationError(f"CI trust file {path}: {where}: {err['msg']}") from None
    seen: set[str] = set()
    for rule in rules:
        if rule.name in seen:
            raise ConfigurationError(f"CI trust file {path}: rule name {rule.name!r} is used twice")
        seen.add(rule.name)
        try:
            rule.scope()
            check_actions(rule.actions)
            if rule.lifetime() > MAX_TTL:
                raise InvalidInputError(f"ttl {rule.ttl} is longer than 1h, the longest a CI token may live")
        except InvalidInputError as exc:
            raise ConfigurationError(f"CI trust file {path}: rule {rule.name!r}: {exc.message}") from None
        if rule.jwks_uri is not None and rule.jwks_file is not None:
            raise ConfigurationError(f"CI trust file {path}: rule {rule.name!r}: give jwks_uri or jwks_file")
    return rules


def unverified_issuer(token: str) -> str:
    """The ``iss`` claim of a compact JWT before any check (to choose the rules and keys only)."""
    import orjson

    parts = token.split(".")
    if len(parts) != 3:
        raise ExchangeRefused("the token is not a signed JWT (header.payload.signature)")
    try:
        payload = orjson.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, orjson.JSONDecodeError):
        raise ExchangeRefused("the token's payload is not base64url JSON") from None
    issuer = payload.get("iss") if isinstance(payload, dict) else None
    if not isinstance(issuer, str) or not issuer:
        raise ExchangeRefused("the token has no iss (issuer) claim")
    return issuer.rstrip("/")


@dataclass(frozen=True)
class Exchanged:
    rule: TrustRule
    subject: str


class Exchanger:
    """The trust rules and one key cache per key source (kept for the server's life)."""

    def __init__(self, rules: list[TrustRule]) -> None:
        self.rules = rules
        self._keys: dict[tuple[str, str], JwksKeys] = {}
        self._lock = threading.Lock()

    def _keys_for(self, rule: TrustRule) -> JwksKeys:
        source = ("file", str(rule.jwks_file)) if rule.jwks_file else ("uri", rule.jwks_uri or rule.issuer)
        with self._lock:
            if source not in self._keys:
                self._keys[source] = JwksKeys(lambda: _jwks_document(rule), ExchangeRefused)
            return self._keys[source]

    def verify(self, token: str, rule: str | None = None) -> Exchanged:
        """The rule ``token`` matches (only the rule named ``rule`` when given: a job that needs
        several scopes asks for each), once verified; ExchangeRefused (one line) otherwise."""
        if len(token) > MAX_TOKEN_CHARS:
            raise ExchangeRefused(f"the token is longer than {MAX_TOKEN_CHARS} characters")
        issuer = unverified_issuer(token)
        rules = self.rules if rule is None else [r for r in self.rules if r.name == rule]
        if not rules:
            raise ExchangeRefused(f"there is no trust rule named {rule[:80]!r}" if rule else "no trust rules")
        candidates = [r for r in rules if r.issuer == issuer]
        if not candidates:
            raise ExchangeRefused(f"no trust rule names the issuer {issuer[:200]!r}")
        claims = self._keys_for(candidates[0]).decode(token)
        _check_registered(claims, issuer)
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        for_us = [r for r in candidates if r.audience in audiences]
        if not for_us:
            wanted = ", ".join(sorted({r.audience for r in candidates}))
            raise ExchangeRefused(
                f"the token's audience {audiences!r:.200} is not one this server trusts ({wanted})"
            )
        subject = str(claims["sub"])
        for candidate in for_us:
            if _matches(candidate, subject, claims):
                return Exchanged(candidate, subject)
        raise ExchangeRefused(f"no trust rule matches the subject {subject[:300]!r} (and its claims)")


def _jwks_document(rule: TrustRule) -> dict[str, Any]:
    if rule.jwks_file is not None:
        import orjson

        try:
            data = orjson.loads(rule.jwks_file.read_bytes())
        except (OSError, orjson.JSONDecodeError):
            raise ExchangeRefused(
                f"the key file {rule.jwks_file} of rule {rule.name!r} is unreadable"
            ) from None
        if not isinstance(data, dict):
            raise ExchangeRefused(f"the key file {rule.jwks_file} is not a JWKS object")
        return data
    uri = rule.jwks_uri
    if uri is None:
        found = get_json(f"{rule.issuer}/.well-known/openid-configuration", ExchangeRefused, "the CI issuer")
        if str(found.get("issuer", "")).rstrip("/") != rule.issuer or not isinstance(
            found.get("jwks_uri"), str
        ):
            raise ExchangeRefused("the CI issuer's discovery document names another issuer or no jwks_uri")
        uri = str(found["jwks_uri"])
    return get_json(uri, ExchangeRefused, "the CI issuer")


def _check_registered(claims: dict[str, Any], issuer: str) -> None:
    from joserfc.errors import ExpiredTokenError, JoseError
    from joserfc.jwt import JWTClaimsRegistry

    registry = JWTClaimsRegistry(
        leeway=LEEWAY_S,
        iss={"essential": True, "value": issuer},
        aud={"essential": True},
        exp={"essential": True},
        sub={"essential": True},
    )
    try:
        registry.validate(claims)
    except ExpiredTokenError:
        raise ExchangeRefused("the token has expired (or the server's clock is off)") from None
    except JoseError as exc:
        what = getattr(exc, "claim", None) or exc.error
        raise ExchangeRefused(f"the token's {what!s} claim is missing, wrong or not yet valid") from None


def _matches(rule: TrustRule, subject: str, claims: dict[str, Any]) -> bool:
    if not fnmatch.fnmatchcase(subject, rule.subject):
        return False
    for name, pattern in rule.claims.items():
        value = claims.get(name)
        if not isinstance(value, str) or not fnmatch.fnmatchcase(value, pattern):
            return False
    return True
