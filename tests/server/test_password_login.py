"""Users sign in to the web UI with a password (issue 12, principals): argon2id hashes set through
PUT /api/v1/users/{name}/password and `shipyard users set-password`, a same-origin JSON sign-in
that mints a 12 h `ui-session` token as the cookie, one answer for every failure, the throttle,
and sign-out revoking the session token on the server."""

from __future__ import annotations

import io
import sqlite3
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from shipyard.core.clock import utcnow
from shipyard.security.tokens import hash_token
from shipyard.server.app import ServerConfig
from tests.server.access_helpers import client_for, make_user
from tests.server.live import LiveServer, live_server

PASSWORD = "correct horse battery staple"


def login(server: LiveServer, user: str, password: str, **headers: str) -> httpx.Response:
    sent = headers or {"Origin": server.url}
    body = {"username": user, "password": password, "next": "/ui/models"}
    return httpx.post(f"{server.url}/ui/login/password", json=body, headers=sent)


def session_of(response: httpx.Response) -> str:
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
    return cookie.split(";", 1)[0].removeprefix("shipyard_token=")


def set_password(client: httpx.Client, name: str, password: str | None, **extra: str) -> httpx.Response:
    return client.put(f"/api/v1/users/{name}/password", json={"password": password, **extra})


def page(server: LiveServer, path: str, session: str) -> httpx.Response:
    return httpx.get(server.url + path, headers={"Cookie": f"shipyard_token={session}"})


def _db(server: LiveServer) -> Path:
    return Path(str(server.settings.uri).removeprefix("sqlite:///"))


def test_a_password_sign_in_mints_a_short_session_that_sign_out_revokes(
    server: LiveServer, admin: httpx.Client
) -> None:
    token = make_user(admin, "bob", "viewer")
    assert set_password(admin, "bob", PASSWORD).status_code == 204
    signed_in = login(server, "bob", PASSWORD)
    assert signed_in.status_code == 200 and signed_in.json() == {"next": "/ui/models"}
    session = session_of(signed_in)
    assert page(server, "/ui/runs", session).status_code == 200
    found = server.app.state.ctx.security.find_token(hash_token(session))
    assert found is not None and found[0].name == "ui-session" and found[0].user == "bob"
    assert found[0].expires_at is not None
    assert timedelta(hours=11) < found[0].expires_at - utcnow() <= timedelta(hours=12)
    # the hash is stored, never the password; listings never show it
    with sqlite3.connect(_db(server)) as conn:
        (stored,) = conn.execute("SELECT password_hash FROM users WHERE name = 'bob'").fetchone()
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    listed = admin.get("/api/v1/users").text
    assert "password" not in listed and "$argon2" not in listed
    # signing out (same-origin) revokes the session token on the server, not just the cookie
    out = httpx.post(
        server.url + "/ui/logout",
        headers={"Cookie": f"shipyard_token={session}", "Sec-Fetch-Site": "same-origin"},
    )
    assert out.status_code == 303
    assert page(server, "/ui/runs", session).status_code == 401
    # ... but signing out of a pasted API token never revokes that token
    httpx.post(
        server.url + "/ui/logout",
        headers={"Cookie": f"shipyard_token={token}", "Sec-Fetch-Site": "same-origin"},
    )
    assert page(server, "/ui/runs", token).status_code == 200
    # the sign-in is audited; nothing in the audit log carries the password or its hash
    events = admin.get("/api/v1/audit", params={"user": "bob"}).json()["events"]
    assert [e["action"] for e in events] == ["sign-out", "sign-in password"]  # newest first
    everything = admin.get("/api/v1/audit", params={"limit": 1000}).text
    assert PASSWORD not in everything and "$argon2" not in everything
    assert any(
        e["action"] == "PUT /api/v1/users/{name}/password"
        for e in admin.get("/api/v1/audit").json()["events"]
    )


def test_every_failure_answers_the_same_and_sets_no_cookie(server: LiveServer, admin: httpx.Client) -> None:
    make_user(admin, "bob", "viewer")
    make_user(admin, "dora", "viewer")
    set_password(admin, "bob", PASSWORD).raise_for_status()
    set_password(admin, "dora", PASSWORD).raise_for_status()
    admin.patch("/api/v1/users/dora", json={"disabled": True}).raise_for_status()
    make_user(admin, "nopass", "viewer")
    answers = [
        login(server, "bob", "wrong password here"),
        login(server, "nobody", PASSWORD),  # no such user
        login(server, "dora", PASSWORD),  # disabled
        login(server, "nopass", PASSWORD),  # has no password
    ]
    for answer in answers:
        assert answer.status_code == 401 and "set-cookie" not in answer.headers
    assert len({a.json()["error"]["message"] for a in answers}) == 1
    assert "exist" not in answers[1].text


@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"},
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"X-Nothing": "1"},  # neither header: cannot tell, so refused
    ],
)
def test_a_cross_site_sign_in_is_refused(
    server: LiveServer, admin: httpx.Client, headers: dict[str, str]
) -> None:
    make_user(admin, "bob", "viewer")
    set_password(admin, "bob", PASSWORD).raise_for_status()
    answer = login(server, "bob", PASSWORD, **headers)
    assert answer.status_code == 403 and "set-cookie" not in answer.headers


def test_who_may_set_which_password(server: LiveServer, admin: httpx.Client) -> None:
    bob = make_user(admin, "bob", "developer")
    make_user(admin, "carol", "developer")
    make_user(admin, "ci", None, kind="service")
    # service accounts never have a password, not even from an admin
    refused = set_password(admin, "ci", PASSWORD)
    assert refused.status_code == 400 and "service account" in refused.json()["error"]["message"]
    assert set_password(admin, "carol", "short").status_code == 400
    assert set_password(admin, "ghost", PASSWORD).status_code == 404
    with client_for(server, bob) as client:
        assert set_password(client, "carol", PASSWORD).status_code == 403  # someone else's
        assert set_password(client, "ghost", PASSWORD).status_code == 403  # no existence oracle
        assert set_password(client, "bob", PASSWORD).status_code == 204  # first one: the token suffices
        session = session_of(login(server, "bob", PASSWORD))
        wrong = set_password(client, "bob", "another long password", current_password="not it at all")
        assert wrong.status_code == 403
        assert set_password(client, "bob", "another long password").status_code == 403  # no current
        changed = set_password(client, "bob", "another long password", current_password=PASSWORD)
        assert changed.status_code == 204
    assert page(server, "/ui/runs", session).status_code == 401  # a new password ends the sessions
    assert login(server, "bob", PASSWORD).status_code == 401
    assert login(server, "bob", "another long password").status_code == 200
    # a narrowed token cannot give its user a password (that would widen it into a full session)
    narrowed = admin.post(
        "/api/v1/tokens", json={"name": "n", "user": "carol", "permissions": ["run:read"]}
    ).json()["token"]
    with client_for(server, narrowed) as client:
        assert set_password(client, "carol", PASSWORD).status_code == 403
    # removing a password ends UI password sign-in
    assert set_password(admin, "bob", None).status_code == 204
    assert login(server, "bob", "another long password").status_code == 401


def test_an_outdated_hash_is_replaced_on_sign_in(server: LiveServer, admin: httpx.Client) -> None:
    from argon2 import PasswordHasher

    make_user(admin, "bob", "viewer")
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    server.app.state.ctx.security.set_password("bob", weak)
    assert login(server, "bob", PASSWORD).status_code == 200
    found = server.app.state.ctx.security.password_of("bob")
    assert found is not None and found[1] != weak and ",t=3," in (found[1] or "")
    assert login(server, "bob", PASSWORD).status_code == 200


@pytest.fixture
def strict(tmp_path: Path) -> Iterator[LiveServer]:
    with live_server(tmp_path, ServerConfig(token_cache_s=0.0, auth_failures=3, auth_window_s=60)) as live:
        yield live


def test_failed_sign_ins_are_throttled(strict: LiveServer) -> None:
    with httpx.Client(base_url=strict.url, headers={"Authorization": f"Bearer {strict.token}"}) as admin:
        make_user(admin, "bob", "viewer")
        set_password(admin, "bob", PASSWORD).raise_for_status()
    for _ in range(3):
        assert login(strict, "bob", "wrong password here").status_code == 401
    blocked = login(strict, "bob", PASSWORD)  # even the right password now waits
    assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) >= 1
    assert "set-cookie" not in blocked.headers


def test_guessing_the_current_password_is_throttled(strict: LiveServer) -> None:
    with httpx.Client(base_url=strict.url, headers={"Authorization": f"Bearer {strict.token}"}) as admin:
        narrowed = make_user(admin, "bob", "viewer")
        set_password(admin, "bob", PASSWORD).raise_for_status()
    with client_for(strict, narrowed) as bob:  # e.g. a leaked narrowed token trying to widen itself
        for _ in range(3):
            guess = set_password(bob, "bob", "a new long password", current_password="a guess 123")
            assert guess.status_code == 403
        blocked = set_password(bob, "bob", "a new long password", current_password=PASSWORD)
        assert blocked.status_code == 429
    assert login(strict, "bob", PASSWORD).status_code == 429  # the same per-user limit


def test_the_cli_sets_a_password_from_stdin(
    server: LiveServer,
    admin: httpx.Client,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from shipyard.cli.main import main

    make_user(admin, "bob", "viewer")
    monkeypatch.setenv("SHIPYARD_URI", server.url)
    monkeypatch.setenv("SHIPYARD_TOKEN", server.token)
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    assert main(["users", "set-password", "bob", "--stdin"]) == 0
    out = capsys.readouterr()
    assert "set bob's password" in out.out and PASSWORD not in out.out + out.err
    assert login(server, "bob", PASSWORD).status_code == 200
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert main(["users", "set-password", "bob", "--stdin"]) == 1
    err = capsys.readouterr().err
    assert "at least 12 characters" in err and "Traceback" not in err and "short" not in err


def test_oversized_passwords_are_refused_without_being_echoed(
    server: LiveServer, admin: httpx.Client
) -> None:
    make_user(admin, "bob", "viewer")
    huge = "p" * 1500 + "UNIQUE-CANARY"
    for answer in (set_password(admin, "bob", huge), login(server, "bob", huge)):
        assert answer.status_code == 400 and "UNIQUE-CANARY" not in answer.text
    wrong = login(server, "bob", "UNIQUE-CANARY-" + "x" * 20)
    assert wrong.status_code == 401 and "UNIQUE-CANARY" not in wrong.text
