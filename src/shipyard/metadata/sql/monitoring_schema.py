"""Monitoring: reference profiles of model versions, monitors, their results (a time series) and
alert events, on the shared ``MetaData`` (Alembic revision 0004_monitoring).

A profile's JSON lives in the artifact store (``digest``); ``importance`` holds the version's global
feature importance. An alert is *open* while ``resolved_at`` is null: the same ongoing breach
updates ``last_seen_at`` instead of opening (and sending) another one.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, Float, Index, Integer, String, Table, Text

from shipyard.metadata.sql.schema import KEY, metadata
from shipyard.metadata.sql.types import DocumentJsonText, UtcDateTime

reference_profiles = Table(
    "reference_profiles",
    metadata,
    Column("model_name", String(KEY), primary_key=True),
    Column("version", Integer(), primary_key=True),
    Column("digest", String(64), nullable=False),
    Column("rows", BigInteger(), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("importance", DocumentJsonText(), nullable=True),
)

monitors = Table(
    "monitors",
    metadata,
    Column("name", String(KEY), primary_key=True),
    Column("deployment", String(KEY), nullable=False),
    Column("spec", DocumentJsonText(), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
)

monitor_results = Table(
    "monitor_results",
    metadata,
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True),
    Column("monitor", String(KEY), nullable=False),
    Column("at", UtcDateTime(), nullable=False),
    Column("check", String(KEY), nullable=False),
    Column("subject", String(KEY), nullable=False),
    Column("value", Float(), nullable=True),
    Column("threshold", Float(), nullable=True),
    Column("breached", Boolean(), nullable=False),
    Column("detail", DocumentJsonText(), nullable=True),
    Index(None, "monitor", "at"),
)

monitor_alerts = Table(
    "monitor_alerts",
    metadata,
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True),
    Column("monitor", String(KEY), nullable=False),
    Column("key", String(KEY), nullable=False),
    Column("opened_at", UtcDateTime(), nullable=False),
    Column("last_seen_at", UtcDateTime(), nullable=False),
    Column("resolved_at", UtcDateTime(), nullable=True),
    Column("value", Float(), nullable=True),
    Column("message", Text(), nullable=False),
    Column("delivery", String(KEY), nullable=False),
    Index(None, "monitor", "key"),
)
