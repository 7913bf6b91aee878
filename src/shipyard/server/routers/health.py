"""``GET /health``: the only route that needs no token (load balancers and `shipyard server` probes)."""

from __future__ import annotations

from fastapi import APIRouter

from shipyard.server.deps import once

router = APIRouter(tags=["health"], dependencies=once())


@router.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}
