"""Fixtures for the branch tests: the delivery tests' world (a private SQLite database)."""

from __future__ import annotations

from tests.deploy.conftest import world

__all__ = ["world"]
