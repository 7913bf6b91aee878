"""Fixtures of the card tests: the in-process CLI runner (shipyard card get)."""

from tests.cli.conftest import cli  # noqa: F401
