"""Verifying a JWT's signature against an issuer's JWKS: what the web UI's single sign-on
(:mod:`shipyard.server.ui.oidc`) and the CI token exchange (:mod:`shipyard.server.ci_oidc`) share.

:class:`JwksKeys` fetches a key set (bounded JSON over HTTP, or read from a file), keeps it, and reads
it once more when a token names a key id it does not hold (the issuer rotated its keys). Only
asymmetric algorithms are accepted, so a key set's public keys cannot be used as HMAC secrets.
Needs ``joserfc`` (``pip install 'shipyard[oidc]'``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from shipyard.core.errors import UnauthenticatedError

ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"]
HTTP_TIMEOUT_S = 10.0
MAX_DOCUMENT_BYTES = 1024 * 1024  # a discovery document or key set larger than this is refused
MIN_REFRESH_S = 10.0  # the least time between two reads of a key set forced by an unknown key id


def get_json(
    url: str, error: type[UnauthenticatedError], what: str = "the identity provider"
) -> dict[str, Any]:
    """The JSON object at ``url`` (no redirects, bounded), or ``error`` saying what failed."""
    import httpx
    import orjson

    try:
        with httpx.stream("GET", url, timeout=HTTP_TIMEOUT_S, follow_redirects=False) as response:
            response.raise_for_status()
            body = b""
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > MAX_DOCUMENT_BYTES:
                    raise error(f"{what}'s {url} is over {MAX_DOCUMENT_BYTES} bytes")
        data = orjson.loads(body)
    except (httpx.HTTPError, orjson.JSONDecodeError) as exc:
        raise error(f"{what} did not answer {url}: {type(exc).__name__}") from None
    if not isinstance(data, dict):
        raise error(f"{what}'s {url} is not a JSON object")
    return data


class JwksKeys:
    """One issuer's key set: ``load()`` returns the JWKS document; kept until a token names an
    unknown key id."""

    def __init__(self, load: Callable[[], dict[str, Any]], error: type[UnauthenticatedError]) -> None:
        self._load = load
        self._error = error
        self._keys: Any = None
        self._loaded_at = 0.0
        self._lock = threading.Lock()

    def keys(self, refresh: bool = False) -> Any:
        """The key set; ``refresh`` reads it again unless it was read in the last
        :data:`MIN_REFRESH_S` (tokens naming made-up key ids cannot hammer the issuer)."""
        import time

        from joserfc.errors import JoseError
        from joserfc.jwk import KeySet

        with self._lock:
            stale = refresh and time.monotonic() - self._loaded_at >= MIN_REFRESH_S
            if self._keys is None or stale:
                self._loaded_at = time.monotonic()
                try:
                    self._keys = KeySet.import_key_set(self._load())  # type: ignore[arg-type]
                except (JoseError, ValueError, TypeError, KeyError):
                    raise self._error("the issuer's JWKS holds no usable keys") from None
            return self._keys

    def decode(self, token: str) -> dict[str, Any]:
        """The claims of ``token`` once its signature checks out (claims are not validated here)."""
        from joserfc import jwt
        from joserfc.errors import InvalidKeyIdError, JoseError

        try:
            try:
                decoded = jwt.decode(token, self.keys(), algorithms=ALGORITHMS)
            except InvalidKeyIdError:  # the issuer rotated its keys: read the JWKS once more
                decoded = jwt.decode(token, self.keys(refresh=True), algorithms=ALGORITHMS)
        except JoseError as exc:
            raise self._error(f"the token's signature is not valid ({exc.error})") from None
        except ValueError:  # not a JWT at all (wrong number of parts, bad base64)
            raise self._error("the token is not a signed JWT (header.payload.signature)") from None
        return dict(decoded.claims)
