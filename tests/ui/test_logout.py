"""Signing out cannot be forged cross-site (issue 12, hole 11): only a same-origin POST clears
the session cookie; a GET never does."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from shipyard.server.app import ServerConfig
from tests.server.live import LiveServer, live_server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(Path(tmp_path_factory.mktemp("logout")), ServerConfig()) as live:
        yield live


def sign_out(server: LiveServer, method: str = "POST", **headers: str) -> httpx.Response:
    cookie = {"Cookie": f"shipyard_token={server.token}"}
    return httpx.request(method, server.url + "/ui/logout", headers={**cookie, **headers})


def clears_the_cookie(response: httpx.Response) -> bool:
    return any(v.startswith("shipyard_token=") for v in response.headers.get_list("set-cookie"))


@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"},
        {"Sec-Fetch-Site": "same-site", "Origin": "https://other.example.com"},
        {"Origin": "https://evil.example"},  # a browser without Sec-Fetch-*
        {"Origin": "null"},  # a sandboxed frame or a data: page
        {},  # no Origin at all: cannot tell, so refused
    ],
)
def test_a_cross_site_sign_out_is_refused(server: LiveServer, headers: dict[str, str]) -> None:
    response = sign_out(server, **headers)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    assert not clears_the_cookie(response)


def test_a_get_never_signs_out(server: LiveServer) -> None:
    response = sign_out(server, "GET", **{"Sec-Fetch-Site": "same-origin"})
    assert response.status_code == 405
    assert not clears_the_cookie(response)


@pytest.mark.parametrize(
    "headers",
    [{"Sec-Fetch-Site": "same-origin"}, {"Origin": "same"}],  # "same": this server's own origin
)
def test_a_same_origin_sign_out_clears_the_cookie(server: LiveServer, headers: dict[str, str]) -> None:
    if headers.get("Origin") == "same":
        headers = {"Origin": server.url}
    response = sign_out(server, **headers)
    assert response.status_code == 303 and response.headers["location"] == "/ui/login"
    assert clears_the_cookie(response)
