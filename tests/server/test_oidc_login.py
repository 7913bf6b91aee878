"""OIDC single sign-on for the web UI (issue 12, principals), against a small issuer the tests start
on loopback (tests/server/oidc_issuer.py): the authorization-code flow with PKCE, state and nonce,
the ID token checked (signature via JWKS, iss, aud, exp, nonce), the user mapped by a claim, and
the same session cookie as a password sign-in. Every refusal is a page and sets no session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from joserfc.jwk import RSAKey

from shipyard.core.errors import ConfigurationError
from shipyard.core.settings import load_settings
from shipyard.security.tokens import hash_token
from shipyard.server.app import ServerConfig
from shipyard.server.ui.oidc import check_oidc_settings
from tests.server.access_helpers import make_user
from tests.server.live import LiveServer, live_server
from tests.server.oidc_issuer import CLIENT_ID, CLIENT_SECRET, Issuer
from tests.ui.live import LiveServer as Served


@pytest.fixture
def issuer() -> Iterator[Issuer]:
    made = Issuer()
    with Served(made.app()) as served:
        made.url = served.url
        yield made


def _sso_server(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    issuer: Issuer,
    auto: bool,
    claim: str = "preferred_username",
) -> Iterator[LiveServer]:
    secret = tmp_path / "client-secret"
    secret.write_text(CLIENT_SECRET + "\n")
    monkeypatch.setenv("SHIPYARD_OIDC_ISSUER", issuer.url)
    monkeypatch.setenv("SHIPYARD_OIDC_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("SHIPYARD_OIDC_CLIENT_SECRET_FILE", str(secret))
    monkeypatch.setenv("SHIPYARD_OIDC_AUTO_CREATE", "true" if auto else "false")
    monkeypatch.setenv("SHIPYARD_OIDC_USERNAME_CLAIM", claim)
    with live_server(tmp_path, ServerConfig(token_cache_s=0.0)) as live:
        yield live


@pytest.fixture
def sso_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, issuer: Issuer) -> Iterator[LiveServer]:
    yield from _sso_server(tmp_path, monkeypatch, issuer, auto=False)


@pytest.fixture
def admin_of(sso_server: LiveServer) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {sso_server.token}"}
    with httpx.Client(base_url=sso_server.url, headers=headers) as client:
        yield client


def to_callback(browser: httpx.Client) -> str:
    """Start SSO in ``browser`` (keeps its cookies) and follow the issuer; the callback URL."""
    start = browser.get("/ui/login/sso", params={"next": "/ui/models"})
    assert start.status_code == 303, start.text
    assert start.headers["location"].startswith(browser.base_url.join("/").host and "http://127.0.0.1")
    approved = httpx.get(start.headers["location"])
    assert approved.status_code == 302, approved.text
    return str(approved.headers["location"])


def session_cookie(response: httpx.Response) -> str | None:
    for value in response.headers.get_list("set-cookie"):
        if value.startswith("shipyard_token="):
            return value.split(";", 1)[0].removeprefix("shipyard_token=")
    return None


def refused(response: httpx.Response, why: str) -> None:
    assert response.status_code in (401, 403, 404), response.text
    assert "Single sign-on failed" in response.text and why in response.text, response.text
    assert session_cookie(response) is None


def test_a_full_sign_in_through_the_issuer(
    sso_server: LiveServer, admin_of: httpx.Client, issuer: Issuer
) -> None:
    make_user(admin_of, "sso-sam", "viewer")
    login_page = httpx.get(sso_server.url + "/ui/login")
    assert 'href="/ui/login/sso?next=/ui/runs"' in login_page.text  # the SSO button
    with httpx.Client(base_url=sso_server.url) as browser:
        callback = to_callback(browser)
        done = browser.get(callback)
    assert done.status_code == 200 and 'content="0; url=/ui/models"' in done.text
    session = session_cookie(done)
    assert session is not None
    cookie = next(v for v in done.headers.get_list("set-cookie") if v.startswith("shipyard_token="))
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie
    # PKCE: the issuer got a verifier matching the challenge (it refuses the code otherwise)
    assert issuer.token_requests[-1]["code_verifier"]
    runs = httpx.get(sso_server.url + "/ui/runs", headers={"Cookie": f"shipyard_token={session}"})
    assert runs.status_code == 200
    found = sso_server.app.state.ctx.security.find_token(hash_token(session))
    assert found is not None and found[0].name == "ui-session" and found[0].user == "sso-sam"
    assert found[0].expires_at is not None
    actions = [
        e["action"] for e in admin_of.get("/api/v1/audit", params={"user": "sso-sam"}).json()["events"]
    ]
    assert actions == ["sign-in sso"]


@pytest.mark.parametrize(
    ("tamper", "why"),
    [
        ({"nonce": "another-nonce"}, "its nonce claim"),
        ({"nonce": None}, "its nonce claim"),
        ({"aud": "someone-else"}, "its aud claim"),
        ({"exp": 1_000_000}, "has expired"),
        ({"iss": "https://evil.example"}, "its iss claim"),
        ({"key": RSAKey.generate_key(2048, parameters={"kid": "k1"})}, "signature is not valid"),
    ],
    ids=["wrong-nonce", "no-nonce", "wrong-audience", "expired", "wrong-issuer", "bad-signature"],
)
def test_a_bad_id_token_is_refused(
    sso_server: LiveServer, admin_of: httpx.Client, issuer: Issuer, tamper: dict[str, object], why: str
) -> None:
    make_user(admin_of, "sso-sam", "viewer")
    issuer.tamper = dict(tamper)
    with httpx.Client(base_url=sso_server.url) as browser:
        refused(browser.get(to_callback(browser)), why)


def test_a_replayed_or_foreign_callback_is_refused(sso_server: LiveServer, admin_of: httpx.Client) -> None:
    make_user(admin_of, "sso-sam", "viewer")
    with httpx.Client(base_url=sso_server.url) as browser:
        callback = to_callback(browser)
        # another browser (login CSRF: an attacker's callback link) lacks the state cookie
        with httpx.Client(base_url=sso_server.url) as other:
            refused(other.get(callback), "not started from this browser")
        assert session_cookie(browser.get(callback)) is not None
        # the same state again: the pending flow was consumed
        browser.cookies.set("shipyard_sso", httpx.URL(callback).params["state"], path="/ui/login/sso")
        refused(browser.get(callback), "already used or has expired")


def test_unknown_disabled_and_service_users_are_refused(
    sso_server: LiveServer, admin_of: httpx.Client, issuer: Issuer
) -> None:
    with httpx.Client(base_url=sso_server.url) as browser:
        refused(browser.get(to_callback(browser)), "is not a shipyard user")
    assert "sso-sam" not in admin_of.get("/api/v1/users").text  # not created
    make_user(admin_of, "sso-sam", "viewer")
    admin_of.patch("/api/v1/users/sso-sam", json={"disabled": True}).raise_for_status()
    with httpx.Client(base_url=sso_server.url) as browser:
        refused(browser.get(to_callback(browser)), "is disabled")
    make_user(admin_of, "robot", None, kind="service")
    issuer.claims["preferred_username"] = "robot"
    with httpx.Client(base_url=sso_server.url) as browser:
        refused(browser.get(to_callback(browser)), "service account")


def test_an_error_from_the_issuer_is_a_page(sso_server: LiveServer) -> None:
    answer = httpx.get(sso_server.url + "/ui/login/sso/callback", params={"error": "access_denied"})
    refused(answer, "access_denied")


def test_auto_create_makes_users_with_no_role(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, issuer: Issuer
) -> None:
    for live in _sso_server(tmp_path, monkeypatch, issuer, auto=True):
        with httpx.Client(base_url=live.url) as browser:
            done = browser.get(to_callback(browser))
        session = session_cookie(done)
        assert done.status_code == 200 and session is not None
        headers = {"Authorization": f"Bearer {live.token}"}
        users = httpx.get(live.url + "/api/v1/users", headers=headers).json()["users"]
        assert "sso-sam" in [u["name"] for u in users]
        bindings = httpx.get(live.url + "/api/v1/bindings", params={"principal": "sso-sam"}, headers=headers)
        assert bindings.json()["bindings"] == []  # an admin binds roles
        page = httpx.get(live.url + "/ui/runs", headers={"Cookie": f"shipyard_token={session}"})
        assert page.status_code == 403


def test_users_can_be_mapped_by_a_verified_email(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, issuer: Issuer
) -> None:
    issuer.claims.update({"email": "sam@example.com", "email_verified": False})
    for live in _sso_server(tmp_path, monkeypatch, issuer, auto=False, claim="email"):
        with httpx.Client(base_url=live.url, headers={"Authorization": f"Bearer {live.token}"}) as admin:
            make_user(admin, "sam@example.com", "viewer")
        with httpx.Client(base_url=live.url) as browser:
            refused(browser.get(to_callback(browser)), "has not verified this email address")
        issuer.claims["email_verified"] = True
        with httpx.Client(base_url=live.url) as browser:
            done = browser.get(to_callback(browser))
        assert done.status_code == 200 and "sam@example.com" in done.text and session_cookie(done)


def test_sso_is_off_unless_configured(server: LiveServer) -> None:
    answer = httpx.get(server.url + "/ui/login/sso")
    refused(answer, "not configured")
    assert "/ui/login/sso" not in httpx.get(server.url + "/ui/login").text


def test_a_half_configured_or_unsafe_issuer_stops_the_start(tmp_path: Path) -> None:
    secret = tmp_path / "s"
    secret.write_text("x")
    good = {"oidc_issuer": "https://id.example", "oidc_client_id": "c", "oidc_client_secret_file": secret}
    check_oidc_settings(load_settings(**good))
    check_oidc_settings(load_settings(**{**good, "oidc_issuer": "http://127.0.0.1:9000"}))
    for bad, why in [
        ({"oidc_issuer": "http://id.example"}, "must be an https:// URL"),
        ({"oidc_client_id": ""}, "needs --oidc-client-id"),
        ({"oidc_client_secret_file": tmp_path / "missing"}, "needs --oidc-client-secret-file"),
    ]:
        with pytest.raises(ConfigurationError, match=why):
            check_oidc_settings(load_settings(**{**good, **bad}))


def test_the_server_command_checks_its_sso_flags(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from shipyard.cli.main import main

    monkeypatch.setenv("SHIPYARD_HOME", str(tmp_path))
    secret = tmp_path / "secret"
    secret.write_text("x")
    flags = ["--oidc-client-id", "c", "--oidc-client-secret-file", str(secret)]
    assert main(["server", "--port", "1", "--oidc-issuer", "http://id.example", *flags]) != 0
    assert "must be an https:// URL" in capsys.readouterr().err
    assert (
        main(["server", "--oidc-issuer", "https://id.example", "--oidc-username-claim", "sub", *flags]) != 0
    )
    err = capsys.readouterr().err
    assert "--oidc-username-claim" in err and "Traceback" not in err
