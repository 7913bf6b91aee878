"""``POST /api/v1/auth/oidc/exchange``: a CI job's OIDC ID token for a short-lived machine token.

Two local issuers stand in for GitHub Actions: one serves its discovery document and JWKS on
loopback (tests/server/oidc_issuer.py), the other's keys are a JWKS file. A token that matches a
trust rule gets a machine token with the rule's scope, actions and TTL; an expired token, another
audience, an unknown issuer, an unmatched subject or claim, a bad signature and a rule naming a
person rather than a service account are each refused with one line (401) and audited."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

from shipyard.core.errors import ConfigurationError
from shipyard.server.app import ServerConfig
from shipyard.server.ci_oidc import load_trust_rules
from tests.server.access_helpers import client_for
from tests.server.live import LiveServer, live_server
from tests.server.oidc_issuer import Issuer
from tests.ui.live import LiveServer as Served

FILE_ISSUER = "https://ci.example.test"
MAIN = "repo:acme/fraud:ref:refs/heads/main"
EXCHANGE = "/api/v1/auth/oidc/exchange"


@pytest.fixture(scope="module")
def issuer() -> Iterator[Issuer]:
    made = Issuer()
    with Served(made.app()) as served:
        made.url = served.url
        yield made


@pytest.fixture(scope="module")
def file_key() -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": "f1", "use": "sig"})


def trust_file(root: Path, issuer: Issuer, file_key: RSAKey) -> Path:
    jwks = root / "jwks.json"
    jwks.write_text(json.dumps({"keys": [file_key.as_dict(private=False)]}))
    rules = {
        "rules": [
            {
                "name": "main-staging",
                "issuer": issuer.url,
                "audience": "shipyard",
                "subject": MAIN,
                "service_account": "ci",
                "project": "fraud",
                "environment": "staging",
                "actions": ["apply"],
                "ttl": "15m",
            },
            {
                "name": "pr-dev",
                "issuer": FILE_ISSUER,
                "audience": "shipyard",
                "subject": "repo:acme/fraud:pull_request",
                "claims": {"repository_owner": "acme"},
                "service_account": "ci",
                "project": "fraud",
                "environment": "dev",
                "actions": ["run"],
                "ttl": "5m",
                "jwks_file": str(jwks),
            },
            {
                "name": "to-a-person",
                "issuer": FILE_ISSUER,
                "audience": "shipyard",
                "subject": "repo:acme/person:*",
                "service_account": "alice",
                "project": "fraud",
                "environment": "dev",
                "actions": ["run"],
                "jwks_file": str(jwks),
            },
        ]
    }
    path = root / "trust.yaml"
    path.write_text(json.dumps(rules))  # JSON is YAML
    return path


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, issuer: Issuer, file_key: RSAKey
) -> Iterator[LiveServer]:
    root = tmp_path_factory.mktemp("ci-oidc")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SHIPYARD_CI_TRUST_FILE", str(trust_file(root, issuer, file_key)))
        with live_server(root, ServerConfig(token_cache_s=0.0, auth_failures=10_000)) as live:
            with client_for(live, live.token) as admin:
                for name, kind in (("ci", "service"), ("alice", "user")):
                    admin.post(
                        "/api/v1/users", json={"name": name, "role": None, "kind": kind}
                    ).raise_for_status()
                binding = {"principal": "ci", "role": "maintainer", "scope": "project:fraud"}
                admin.post("/api/v1/bindings", json=binding).raise_for_status()
            yield live


def id_token(key: RSAKey, kid: str, **claims: Any) -> str:
    now = int(time.time())
    base = {"aud": "shipyard", "iat": now, "nbf": now, "exp": now + 300, "repository_owner": "acme"}
    merged = {k: v for k, v in {**base, **claims}.items() if v is not None}
    return jwt.encode({"alg": "RS256", "kid": kid}, merged, key)


def exchange(server: LiveServer, token: str) -> httpx.Response:
    with httpx.Client(base_url=server.url) as anon:
        return anon.post(EXCHANGE, json={"token": token})


def audit(server: LiveServer) -> list[tuple[str, int, str]]:
    ctx = server.app.state.ctx
    ctx.audit.flush()
    events = ctx.security.list_audit(limit=10_000)
    return [(e.user, e.status, e.detail or "") for e in events if e.action == "oidc.exchange"]


def test_a_matching_token_gets_a_short_lived_machine_token(server: LiveServer, issuer: Issuer) -> None:
    answer = exchange(server, id_token(issuer.key, "k1", iss=issuer.url, sub=MAIN))
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["expires_in"] == 900 and body["record"]["actions"] == ["apply"]
    assert body["record"]["user"] == "ci" and body["record"]["scope"] == "project:fraud/env:staging"
    with client_for(server, body["token"]) as ci:
        assert ci.get("/api/v1/whoami").json()["token_actions"] == ["apply"]
        assert ci.get("/api/v1/deploy/fraud/staging/objects").status_code == 200
        refused = ci.get("/api/v1/deploy/fraud/production/objects")
        assert refused.status_code == 403 and "env:staging" in refused.json()["error"]["message"]
    user, status, detail = audit(server)[0]
    assert (user, status) == ("ci", 201) and '"rule":"main-staging"' in detail
    assert body["token"] not in detail


def test_keys_from_a_file_and_claims_must_match(server: LiveServer, file_key: RSAKey) -> None:
    pr = "repo:acme/fraud:pull_request"
    answer = exchange(server, id_token(file_key, "f1", iss=FILE_ISSUER, sub=pr))
    assert answer.status_code == 201, answer.text
    assert answer.json()["expires_in"] == 300 and answer.json()["record"]["actions"] == ["run"]
    fork = exchange(server, id_token(file_key, "f1", iss=FILE_ISSUER, sub=pr, repository_owner="evil"))
    assert fork.status_code == 401 and "no trust rule matches the subject" in fork.text


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"exp": int(time.time()) - 3600, "iat": int(time.time()) - 7200}, "expired"),
        ({"aud": "someone-else"}, "audience"),
        ({"iss": "https://unknown.example.test"}, "no trust rule names the issuer"),
        ({"sub": "repo:acme/fraud:ref:refs/heads/feature"}, "no trust rule matches the subject"),
        ({"sub": None}, "sub claim"),
        ({"key": "other"}, "signature is not valid"),
        (
            {"iss": FILE_ISSUER, "sub": "repo:acme/person:ref:refs/heads/main"},
            "not an enabled service account",
        ),
        ({"raw": "not-a-jwt"}, "not a signed JWT"),
    ],
    ids=[
        "expired",
        "wrong-audience",
        "wrong-issuer",
        "unmatched-subject",
        "no-subject",
        "bad-signature",
        "person",
        "garbage",
    ],
)
def test_each_bad_token_is_refused_in_one_line_and_audited(
    server: LiveServer, issuer: Issuer, file_key: RSAKey, change: dict[str, Any], says: str
) -> None:
    claims: dict[str, Any] = {"iss": issuer.url, "sub": MAIN, **change}
    key, kid = issuer.key, "k1"
    if claims.pop("key", None) == "other":
        key = RSAKey.generate_key(2048, parameters={"kid": "k1"})
    if claims["iss"] == FILE_ISSUER:
        key, kid = file_key, "f1"
    raw = claims.pop("raw", None)
    token = raw if raw is not None else id_token(key, kid, **claims)
    before = len(audit(server))
    answer = exchange(server, token)
    assert answer.status_code == 401, answer.text
    message = answer.json()["error"]["message"]
    assert says in message and "\n" not in message
    events = audit(server)
    assert len(events) == before + 1
    user, status, detail = events[0]
    assert (user, status) == ("oidc", 401) and says in detail and token not in detail


def test_exchange_needs_no_token_but_a_valid_body(server: LiveServer) -> None:
    with httpx.Client(base_url=server.url) as anon:
        assert anon.post(EXCHANGE, json={}).status_code == 400
        assert anon.post(EXCHANGE, json={"token": "x" * 20_000}).status_code == 400


def test_a_bad_trust_file_is_refused_in_one_line(tmp_path: Path) -> None:
    def rules(**rule: Any) -> Path:
        base = {
            "name": "r",
            "issuer": "https://token.actions.githubusercontent.com",
            "audience": "shipyard",
            "subject": "repo:a/b:*",
            "service_account": "ci",
            "project": "fraud",
            "environment": "staging",
            "actions": ["apply"],
        }
        path = tmp_path / "trust.yaml"
        path.write_text(json.dumps({"rules": [{**base, **rule}]}))
        return path

    assert load_trust_rules(rules())[0].lifetime().total_seconds() == 900
    for bad, says in (
        ({"ttl": "2h"}, "longest a CI token may live"),
        ({"actions": ["deploy"]}, "unknown action"),
        ({"issuer": "http://example.com"}, "https://"),
        ({"project": "Fraud!"}, "invalid project name"),
        ({"extra": 1}, "extra"),
    ):
        with pytest.raises(ConfigurationError) as refused:
            load_trust_rules(rules(**bad))
        assert says in refused.value.message.lower() or says in refused.value.message
        assert "\n" not in refused.value.message


def test_ci_login_prints_the_exchanged_token(
    server: LiveServer,
    file_key: RSAKey,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from shipyard.cli.main import main

    id_file = tmp_path / "id-token"
    id_file.write_text(id_token(file_key, "f1", iss=FILE_ISSUER, sub="repo:acme/fraud:pull_request"))
    monkeypatch.setenv("SHIPYARD_URI", server.url)
    monkeypatch.setenv("SHIPYARD_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("SHIPYARD_TOKEN", raising=False)
    capsys.readouterr()
    assert main(["ci", "login", "--rule", "pr-dev", "--id-token-file", str(id_file)]) == 0
    out = capsys.readouterr()
    token = out.out.strip()
    assert token.startswith("shp_") and "signed in as ci: run on project:fraud/env:dev for 300 s" in out.err
    with client_for(server, token) as ci:
        assert ci.get("/api/v1/whoami").json()["token_actions"] == ["run"]
    # a rule that trusts another issuer: refused in one line
    assert main(["ci", "login", "--rule", "main-staging", "--id-token-file", str(id_file)]) == 1
    err = capsys.readouterr().err
    assert (
        "refused the ID token: no trust rule names the issuer" in err and len(err.strip().splitlines()) == 1
    )
