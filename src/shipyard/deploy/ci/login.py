"""``shipyard ci login``: a CI job's OIDC ID token exchanged at the shipyard server for a short-lived
machine token (``POST /api/v1/auth/oidc/exchange``; the trust rules live on the server).

On GitHub Actions the ID token comes from the job's token service (``ACTIONS_ID_TOKEN_REQUEST_URL``
and ``_TOKEN``, present when the workflow grants ``id-token: write``), asked for ``audience``;
elsewhere from a file. The shipyard token is written to ``$GITHUB_ENV`` (later steps see
``SHIPYARD_TOKEN``) and masked in the job's log, or printed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from shipyard.core.errors import ConfigurationError, InvalidInputError, UnauthenticatedError

HTTP_TIMEOUT_S = 30.0
MAX_ANSWER_BYTES = 64 * 1024


def github_id_token(audience: str) -> str:
    """The job's ID token for ``audience`` from GitHub's token service."""
    import httpx

    url = os.environ.get("ACTIONS_ID_TOKEN_REQUEST_URL")
    bearer = os.environ.get("ACTIONS_ID_TOKEN_REQUEST_TOKEN")
    if not url or not bearer:
        raise ConfigurationError(
            "no GitHub OIDC token service here (ACTIONS_ID_TOKEN_REQUEST_URL is not set): give the job "
            "`permissions: id-token: write`, or pass --id-token-file"
        )
    sep = "&" if "?" in url else "?"
    try:
        answer = httpx.get(
            f"{url}{sep}{urlencode({'audience': audience})}",
            headers={"Authorization": f"Bearer {bearer}"},
            timeout=HTTP_TIMEOUT_S,
        )
        value = answer.json().get("value") if answer.status_code == 200 else None
    except (httpx.HTTPError, ValueError, AttributeError) as exc:
        raise UnauthenticatedError(f"GitHub's OIDC token service failed: {type(exc).__name__}") from None
    if not isinstance(value, str) or not value:
        raise UnauthenticatedError(
            f"GitHub's OIDC token service answered {answer.status_code} without a token"
        )
    return value


def read_id_token(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"cannot read the ID token file {path}: {exc}") from None
    if not text:
        raise InvalidInputError(f"the ID token file {path} is empty")
    return text


def exchange(server: str, id_token: str, rule: str | None = None) -> dict[str, Any]:
    """The server's answer: ``token``, ``expires_in``, ``record``; its one-line refusal otherwise."""
    import httpx

    if not server.lower().startswith(("http://", "https://")):
        raise ConfigurationError(
            f"SHIPYARD_URI must name the shipyard server (http(s)://...), not {server!r}"
        )
    body: dict[str, Any] = {"token": id_token}
    if rule is not None:
        body["rule"] = rule
    try:
        answer = httpx.post(
            f"{server.rstrip('/')}/api/v1/auth/oidc/exchange", json=body, timeout=HTTP_TIMEOUT_S
        )
        data = answer.json() if len(answer.content) <= MAX_ANSWER_BYTES else None
    except (httpx.HTTPError, ValueError) as exc:
        raise UnauthenticatedError(
            f"the shipyard server did not answer the exchange: {type(exc).__name__}"
        ) from None
    if answer.status_code != 201 or not isinstance(data, dict) or not isinstance(data.get("token"), str):
        error = data.get("error", {}) if isinstance(data, dict) else {}
        message = error.get("message") if isinstance(error, dict) else None
        raise UnauthenticatedError(
            f"the shipyard server refused the ID token: {message or answer.status_code}"
        )
    return data


def write_github_env(path: Path, token: str) -> None:
    """Later steps of the job see ``SHIPYARD_TOKEN`` (GitHub reads ``$GITHUB_ENV`` between steps)."""
    with path.open("a", encoding="utf-8") as out:
        out.write(f"SHIPYARD_TOKEN={token}\n")
