"""The inference service's edges (issue 12, holes 6, 8, 9 and 11): /docs and /openapi.json behind a
token and without training rows, /feedback only for writers and refused before an oversized body is
read, nosniff on every answer, a short token cache that a revocation gets through, failed
authentication throttled per client and per token prefix (X-Forwarded-For ignored), the Host check
of --no-auth (DNS rebinding), and a 503 that names no internal URL."""

from __future__ import annotations

import json
import logging
import secrets
import socket
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest

from shipyard.core.clock import utcnow
from shipyard.core.errors import ConfigurationError, InvalidInputError
from shipyard.metadata.security import TokenRecord, open_security_store
from shipyard.registry.signature import ColumnSpec, Signature
from shipyard.server.accounts import add_user, issue_token
from shipyard.serving import ServingConfig, create_serving_app
from tests.serving.conftest import FEATURES, Env, auth, free_port, live, make_data, rows

LIMIT = 4096


def user_token(env: Env, user: str, role: str) -> tuple[str, TokenRecord]:
    security = open_security_store(env.stores.metadata)
    if all(u.name != user for u in security.list_users()):
        add_user(security, user, role, by="test")
    return issue_token(security, user, "guard-gaps")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def from_address(address: str) -> httpx.Client:
    """A client whose connections come from ``address`` (any of 127.0.0.0/8 reaches the server)."""
    return httpx.Client(transport=httpx.HTTPTransport(local_address=address), timeout=10)


def unknown_token() -> str:
    return "shp_" + secrets.token_urlsafe(32)


@pytest.fixture(scope="module")
def service(env: Env) -> Iterator[str]:
    config = ServingConfig(
        "models:/fraud@champion",
        log_dir=str(env.root / "log-gaps"),
        max_body_bytes=LIMIT,
        allowed_hosts=("127.0.0.1", "localhost"),
    )
    with live(create_serving_app(config, stores=env.stores)) as url:
        yield url


# ---- hole 6: docs, example rows, feedback, nosniff, token cache ----------------------------------


@pytest.mark.parametrize("path", ["/docs", "/openapi.json", "/docs/oauth2-redirect"])
def test_docs_and_the_schema_need_a_token(service: str, env: Env, path: str) -> None:
    anon = httpx.get(service + path)
    assert anon.status_code == 401 and anon.json()["error"]["code"] == "unauthenticated"
    reader, _ = user_token(env, "rhea", "viewer")
    assert httpx.get(service + path, headers=bearer(reader)).status_code == 200


def test_the_openapi_example_is_made_of_placeholders_not_training_rows(service: str, env: Env) -> None:
    response = httpx.get(service + "/openapi.json", headers=auth(env))
    doc = response.json()
    body = doc["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body["example"] == [dict.fromkeys(FEATURES, 0.0)]
    training = make_data(2000, 1)[0].head(5)  # version 1's input example, stored in its package
    text = response.text
    assert not [v for v in training.to_numpy().ravel() if repr(float(v)) in text]
    # the docs also say which routes take a token
    assert doc["paths"]["/feedback"]["post"]["security"] == [{"bearer": []}]
    assert "security" not in doc["paths"]["/health"]["get"]


def test_example_rows_come_from_types_only() -> None:
    from shipyard.serving.schema import example_row

    sig = Signature(
        inputs=(
            ColumnSpec("merchant", "string"),
            ColumnSpec("when", "datetime"),
            ColumnSpec("flag", "bool"),
            ColumnSpec("count", "int64"),
            ColumnSpec("amount", "float32"),
            ColumnSpec("pixels", "float64", (2, 3)),
            ColumnSpec("huge", "float64", (-1, 4096)),
        )
    )
    row = example_row(sig)
    assert row["merchant"] == "string" and row["flag"] is False and row["count"] == 0
    assert row["amount"] == 0.0 and row["when"] == "2024-01-01T00:00:00"
    assert row["pixels"] == [[0.0] * 3] * 2 and row["huge"] == [[0.0]]


def test_feedback_needs_a_token_that_may_write(service: str, env: Env) -> None:
    labels = {"labels": [{"request_id": "never-seen", "label": 1}]}
    reader, _ = user_token(env, "rhea", "viewer")
    writer, _ = user_token(env, "wes", "developer")
    assert httpx.post(service + "/feedback", json=labels).status_code == 401
    refused = httpx.post(service + "/feedback", json=labels, headers=bearer(reader))
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "permission_denied"
    for token in (writer, env.token):  # a writer, an admin
        ok = httpx.post(service + "/feedback", json=labels, headers=bearer(token))
        assert ok.status_code == 200, ok.text
    # readers still predict
    assert httpx.post(service + "/predict", json=rows(1, 1), headers=bearer(reader)).status_code == 200


def _raw(url: str, head: str, body: bytes = b"") -> str:
    """Send a request by hand and return the status line; fails (timeout) if the service waits
    for the rest of a body it should have refused already."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=5) as sock:
        sock.sendall(head.encode("latin-1") + body)
        reply = sock.recv(65536).decode("latin-1")
    return reply.split("\r\n", 1)[0]


@pytest.mark.parametrize("path", ["/feedback", "/predict"])
def test_an_oversized_body_is_refused_before_it_is_read(service: str, env: Env, path: str) -> None:
    common = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {env.token}\r\n"
        "Content-Type: application/json\r\n"
    )
    # a declared length over the limit: 413 at once, nothing of the body sent
    assert " 413 " in _raw(service, common + f"Content-Length: {100 * LIMIT}\r\n\r\n")
    # a chunked body: 413 as soon as the bytes seen pass the limit (the body never ends)
    chunk = b"[" + b" " * LIMIT
    head = common + "Transfer-Encoding: chunked\r\n\r\n"
    assert " 413 " in _raw(service, head, f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")


def test_every_answer_says_nosniff(service: str, env: Env) -> None:
    reader, _ = user_token(env, "rhea", "viewer")
    big = rows(1, 1) * 100
    answers = {
        200: httpx.get(service + "/health"),
        401: httpx.post(service + "/predict", json=rows(1, 1)),
        403: httpx.post(service + "/feedback", json={"labels": []}, headers=bearer(reader)),
        404: httpx.get(service + "/nothing-here", headers=auth(env)),
        405: httpx.get(service + "/predict", headers=auth(env)),
        413: httpx.post(service + "/predict", json=big, headers=auth(env)),
        415: httpx.post(
            service + "/predict", content=b"x", headers={**auth(env), "content-type": "text/plain"}
        ),
        421: httpx.get(service + "/metrics", headers={**auth(env), "Host": "evil.example"}),
        422: httpx.post(service + "/predict", json={"nope": 1}, headers=auth(env)),
    }
    answers[201] = httpx.get(service + "/metrics", headers=auth(env))  # another 200, not a route error
    for status, response in answers.items():
        assert response.status_code == (200 if status == 201 else status), (status, response.text)
        assert response.headers["x-content-type-options"] == "nosniff", status
        if status >= 400 and status != 405:
            assert response.headers["content-type"] == "application/json"


def test_a_revoked_token_stops_working_within_the_cache_time(env: Env) -> None:
    config = ServingConfig("models:/fraud@champion", log_dir=None)
    assert 0 < config.token_cache_s <= 5
    with pytest.raises(InvalidInputError, match="token cache"):
        ServingConfig("models:/fraud@champion", token_cache_s=30)
    token, record = user_token(env, "vera", "viewer")
    with live(create_serving_app(config, stores=env.stores)) as url:
        assert httpx.get(url + "/metrics", headers=bearer(token)).status_code == 200
        open_security_store(env.stores.metadata).revoke_token(record.id, utcnow())
        time.sleep(config.token_cache_s + 0.5)
        refused = httpx.get(url + "/metrics", headers=bearer(token))
        assert refused.status_code == 401
        assert refused.headers["x-content-type-options"] == "nosniff"


# ---- hole 8: throttling failed authentication ----------------------------------------------------


def test_failed_tokens_are_throttled_per_client_and_per_token_prefix(env: Env) -> None:
    config = ServingConfig("models:/fraud@champion", log_dir=None, auth_failures=3)
    with live(create_serving_app(config, stores=env.stores)) as url:
        with from_address("127.0.0.2") as client:
            for _ in range(3):
                assert client.get(url + "/metrics", headers=bearer(unknown_token())).status_code == 401
            blocked = client.get(url + "/metrics", headers=bearer(unknown_token()))
            assert blocked.status_code == 429
            assert int(blocked.headers["retry-after"]) >= 1
            assert blocked.json()["error"]["code"] == "too_many_requests"
            assert blocked.headers["x-content-type-options"] == "nosniff"
            for i in range(5):  # a new X-Forwarded-For on every try changes nothing
                spoofed = {**bearer(unknown_token()), "X-Forwarded-For": f"203.0.113.{i}"}
                assert client.get(url + "/metrics", headers=spoofed).status_code == 429
        with from_address("127.0.0.3") as other:  # another client with a valid token: unaffected
            assert other.get(url + "/metrics", headers=auth(env)).status_code == 200
        # guesses at one token prefix from many addresses are throttled by the prefix
        prefix = "shp_Gu3ssMe1"  # the first 12 characters are the key
        for n in (4, 5, 6):
            with from_address(f"127.0.0.{n}") as client:
                guess = prefix + secrets.token_urlsafe(32)
                assert client.get(url + "/metrics", headers=bearer(guess)).status_code == 401
        with from_address("127.0.0.7") as client:
            guess = prefix + secrets.token_urlsafe(32)
            assert client.get(url + "/metrics", headers=bearer(guess)).status_code == 429
            assert client.get(url + "/metrics", headers=auth(env)).status_code == 200
        # open routes stay open for a blocked client
        with from_address("127.0.0.2") as client:
            assert client.get(url + "/health").status_code == 200


# ---- hole 9: Host checks (DNS rebinding) ---------------------------------------------------------


def test_no_auth_answers_only_loopback_host_names(env: Env) -> None:
    config = ServingConfig("models:/fraud@champion", auth=False, log_dir=None)
    with live(create_serving_app(config, stores=env.stores)) as url:
        port = urlsplit(url).port
        for host in (f"localhost:{port}", "127.0.0.1", f"127.8.9.10:{port}", f"[::1]:{port}", "LOCALHOST"):
            got = httpx.post(url + "/predict", json=rows(1, 1), headers={"Host": host})
            assert got.status_code == 200, (host, got.text)
        for host in (
            "evil.example",
            f"evil.example:{port}",
            "127.0.0.1.nip.io",
            "localhost.evil.example",
            "0.0.0.0",
        ):
            refused = httpx.post(url + "/predict", json=rows(1, 1), headers={"Host": host})
            assert refused.status_code == 421, host
            assert refused.json()["error"]["code"] == "misdirected_request"
            assert refused.headers["x-content-type-options"] == "nosniff"


def test_allowed_hosts_narrow_an_authenticated_service(service: str, env: Env) -> None:
    assert httpx.get(service + "/metrics", headers={**auth(env), "Host": "localhost:80"}).status_code == 200
    other = httpx.get(service + "/metrics", headers={**auth(env), "Host": "api.example.com"})
    assert other.status_code == 421
    with pytest.raises(ConfigurationError, match="--no-auth"):
        ServingConfig("models:/fraud@champion", auth=False, allowed_hosts=("api.example.com",))
    # `--workers N` hands the config to each worker as JSON: the list survives the trip
    from shipyard.serving.run import config_from_json, config_to_json

    config = ServingConfig("models:/fraud@champion", allowed_hosts=("api.example.com",), auth_failures=7)
    assert config_from_json(config_to_json(config)) == config


# ---- hole 11: an unreachable team server is not named to the caller --------------------------------


def test_a_503_names_no_internal_url(env: Env, caplog: pytest.LogCaptureFixture) -> None:
    from shipyard.metadata.rest.store import RestMetadataStore
    from shipyard.serving.models import load_variants
    from shipyard.tracking.stores import Stores

    config = ServingConfig("models:/fraud@champion", log_dir=None)
    variants, _ = load_variants(env.stores, config)
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    remote = Stores(env.settings, RestMetadataStore(dead, token=env.token), env.stores.artifacts)
    caplog.set_level(logging.WARNING, logger="shipyard.serving")
    with live(create_serving_app(config, stores=remote, variants=variants)) as url:
        down = httpx.post(url + "/predict", json=rows(1, 1), headers=auth(env))
    assert down.status_code == 503 and down.headers["retry-after"] == "5"
    assert down.json()["error"]["code"] == "auth_unavailable"
    assert dead.split("//")[1] not in down.text and "http" not in json.dumps(down.json())
    assert down.headers["x-content-type-options"] == "nosniff"
    assert any(dead in r.getMessage() for r in caplog.records)  # the operator still sees where
