"""A deployment's secrets (``shipyard serve --secret db_password``): read once at start-up for the
service's ``SHIPYARD_PROJECT`` / ``SHIPYARD_ENVIRONMENT`` (through the shipyard server with the
service's token, which needs ``secret:read`` there and is audited, or from the local database with
the key), set as upper-cased environment variables of the service process (``DB_PASSWORD``) before
the model loads, so model code and its libraries can read them, and masked (``***``) in what the
service logs. The service process is the deployment's own, so the variables live as long as it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shipyard.serving.config import ServingConfig
    from shipyard.tracking.stores import Stores

_LOGGERS = ("shipyard.serving", "uvicorn.error", "uvicorn.access")


class RedactSecrets(logging.Filter):
    """Masks secret values in a record's message and traceback before any handler formats it."""

    def __init__(self, values: Sequence[str]) -> None:
        super().__init__()
        self.values = [v for v in values if v]

    def filter(self, record: logging.LogRecord) -> bool:
        from shipyard.runtime.capture import redact_text

        record.msg, record.args = redact_text(record.getMessage(), self.values), None
        if record.exc_info:
            text = record.exc_text or logging.Formatter().formatException(record.exc_info)
            record.exc_text, record.exc_info = redact_text(text, self.values), None
        return True


def expose_secrets(config: ServingConfig, stores: Stores) -> list[str]:
    """Read and export ``config.secrets``; returns the values (for masking)."""
    if not config.secrets:
        return []
    from shipyard.secrets.resolve import read_step_secrets

    values = read_step_secrets(
        stores.settings, stores.metadata, config.deployment_name, config.secrets, what="deployment"
    )
    os.environ.update({name.upper(): value for name, value in values.items()})
    masking = RedactSecrets(list(values.values()))
    for name in _LOGGERS:
        logging.getLogger(name).addFilter(masking)
    return list(values.values())
