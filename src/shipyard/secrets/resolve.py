"""The values a step declared (``@step(secrets=[...])``), for the run's project and environment.

A run acts for ``SHIPYARD_PROJECT`` in ``SHIPYARD_ENVIRONMENT`` (typed settings, passed to every
worker with the rest of the settings). Where the run's metadata lives decides where values come
from: through a shipyard server (``SHIPYARD_URI=http(s)://``), the token's principal needs
``secret:read`` at ``project:P/env:E`` and the server audits each read; with a local SQL database,
the local backend decrypts them with the configured key (a local database belongs to its user).
With ``SHIPYARD_STEP_SECRETS=env`` (an exported workflow's pods, :mod:`shipyard.exporters.argo`)
each value is the process's environment variable of the same name instead, set from a Kubernetes
Secret; no store is asked.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from shipyard.core.errors import ConfigurationError
from shipyard.secrets.base import check_secret_ref

if TYPE_CHECKING:
    from shipyard.core.settings import Settings
    from shipyard.metadata.base import MetadataStore


def read_step_secrets(
    settings: Settings, metadata: MetadataStore, step: str, names: Sequence[str], what: str = "step"
) -> dict[str, str]:
    """``{name: value}`` for ``names`` of a step (or a deployment: ``what``); one-line errors (never
    a value) when they cannot be read."""
    if not names:
        return {}
    if settings.step_secrets == "env":
        return _from_environment(step, names, what)
    project, environment = settings.project, settings.environment
    if not project or not environment:
        owner = "the run" if what == "step" else f"the {what}"
        raise ConfigurationError(
            f"{what} {step!r} reads secrets {list(names)}, but {owner} names no project and environment; "
            f"set SHIPYARD_PROJECT and SHIPYARD_ENVIRONMENT (e.g. fraud and staging) for {owner}"
        )
    check_secret_ref(project, environment)
    from shipyard.metadata.rest.store import RestMetadataStore

    if isinstance(metadata, RestMetadataStore):
        from shipyard.metadata.rest.http import seg

        session = metadata.session
        base = f"/secrets/{seg(project)}/{seg(environment)}/"
        return {name: str(session.call("GET", base + seg(name))["value"]) for name in names}
    from shipyard.secrets import open_secrets_backend

    backend = open_secrets_backend(settings, metadata)
    return {name: backend.get(project, environment, name) for name in names}


def _from_environment(step: str, names: Sequence[str], what: str) -> dict[str, str]:
    """``SHIPYARD_STEP_SECRETS=env``: each value from the variable of the same name in upper case,
    set by whoever started the process (an exported workflow's pod, from a Kubernetes Secret)."""
    import os

    values: dict[str, str] = {}
    for name in names:
        variable = name.upper()
        value = os.environ.get(variable)
        if value is None:
            raise ConfigurationError(
                f"{what} {step!r} reads secret {name!r} from the environment variable {variable} "
                "(SHIPYARD_STEP_SECRETS=env), which is not set; give the process that variable "
                "(e.g. from a Kubernetes Secret)"
            )
        values[name] = value
    return values
