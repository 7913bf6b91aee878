"""`shipyard secrets set | get | list | delete` against a live server: values come from stdin or a
file (never the command line), `get` shows metadata unless --reveal, refusals are one line."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from shipyard.cli.main import main
from shipyard.server.app import ServerConfig
from tests.secrets.conftest import b64, new_key
from tests.server.access_helpers import client_for, make_user
from tests.server.live import LiveServer, live_server

VALUE = "cli-s3cr3t-77ab-NEVER-PRINTED"
Cli = Callable[..., tuple[int, str, str]]


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LiveServer]:
    monkeypatch.setenv("SHIPYARD_SECRETS_KEY", b64(new_key()))
    with live_server(tmp_path, ServerConfig(token_cache_s=0.0)) as s:
        yield s


@pytest.fixture
def cli(server: LiveServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Cli:
    monkeypatch.setenv("SHIPYARD_URI", server.url)
    monkeypatch.setenv("SHIPYARD_TOKEN", server.token)

    def run(*args: str, stdin: str = "") -> tuple[int, str, str]:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
        code = main(list(args))
        out = capsys.readouterr()
        return code, out.out, out.err

    return run


def test_the_secrets_commands_round_trip(cli: Cli, tmp_path: Path) -> None:
    code, out, err = cli("secrets", "set", "fraud", "prod", "db", stdin=VALUE + "\n")
    assert code == 0, err
    assert "fraud/prod/db (version 1)" in out and VALUE not in out
    value_file = tmp_path / "api.txt"
    value_file.write_text("line1\nline2\n")
    assert cli("secrets", "set", "fraud", "prod", "api", "--from-file", str(value_file))[0] == 0
    code, out, _ = cli("secrets", "get", "fraud", "prod", "db")
    assert code == 0 and "fraud/prod/db" in out and VALUE not in out
    code, out, _ = cli("secrets", "get", "fraud", "prod", "db", "--json")
    assert json.loads(out)["version"] == 1 and "value" not in json.loads(out)
    code, out, _ = cli("secrets", "get", "fraud", "prod", "db", "--reveal")
    assert code == 0 and out == VALUE  # stdin's trailing newline dropped, nothing added to a pipe
    assert cli("secrets", "get", "fraud", "prod", "api", "--reveal")[1] == "line1\nline2\n"  # file as is
    code, out, _ = cli("secrets", "list", "fraud", "prod", "--json")
    assert [s["name"] for s in json.loads(out)] == ["api", "db"] and VALUE not in out
    code, out, _ = cli("secrets", "list", "fraud", "prod")
    assert "fraud/prod/api" in out and VALUE not in out
    assert cli("secrets", "delete", "fraud", "prod", "db")[0] == 0
    code, _, err = cli("secrets", "get", "fraud", "prod", "db", "--reveal")
    assert code == 1 and "does not exist" in err and len(err.strip().splitlines()) == 1


def test_a_value_is_never_a_command_line_argument(cli: Cli) -> None:
    code, _, err = cli("secrets", "set", "fraud", "prod", "db", VALUE)
    assert code == 2 and "unexpected extra argument" in err.lower()
    code, _, err = cli("secrets", "set", "fraud", "prod", "db", stdin="")
    assert code == 1 and "must not be empty" in err


def test_refusals_and_bad_names_are_one_line(
    cli: Cli, server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    with client_for(server, server.token) as admin:
        viewer = make_user(admin, "vic", "viewer")
    code, _, err = cli("secrets", "set", "Fraud", "prod", "db", stdin=VALUE)
    assert code == 1 and "invalid project name 'Fraud'" in err and VALUE not in err
    monkeypatch.setenv("SHIPYARD_TOKEN", viewer)
    code, _, err = cli("secrets", "set", "fraud", "prod", "db", stdin=VALUE)
    assert code == 1 and "secret:write" in err and VALUE not in err
    assert len(err.strip().splitlines()) == 1


def test_secrets_need_a_server(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["secrets", "list", "fraud", "prod"]) == 1
    assert "secrets live on a shipyard server" in capsys.readouterr().err


def test_rotate_key_reencrypts_the_servers_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from shipyard.core.clock import utcnow
    from shipyard.metadata import open_metadata_store
    from shipyard.metadata.sql import SqlMetadataStore
    from shipyard.secrets.crypto import SecretKey, key_id
    from shipyard.secrets.local import LocalSecretsBackend

    uri = f"sqlite:///{tmp_path / 'server.db'}"
    old, new = new_key(), new_key()
    store = open_metadata_store(uri)
    assert isinstance(store, SqlMetadataStore)
    try:
        LocalSecretsBackend(store, SecretKey(old)).set("fraud", "prod", "db", VALUE, by="me", at=utcnow())
        (tmp_path / "new.key").write_text(b64(new))
        monkeypatch.setenv("SHIPYARD_URI", uri)
        monkeypatch.setenv("SHIPYARD_SECRETS_KEY", b64(old))
        assert main(["secrets", "rotate-key", "--new-key-file", str(tmp_path / "new.key")]) == 0
        out = capsys.readouterr().out
        assert f"re-encrypted 1 secret(s) from key {key_id(old)} to key {key_id(new)}" in out
        assert b64(new) not in out and b64(old) not in out
        assert LocalSecretsBackend(store, SecretKey(new)).get("fraud", "prod", "db") == VALUE
        monkeypatch.setenv("SHIPYARD_URI", "http://127.0.0.1:9")
        assert main(["secrets", "rotate-key", "--new-key-file", str(tmp_path / "new.key")]) == 1
        assert "works on the server's database itself" in capsys.readouterr().err
    finally:
        store.close()
