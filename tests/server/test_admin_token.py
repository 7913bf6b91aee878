"""A chosen SHIPYARD_ADMIN_TOKEN must look random, not just well formed (issue 12, hole 11)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from shipyard.core.errors import ConfigurationError
from shipyard.metadata.security import SecurityStore, open_security_store
from shipyard.security.tokens import MIN_TOKEN_BITS, estimated_bits, hash_token
from shipyard.server.accounts import bootstrap_admin


@pytest.fixture
def security(tmp_path: Path) -> Iterator[SecurityStore]:
    from shipyard.metadata.sql import SqlMetadataStore

    store = SqlMetadataStore(f"sqlite:///{tmp_path / 'db.sqlite'}")
    try:
        yield open_security_store(store)
    finally:
        store.close()


WEAK = [
    "shp_" + "a" * 40,  # one character
    "shp_" + "ab" * 20,  # two characters, alternating
    "shp_" + "T3st" * 11,  # a short pattern repeated
    "shp_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMN",  # a sequence: every step is +1
    "shp_0123456789012345678901234567890123456789",
    "shp_Sup3r-S3cret-Adm1n-Sup3r-S3cret-Adm1n-Sup3r",  # a phrase, repeated
    "shp_" + "0" * 20 + secrets.token_urlsafe(9),  # padding around a little randomness
]


@pytest.mark.parametrize("value", WEAK, ids=[f"weak{i}" for i in range(len(WEAK))])  # stable under xdist
def test_weak_admin_tokens_are_refused(security: SecurityStore, value: str) -> None:
    assert estimated_bits(value) < MIN_TOKEN_BITS
    with pytest.raises(ConfigurationError, match="SHIPYARD_ADMIN_TOKEN is too predictable"):
        bootstrap_admin(security, value, print)
    assert security.list_users() == []  # nothing was created


def test_generated_tokens_pass(security: SecurityStore) -> None:
    for _ in range(500):  # the generator the error message suggests; never refused
        assert estimated_bits("shp_" + secrets.token_urlsafe(32)) >= MIN_TOKEN_BITS + 40
        assert estimated_bits("shp_" + secrets.token_hex(32)) >= MIN_TOKEN_BITS + 40
    value = "shp_" + secrets.token_urlsafe(32)
    said: list[str] = []
    bootstrap_admin(security, value, said.append)
    assert security.find_token(hash_token(value)) is not None
    assert said == ["created user 'admin' with the token from SHIPYARD_ADMIN_TOKEN"]


def test_the_message_says_how_to_make_a_good_one(security: SecurityStore) -> None:
    with pytest.raises(ConfigurationError) as caught:
        bootstrap_admin(security, "shp_" + "a" * 40, print)
    message = str(caught.value)
    assert "secrets.token_urlsafe(32)" in message and "a" * 40 not in message  # never echo it
