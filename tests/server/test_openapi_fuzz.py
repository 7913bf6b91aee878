"""Schemathesis against the team server's OpenAPI document, every operation (DELETE included: the
database is a throwaway one), with every check that applies: no 5xx, every status code, content
type, body and header documented, schema-valid requests accepted, schema-violating ones refused,
405/OPTIONS with ``Allow``, and no answer without a token (``ignored_auth``).

It runs the schemathesis CLI (its coverage phase is where boundary values, missing parameters and
undeclared methods come from) against a live ``create_app`` with an admin token, a few examples per
operation. The allowances below are narrow: one operation, one status, and why the schema cannot say
what the code checks. Everything else fails the test.
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from shipyard.server.app import ServerConfig
from tests.server.live import live_server

# (method, path): why a schema-valid request may still answer 400 there (positive_data_acceptance)
SEMANTIC_400 = {
    ("GET", "/api/v1/runs"): "filter is a small query language (metadata/filters.py), not a pattern",
    ("GET", "/api/v1/model-versions"): "needs artifact_id or digest: OpenAPI cannot require one of two",
    ("GET", "/api/v1/runs/{run_id}/metric-history"): "page_token is opaque: only ones the server issued",
    ("POST", "/api/v1/bindings"): "role must name an existing role (built-in or custom), not a pattern",
    ("POST", "/api/v1/roles"): "permissions must come from the permission catalog",
    ("POST", "/api/v1/tokens"): "permissions must be ones the caller holds, from the catalog",
    ("PUT", "/api/v1/blobs/sha256/{digest}"): "the uploaded bytes must hash to the digest in the path",
    ("PUT", "/api/v1/blobs/blake3/{digest}"): "the uploaded bytes must hash to the digest in the path",
    ("PUT", "/api/v1/monitoring/monitors/{name}"): "spec is the monitoring DSL, checked by monitors.py",
    ("POST", "/api/v1/monitoring/results"): "rows are ResultRow records checked by the codec",
    ("POST", "/api/v1/policies"): "row_filter is the row-filter language (data/rowfilter.py), not a pattern",
    ("GET", "/api/v1/datasets/{name}/versions/{version}/data"): "where is the row-filter language and "
    "column must name the version's columns",
    ("POST", "/api/v1/datasets/{name}/versions"): "columns and stats are free-form JSON: an integer "
    "past 64 bits is refused, and JSON Schema cannot tell 10**30 from 1e30",
    (
        "GET",
        "/api/v1/branches/{project}/{branch}",
    ): "main, master and production name production's own line: refused as branch names (core/branches.py)",
    (
        "PUT",
        "/api/v1/branches/{project}/{branch}",
    ): "main, master and production name production's own line: refused as branch names (core/branches.py)",
    (
        "DELETE",
        "/api/v1/branches/{project}/{branch}",
    ): "main, master and production name production's own line: refused as branch names (core/branches.py)",
    ("POST", "/api/v1/runs"): "a branch namespace's branch is at most 40 characters and never main, "
    "master or production (core/branches.py validate_namespace)",
    ("POST", "/api/v1/deploy/{project}/{environment}/releases"): "the plan and the objects' specs are "
    "free-form JSON: an integer past 64 bits is refused (JSON Schema cannot tell 10**30 from 1e30)",
    ("POST", "/api/v1/deploy/{project}/{environment}/releases/{number}/finish"): "the objects' specs are "
    "free-form JSON: an integer past 64 bits is refused (JSON Schema cannot tell 10**30 from 1e30)",
}


# every POST: schemathesis sends the same example Idempotency-Key with other bodies and routes, and a
# key reused for another request answers 422 (server/idempotency.py); a schema cannot ask for a
# fresh key per request
KEY_REUSED = "422"


def _config(path: Path) -> Path:
    lines = []
    for (method, route), why in sorted(SEMANTIC_400.items()):
        statuses = ["2xx", "400", "401", "403", "404", "409"] + ([KEY_REUSED] if method == "POST" else [])
        lines += [
            f"# {why}",
            "[[operations]]",
            f'include-name = "{method} {route}"',
            f"checks.positive_data_acceptance.expected-statuses = {statuses!r}".replace("'", '"'),
            "",
        ]
    lines += [
        "[[operations]]",
        'include-method = "POST"',
        "checks.positive_data_acceptance.expected-statuses = "
        f'["2xx", "401", "403", "404", "409", "{KEY_REUSED}"]',
        "",
    ]
    path.write_text("\n".join(lines))
    return path


@pytest.mark.slow
def test_every_operation_conforms(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cli = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    assert cli is not None, "schemathesis is a dev dependency (pyproject.toml)"
    monkeypatch.setenv("SHIPYARD_SECRETS_KEY", base64.b64encode(os.urandom(32)).decode())
    config = ServerConfig(
        token_cache_s=0.0, max_json_bytes=256 * 1024, max_blob_bytes=4096, auth_failures=1_000_000
    )
    with live_server(tmp_path, config) as server:
        command = [
            cli,
            "--config-file",
            str(_config(tmp_path / "schemathesis.toml")),
            "run",
            server.url + "/openapi.json",
            "--header",
            f"Authorization: Bearer {server.token}",
            "--checks",
            "all",
            "--phases",
            "examples,coverage,fuzzing",
            "--max-examples",
            "3",
            "--seed",
            "1",
            "--no-shrink",
            "--continue-on-failure",
            # one worker: CPython 3.11's ast.parse is not thread-safe ("AST constructor recursion depth
            # mismatch" when hypothesis describes lambdas in two threads at once)
            "--workers",
            "1",
            "--output-sanitize",
            "true",
        ]
        done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout[-20_000:] + done.stderr[-2000:]
