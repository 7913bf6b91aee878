"""Address parsing, "is this cluster on this machine", and the store check (no Ray needed)."""

from __future__ import annotations

import socket

import pytest

from shipyard.core.errors import ConfigurationError
from shipyard.core.settings import load_settings
from shipyard.executors.ray_connect import (
    address_is_local,
    check_stores,
    cluster_is_local,
    resolve_address,
    split_host_port,
)


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("127.0.0.1:6379", ("127.0.0.1", 6379)),
        ("ray://head.example:10001", ("head.example", 10001)),
        ("[::1]:6379", ("::1", 6379)),
        ("head", ("head", None)),
    ],
)
def test_split_host_port(address: str, expected: tuple[str, int | None]) -> None:
    assert split_host_port(address) == expected


def test_local_and_remote_addresses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    assert resolve_address(None) is None and resolve_address("local") is None
    monkeypatch.setenv("RAY_ADDRESS", "10.1.2.3:6379")
    assert resolve_address(None) == "10.1.2.3:6379"
    assert resolve_address("127.0.0.1:1") == "127.0.0.1:1"
    for local in (None, "auto", "127.0.0.1:6379", "localhost:6379", f"{socket.gethostname()}:6379"):
        assert address_is_local(local), local
    assert not address_is_local("203.0.113.7:6379")


def test_cluster_is_local_only_when_every_node_is_this_machine() -> None:
    assert cluster_is_local([{"NodeManagerAddress": "127.0.0.1"}, {"NodeManagerAddress": "::1"}])
    assert not cluster_is_local([{"NodeManagerAddress": "127.0.0.1"}, {"NodeManagerAddress": "203.0.113.7"}])


def test_store_check_names_what_to_set() -> None:
    with pytest.raises(ConfigurationError) as info:
        check_stores(load_settings(), "the Ray cluster at 203.0.113.7:6379")
    message = str(info.value)
    assert "SHIPYARD_URI=postgresql://" in message and "SHIPYARD_ARTIFACTS=s3://" in message
    with pytest.raises(ConfigurationError, match="SHIPYARD_URI") as info:
        check_stores(load_settings(artifacts="/mnt/shared/artifacts"), "x")
    assert "SHIPYARD_ARTIFACTS" not in str(info.value)  # an explicit folder is taken as shared
    check_stores(load_settings(uri="postgresql+psycopg://db/x", artifacts="s3://bucket/runs"), "x")
    check_stores(load_settings(uri="https://shipyard.example", artifacts="/mnt/shared/artifacts"), "x")
