"""Flows whose steps read the secret ``db_password`` (tests/secrets/test_step_secrets.py)."""

import hashlib
import os
import sys

import shipyard
from shipyard import flow, step


@step(secrets=["db_password"])
def connect() -> dict[str, str]:
    value = os.environ["DB_PASSWORD"]
    print(f"connecting with {value}")
    print(f"warning: {value} on stderr", file=sys.stderr)
    shipyard.log_param("dsn", f"postgresql://app:{value}@db/fraud")
    shipyard.set_tag("last_password", value)
    return {"sha256": hashlib.sha256(value.encode()).hexdigest()}


@step
def after(seen: dict[str, str]) -> bool:
    return "DB_PASSWORD" in os.environ  # only the step that declared it sees it


@flow
def uses_secret() -> None:
    after(connect())


@step(secrets=["db_password"])
def leak() -> None:
    raise RuntimeError(f"cannot connect with {os.environ['DB_PASSWORD']}")


@flow
def fails_with_secret() -> None:
    leak()
