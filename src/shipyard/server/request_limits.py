"""Bounds on the request line, checked first thing by the guard (``server/auth.py``): a path or
query string longer than any route needs answers **414** ``uri_too_long`` (one JSON line), before
routing, authentication or any handler sees it (a 10 kB static path used to reach the file system
and fail there as a 500).

No route needs more: ids are at most 64 characters, names and keys at most 250, and a file name
on every file system at most 255 bytes, so a path segment over ``MAX_SEGMENT_BYTES`` (UTF-8, after
percent-decoding) or a path over ``MAX_PATH_BYTES`` is refused; a filter (at most 10,000
characters, percent-encoded up to three bytes each) fits in ``MAX_QUERY_BYTES``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.responses import Response

MAX_PATH_BYTES = 2048
MAX_SEGMENT_BYTES = 255
MAX_QUERY_BYTES = 32 * 1024


def request_line_problem(scope: Mapping[str, Any]) -> str | None:
    """Why the request's path or query string is too long, or None."""
    path = str(scope.get("path", ""))
    raw_path = scope.get("raw_path") or b""
    query = scope.get("query_string") or b""
    encoded = path.encode("utf-8", "surrogateescape")
    if len(encoded) > MAX_PATH_BYTES or len(raw_path) > 3 * MAX_PATH_BYTES:
        return f"the path is longer than {MAX_PATH_BYTES} bytes"
    if any(len(part) > MAX_SEGMENT_BYTES for part in encoded.split(b"/")):
        return f"a path segment is longer than {MAX_SEGMENT_BYTES} bytes"
    if len(query) > MAX_QUERY_BYTES:
        return f"the query string is longer than {MAX_QUERY_BYTES} bytes"
    return None


def request_line_response(scope: Mapping[str, Any]) -> Response | None:
    """The 414 answer for an over-long request line, or None when it is within bounds."""
    problem = request_line_problem(scope)
    if problem is None:
        return None
    from shipyard.server.errors import error_response

    return error_response(414, "uri_too_long", f"request URI too long: {problem}; no route needs one")
