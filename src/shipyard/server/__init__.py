"""The shipyard server: a FastAPI app factory (:func:`create_app`) with injected stores.

Importing this package imports FastAPI; nothing else in shipyard imports it at startup.
"""

from __future__ import annotations

from shipyard.server.app import ServerConfig, ServerContext, create_app

__all__ = ["ServerConfig", "ServerContext", "create_app"]
