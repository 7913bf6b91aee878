"""Failed-authentication throttling and the Host check of the team server (issue 12, holes 8, 9).

The limiter (:mod:`shipyard.security.throttle`) and the Host rules (:mod:`shipyard.security.network`)
are pure: unit and property tests here. Then a live server: N bad tokens from one client answer
429 with Retry-After, a rotating X-Forwarded-For does not reset that, guesses at one token prefix
from many addresses are throttled by the prefix, a valid token from another client still works,
the UI login form and the UI cookie count too; ``--no-auth`` answers only loopback Host names.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shipyard.core.errors import ConfigurationError
from shipyard.security.network import host_allowed, host_name, parse_allowed_hosts, same_origin
from shipyard.security.throttle import AuthThrottle, FailureLimiter, client_key
from shipyard.server.app import ServerConfig
from tests.server.live import LiveServer, live_server

# ---- the limiter ---------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_limiter_blocks_after_n_failures_until_the_window_passes() -> None:
    clock = Clock()
    limiter = FailureLimiter(3, 60.0, clock=clock)
    for _ in range(3):
        assert limiter.retry_after("a") == 0.0
        limiter.failure("a")
        clock.now += 1
    assert limiter.retry_after("a") == pytest.approx(57.0)  # the first failure leaves at 1060
    assert limiter.retry_after("b") == 0.0  # other keys are not affected
    clock.now = 1060.0
    assert limiter.retry_after("a") == 0.0
    limiter.failure("a")
    assert limiter.retry_after("a") == pytest.approx(1.0)  # the second failure leaves at 1061


def test_the_limiter_forgets_the_oldest_keys_past_its_cap() -> None:
    limiter = FailureLimiter(2, 60.0, max_keys=100, clock=Clock())
    for i in range(1000):
        limiter.failure(f"k{i}")
    assert len(limiter) == 100
    limiter.failure("k999")
    assert limiter.retry_after("k999") > 0 and limiter.retry_after("k0") == 0.0


def test_the_limiter_is_thread_safe() -> None:
    limiter = FailureLimiter(50, 60.0, max_keys=64)

    def hammer(n: int) -> None:
        for i in range(2000):
            limiter.failure(f"k{(n * 7 + i) % 100}")
            limiter.retry_after(f"k{i % 100}")

    threads = [threading.Thread(target=hammer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(limiter) <= 64


@settings(max_examples=200, deadline=None)
@given(
    events=st.lists(
        st.tuples(st.sampled_from(["a", "b", "c"]), st.floats(min_value=0.0, max_value=30.0)), max_size=80
    ),
    limit=st.integers(min_value=1, max_value=5),
)
def test_the_limiter_matches_a_sliding_window(events: list[tuple[str, float]], limit: int) -> None:
    """Against a reference model: a key may fail again exactly when it has fewer than ``limit``
    counted failures in the last ``window`` seconds; so no window ever holds more than ``limit``."""
    window = 60.0
    clock = Clock()
    limiter = FailureLimiter(limit, window, clock=clock)
    counted: dict[str, list[float]] = {"a": [], "b": [], "c": []}
    for key, step in events:
        clock.now += step
        recent = [t for t in counted[key] if t > clock.now - window]
        allowed = limiter.retry_after(key) == 0.0
        assert allowed == (len(recent) < limit)
        if allowed:
            limiter.failure(key)
            counted[key].append(clock.now)
    for times in counted.values():
        for start in times:
            assert len([t for t in times if start <= t < start + window]) <= limit


def test_client_keys_group_an_ipv6_host_by_its_64() -> None:
    assert client_key("2001:db8:1:2:aaaa::1") == client_key("2001:db8:1:2:bbbb::2")
    assert client_key("2001:db8:1:2::1") != client_key("2001:db8:1:3::1")
    assert client_key("::ffff:10.0.0.1") == client_key("10.0.0.1")
    assert client_key("10.0.0.1") != client_key("10.0.0.2")


def test_successes_are_never_throttled_by_failures_on_other_keys() -> None:
    throttle = AuthThrottle(2, 60.0, clock=Clock())
    guess = "shp_" + secrets.token_urlsafe(32)
    for _ in range(5):
        throttle.failed("10.0.0.1", guess)
    assert throttle.check("10.0.0.1", "shp_" + secrets.token_urlsafe(32)) is not None  # the client
    assert throttle.check("10.0.0.2", guess[:12] + "x" * 40) is not None  # the prefix
    assert throttle.check("10.0.0.2", "shp_" + secrets.token_urlsafe(32)) is None  # anyone else


# ---- Host rules ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "name"),
    [
        ("localhost:8080", "localhost"),
        ("LocalHost", "localhost"),
        ("[::1]:80", "::1"),
        ("[0:0::1]", "::1"),
        ("127.0.0.1:1", "127.0.0.1"),
        ("evil.example", "evil.example"),
        ("", None),
        (None, None),
        ("a b", None),
        ("user@host", None),
        ("[::1", None),
        ("host:port", None),
        ("[nothex]", None),
    ],
)
def test_host_names_are_read_strictly(header: str | None, name: str | None) -> None:
    assert host_name(header) == name


@pytest.mark.parametrize(
    "header", ["localhost", "localhost:8080", "127.0.0.1", "127.3.4.5:9", "[::1]:8000", "LOCALHOST:1"]
)
def test_loopback_only_admits_loopback_names(header: str) -> None:
    assert host_allowed(header, None, loopback_only=True)


@pytest.mark.parametrize(
    "header",
    ["evil.example", "localhost.evil.example", "127.0.0.1.nip.io", "0.0.0.0", "[::]", "10.0.0.1", "", None],
)
def test_loopback_only_refuses_everything_else(header: str | None) -> None:
    assert not host_allowed(header, None, loopback_only=True)


def test_an_allow_list_narrows_the_hosts_answered() -> None:
    allowed = parse_allowed_hosts(" API.example.com , *.internal.example.com,[::1] ")
    assert allowed == ("api.example.com", "*.internal.example.com", "::1")
    assert host_allowed("api.example.com:443", allowed, loopback_only=False)
    assert host_allowed("ml.internal.example.com", allowed, loopback_only=False)
    assert host_allowed("[::1]:8080", allowed, loopback_only=False)
    assert not host_allowed("internal.example.com.evil.example", allowed, loopback_only=False)
    assert not host_allowed("example.com", allowed, loopback_only=False)
    assert host_allowed("anything.example", None, loopback_only=False)  # no list, auth on: any
    assert parse_allowed_hosts("") is None and parse_allowed_hosts(None) is None
    for bad in ("api.example.com:443", "http://x", "a b", "*"):
        if bad == "*":
            assert parse_allowed_hosts(bad) == ("*",)
            continue
        with pytest.raises(ConfigurationError, match="not a host name"):
            parse_allowed_hosts(bad)


@pytest.mark.parametrize(
    ("site", "origin", "host", "same"),
    [
        ("same-origin", None, "127.0.0.1:8080", True),
        ("cross-site", "http://127.0.0.1:8080", "127.0.0.1:8080", False),
        ("same-site", "http://a.example", "b.example", False),
        ("none", None, "x", False),
        (None, "http://127.0.0.1:8080", "127.0.0.1:8080", True),
        (None, "https://evil.example", "127.0.0.1:8080", False),
        (None, "null", "127.0.0.1:8080", False),
        (None, None, "127.0.0.1:8080", False),
    ],
)
def test_same_origin(site: str | None, origin: str | None, host: str, same: bool) -> None:
    assert same_origin(site, origin, host) is same


# ---- the live server -----------------------------------------------------------------------------


@pytest.fixture
def strict(tmp_path: Path) -> Iterator[LiveServer]:
    with live_server(tmp_path, ServerConfig(token_cache_s=0.0, auth_failures=3)) as server:
        yield server


def from_address(server: LiveServer, address: str, token: str | None = None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    transport = httpx.HTTPTransport(local_address=address)
    return httpx.Client(base_url=server.url, transport=transport, headers=headers, timeout=10)


def unknown() -> dict[str, str]:
    return {"Authorization": f"Bearer shp_{secrets.token_urlsafe(32)}"}


def test_bad_tokens_from_one_client_answer_429(strict: LiveServer) -> None:
    with from_address(strict, "127.0.0.2") as client:
        for _ in range(3):
            assert client.get("/api/v1/runs", headers=unknown()).status_code == 401
        blocked = client.get("/api/v1/runs", headers=unknown())
        assert blocked.status_code == 429
        assert int(blocked.headers["retry-after"]) >= 1
        assert blocked.json()["error"]["code"] == "too_many_requests"
        for i in range(5):  # a different X-Forwarded-For on every request changes nothing
            spoofed = {**unknown(), "X-Forwarded-For": f"198.51.100.{i}", "X-Real-IP": f"198.51.100.{i}"}
            assert client.get("/api/v1/runs", headers=spoofed).status_code == 429
        assert client.get("/health").status_code == 200  # no token presented: not throttled
    with from_address(strict, "127.0.0.3", strict.token) as other:  # another client, a valid token
        assert other.get("/api/v1/whoami").status_code == 200


def test_guesses_at_one_token_prefix_are_throttled_across_addresses(strict: LiveServer) -> None:
    prefix = "shp_Pr3fix12"  # 12 characters: the key
    for n in (4, 5, 6):
        with from_address(strict, f"127.0.0.{n}", prefix + secrets.token_urlsafe(32)) as client:
            assert client.get("/api/v1/runs").status_code == 401
    with from_address(strict, "127.0.0.7", prefix + secrets.token_urlsafe(32)) as client:
        assert client.get("/api/v1/runs").status_code == 429
    with from_address(strict, "127.0.0.7", strict.token) as client:
        assert client.get("/api/v1/whoami").status_code == 200


def test_the_ui_login_form_and_cookie_are_throttled(strict: LiveServer) -> None:
    with from_address(strict, "127.0.0.8") as client:
        for _ in range(3):
            bad = client.post("/ui/login", json={"token": "shp_" + secrets.token_urlsafe(32)})
            assert bad.status_code == 401
        blocked = client.post("/ui/login", json={"token": strict.token})
        assert blocked.status_code == 429 and "retry-after" in blocked.headers
        assert blocked.headers.get("set-cookie") is None
    with from_address(strict, "127.0.0.9") as client:
        assert client.post("/ui/login", json={"token": strict.token}).status_code == 200
    with from_address(strict, "127.0.0.10") as client:  # cookie guesses on pages count too
        page = {"Accept": "text/html"}
        for _ in range(3):
            client.cookies.set("shipyard_token", "shp_" + secrets.token_urlsafe(32))
            assert client.get("/ui/runs", headers=page).status_code == 303  # to the login page
        client.cookies.set("shipyard_token", "shp_" + secrets.token_urlsafe(32))
        assert client.get("/ui/runs", headers=page).status_code == 429


def test_no_auth_server_answers_only_loopback_host_names(tmp_path: Path) -> None:
    with live_server(tmp_path, ServerConfig(auth=False)) as server:
        port = server.url.rsplit(":", 1)[1]
        for host in (f"localhost:{port}", f"127.0.0.1:{port}", f"[::1]:{port}", "127.9.9.9"):
            assert httpx.get(server.url + "/api/v1/whoami", headers={"Host": host}).status_code == 200
        for host in ("attacker.example", f"attacker.example:{port}", "localhost.attacker.example"):
            for method, path in (("GET", "/api/v1/runs"), ("POST", "/api/v1/runs"), ("GET", "/ui/runs")):
                refused = httpx.request(method, server.url + path, headers={"Host": host}, json={})
                assert refused.status_code == 421, (host, method, path)
                assert refused.json()["error"]["code"] == "misdirected_request"
                assert refused.headers["x-content-type-options"] == "nosniff"


def test_allowed_hosts_and_short_token_caches_are_enforced(tmp_path: Path) -> None:
    config = ServerConfig(allowed_hosts=("api.example.com",))
    with live_server(tmp_path, config) as server:
        token = {"Authorization": f"Bearer {server.token}"}
        ok = httpx.get(server.url + "/api/v1/whoami", headers={**token, "Host": "api.example.com:8080"})
        assert ok.status_code == 200
        assert httpx.get(server.url + "/api/v1/whoami", headers=token).status_code == 421
    with pytest.raises(ConfigurationError, match="--no-auth"):
        ServerConfig(auth=False, allowed_hosts=("api.example.com",))
    with pytest.raises(ConfigurationError, match="token_cache_s"):
        ServerConfig(token_cache_s=30)


@pytest.mark.parametrize("command", ["server", "serve"])
def test_cli_refuses_a_non_loopback_allow_list_with_no_auth(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    from typer.testing import CliRunner

    from shipyard.cli.main import build_app

    monkeypatch.setenv("SHIPYARD_HOME", str(tmp_path))
    args = [command, *(["models:/m@champion"] if command == "serve" else []), "--no-auth", "--port", "1"]
    env = {"SHIPYARD_ALLOWED_HOSTS": "ml.example"}
    result = CliRunner().invoke(build_app(), args, env=env)
    # the CLI's main() prints a ShipyardError as one "error: ..." line; nothing was started
    assert isinstance(result.exception, ConfigurationError), result.output
    assert "--allowed-hosts ml.example with --no-auth" in str(result.exception)
