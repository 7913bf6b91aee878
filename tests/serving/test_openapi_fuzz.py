"""Schemathesis against the live service's OpenAPI document: generated bodies (valid and invalid)
never get a 5xx, and every response matches the documented status codes, content types and schemas."""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from shipyard.serving import ServingConfig, create_serving_app
from tests.serving.conftest import Env, auth, live

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def test_no_server_errors_and_conforming_responses(env: Env) -> None:
    config = ServingConfig(
        "models:/fraud@champion", log_dir=str(env.root / "log-fuzz"), max_body_bytes=256_000
    )
    with live(create_serving_app(config, stores=env.stores)) as url:
        schema = schemathesis.openapi.from_url(url + "/openapi.json", headers=auth(env))
        operations = [result.ok() for result in schema.get_all_operations()]
        assert {op.path for op in operations} >= {"/predict", "/health", "/ready", "/metrics"}
        for operation in operations:
            examples = 50 if operation.path == "/predict" else 5

            @given(case=operation.as_strategy())
            @settings(
                max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck)
            )
            def check(case: Any) -> None:
                case.call_and_validate(base_url=url, headers=auth(env), checks=CHECKS, timeout=30)

            check()
