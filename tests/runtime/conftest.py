"""Fixtures of the runtime tests: the in-process CLI runner (shipyard run notebook.ipynb)."""

from tests.cli.conftest import cli  # noqa: F401
