"""Fixtures for the SQL backend's own tests (the contract suite lives in tests/contract)."""

from __future__ import annotations

from tests.contract.conftest import postgres_schema

__all__ = ["postgres_schema"]
