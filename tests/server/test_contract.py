"""The API contract at the edge: one status (400 ``invalid_input``) for a request off the schema,
with the one-line message of the check the code applies; repeated single-valued query parameters
refused; integers JSON readers hold exactly; alert values a number or ``{"$float": ...}``; a server
without a secrets key answers a documented 503; the OpenAPI document declares what is answered."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx

NOW = datetime.now(UTC).replace(microsecond=0).isoformat()


def _invalid(response: httpx.Response, *words: str) -> str:
    assert response.status_code == 400, response.text[:300]
    error = response.json()["error"]
    assert error["code"] == "invalid_input"
    message = str(error["message"])
    assert "\n" not in message and "^" not in message, message  # one line, never a regex dump
    for word in words:
        assert word in message, message
    return message


def test_a_request_off_the_schema_is_a_one_line_400_in_the_domain_s_words(admin: httpx.Client) -> None:
    _invalid(admin.get("/api/v1/models/a%01b"), "model name", "control character")
    _invalid(admin.post("/api/v1/models", json={"name": " m", "at": NOW}), "model name", "whitespace")
    _invalid(admin.get("/api/v1/models", params={"limit": 0}), "limit", ">= 1")
    _invalid(admin.post("/api/v1/models", json={"name": "m", "at": NOW, "colour": 1}), "colour", "remove")
    _invalid(admin.patch("/api/v1/models/m", json={"description": "d", "at": 0}), "at", "ISO 8601")


def test_a_single_valued_query_parameter_given_twice_is_refused(admin: httpx.Client) -> None:
    _invalid(admin.get("/api/v1/models?prefix=a&prefix=b"), "prefix", "more than once")
    _invalid(admin.get("/api/v1/runs-count?filter=a&filter=b"), "filter", "more than once")
    # list parameters still repeat
    assert admin.get("/api/v1/runs?status=running&status=failed").status_code == 200


def test_integral_floats_are_integers_and_integers_stay_within_53_bits(admin: httpx.Client) -> None:
    assert admin.post("/api/v1/models", json={"name": "m", "at": NOW}).status_code == 201
    version = {
        "package_digest": "a" * 64,
        "package_size": 10.0,
        "flavor": "sklearn",
        "created_by": "admin",
        "created_at": NOW,
    }
    assert admin.post("/api/v1/models/m/versions", json=version).status_code == 201, "10.0 is 10"
    too_big = {**version, "package_size": 2**53}
    _invalid(admin.post("/api/v1/models/m/versions", json=too_big), "package_size")
    _invalid(admin.post("/api/v1/models/m/versions", json={**version, "package_size": "10"}), "package_size")
    _invalid(admin.post("/api/v1/models/m/versions", json={**version, "package_digest": ""}), "sha256")


def test_alert_values_are_numbers_or_float_markers(admin: httpx.Client) -> None:
    alert = {"monitor": "m", "key": "k", "at": NOW, "message": "drift"}
    for value in (1.5, 3, None, {"$float": "nan"}):
        assert admin.post("/api/v1/monitoring/alerts", json={**alert, "value": value}).status_code == 201
    for bad in ("high", {"$float": "big"}, [1], 10**400):  # 10**400 used to raise OverflowError: 500
        _invalid(admin.post("/api/v1/monitoring/alerts", json={**alert, "value": bad}), "value")


def test_the_openapi_document_declares_400_everywhere_and_422_only_for_reused_keys(
    admin: httpx.Client,
) -> None:
    schema = admin.get("/openapi.json").json()
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            responses = operation["responses"]
            assert "400" in responses, (method, path)
            assert responses["400"]["content"]["application/json"]["schema"] == {
                "$ref": "#/components/schemas/Error"
            }
            assert ("422" in responses) == (method == "post"), (method, path)  # Idempotency-Key reused
    assert "HTTPValidationError" not in schema["components"]["schemas"]
    alert = schema["components"]["schemas"]["AlertCreateIn"]["properties"]["value"]
    assert {"type": "null"} in alert["anyOf"] and any("$float" in str(s) for s in alert["anyOf"])
