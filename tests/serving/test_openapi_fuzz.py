"""Schemathesis against the live service, as an outside check runs it: every check class
(``--checks all``: server errors, status codes, content types, response schemas and headers,
negative data refused, positive data accepted, missing headers, unsupported methods and ``Allow``,
ignored authentication, ...), positive and negative data, over every operation of the OpenAPI
document, in the examples, coverage and fuzzing phases. Zero failures: the document states every
status and bound the service has, and the service refuses everything the document forbids."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from shipyard.serving import ServingConfig, create_serving_app
from tests.serving.conftest import Env, auth, live

SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"


@pytest.mark.slow  # about 20 s: some 700 generated requests
def test_schemathesis_finds_no_failure_of_any_check(env: Env, tmp_path: Path) -> None:
    config = ServingConfig(
        "models:/fraud@champion",
        log_dir=str(env.root / "log-fuzz"),
        max_body_bytes=256_000,
        auth_failures=1_000_000,  # ignored_auth sends bad tokens from this one address on purpose
    )
    with live(create_serving_app(config, stores=env.stores)) as url:
        document = httpx.get(url + "/openapi.json", headers=auth(env)).json()
        assert set(document["paths"]) == {"/predict", "/feedback", "/health", "/ready", "/metrics"}
        command = [
            str(SCHEMATHESIS),
            "run",
            url + "/openapi.json",
            "--checks",
            "all",
            "--mode",
            "all",
            "--phases",
            "examples,coverage,fuzzing",
            "--header",
            f"Authorization: Bearer {env.token}",
            "--max-examples",
            "50",
            "--seed",
            "7",
            "--workers",
            "1",
            "--no-color",
            "--request-timeout",
            "30",
        ]
        done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-8000:]
    assert re.search(r"Tested:\s+5\b", out), out[-3000:]
    assert "No issues found" in out, out[-3000:]


def test_every_operation_documents_its_error_statuses_and_headers(env: Env) -> None:
    config = ServingConfig("models:/fraud@champion", log_dir=None)
    with live(create_serving_app(config, stores=env.stores)) as url:
        doc = httpx.get(url + "/openapi.json", headers=auth(env)).json()
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            statuses = set(operation["responses"])
            assert {"400", "404", "405", "421"} <= statuses, (method, path)
            assert operation["responses"]["405"]["headers"]["Allow"]["required"] is True
            if path not in ("/health", "/ready"):
                assert {"401", "403", "429", "503"} <= statuses, (method, path)
                assert "Retry-After" in operation["responses"]["503"]["headers"]
            if method == "post":
                assert {"413", "415", "422"} <= statuses, (method, path)
                ref = operation["responses"]["422"]["content"]["application/json"]["schema"]["$ref"]
                assert ref == "#/components/schemas/ErrorBody"
    bounds = doc["components"]["schemas"]["fraudRow"]["properties"]["f0"]
    assert bounds["maximum"] == 2.0**511 and bounds["minimum"] == -(2.0**511)


def test_options_and_405_list_the_methods_in_allow(env: Env) -> None:
    config = ServingConfig("models:/fraud@champion", log_dir=None)
    with live(create_serving_app(config, stores=env.stores)) as url:
        options = httpx.options(url + "/predict", headers=auth(env))
        assert options.status_code == 204 and options.headers["allow"] == "OPTIONS, POST"
        assert httpx.options(url + "/predict").status_code == 401  # a token, as for the route itself
        health = httpx.options(url + "/health")
        assert health.status_code == 204 and health.headers["allow"] == "GET, OPTIONS"
        for method, path, allow in [
            ("DELETE", "/predict", "OPTIONS, POST"),
            ("GET", "/predict", "OPTIONS, POST"),
            ("TRACE", "/health", "GET, OPTIONS"),
            ("HEAD", "/metrics", "GET, OPTIONS"),
            ("PUT", "/docs", "GET, HEAD, OPTIONS"),
        ]:
            r = httpx.request(method, url + path, headers=auth(env))
            assert r.status_code == 405, (method, path, r.text)
            assert r.headers["allow"] == allow, (method, path)
            if method != "HEAD":
                assert r.json()["error"]["code"] == "method_not_allowed"
