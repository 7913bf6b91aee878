"""Argo Workflows' published JSON schema (`../shared/schemas/`, see its README) as a validator, made
strict: every object definition refuses fields it does not declare, so a misspelt field fails."""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

SCHEMA_NAME = "argo-workflows-v4.1.2.schema.json"
KINDS = {
    "WorkflowTemplate": "io.argoproj.workflow.v1alpha1.WorkflowTemplate",
    "CronWorkflow": "io.argoproj.workflow.v1alpha1.CronWorkflow",
    "Workflow": "io.argoproj.workflow.v1alpha1.Workflow",
}


def _schema_file() -> Path | None:
    here = Path(__file__).resolve()
    for folder in here.parents[2:6]:  # the repository's parent and a few above (worktrees)
        candidate = folder / "shared" / "schemas" / SCHEMA_NAME
        if candidate.is_file():
            return candidate
    return None


def _strict(definitions: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(definitions)
    for schema in out.values():
        if (
            schema.get("type") == "object"
            and "properties" in schema
            and "additionalProperties" not in schema
            and not schema.get("x-kubernetes-preserve-unknown-fields")
        ):
            schema["additionalProperties"] = False
    return out


@pytest.fixture(scope="session")
def argo_definitions() -> dict[str, Any]:
    path = _schema_file()
    if path is None:
        reason = f"{SCHEMA_NAME} not found in ../shared/schemas/ (vendored outside the repository)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason + "; CI must have it")
        pytest.skip(reason)
    return _strict(json.loads(path.read_text())["definitions"])


@pytest.fixture(scope="session")
def validate_argo(argo_definitions: dict[str, Any]) -> Callable[[Mapping[str, Any]], None]:
    import jsonschema

    validators: dict[str, Any] = {}

    def validate(doc: Mapping[str, Any]) -> None:
        kind = KINDS[doc["kind"]]
        if kind not in validators:
            schema = {"$ref": f"#/definitions/{kind}", "definitions": argo_definitions}
            validators[kind] = jsonschema.Draft202012Validator(schema)
        errors = sorted(validators[kind].iter_errors(dict(doc)), key=lambda e: list(e.absolute_path))
        if errors:
            lines = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors[:10]]
            raise AssertionError("not a valid " + doc["kind"] + ":\n" + "\n".join(lines))

    return validate
