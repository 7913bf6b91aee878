"""Where shipyard lives and who runs it, read from the environment with the standard library only.

:mod:`shipyard.core.settings` builds the typed :class:`~shipyard.core.settings.Settings` from these;
the CLI's fast paths (:mod:`shipyard.cli._fast`) read them without importing pydantic.
"""

from __future__ import annotations

import getpass
import os
from pathlib import Path

PROJECT_MARKERS = ("shipyard.yaml", ".git")
ENV_PREFIX = "shipyard_"


def find_project_root(start: Path | None = None) -> Path | None:
    """The nearest folder, walking up from ``start``, that holds ``shipyard.yaml`` or ``.git``."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if any((folder / marker).exists() for marker in PROJECT_MARKERS):
            return folder
    return None


def default_home(start: Path | None = None) -> Path:
    """``<project>/.shipyard`` inside a project, else ``~/.shipyard``."""
    root = find_project_root(start)
    return (root / ".shipyard") if root is not None else Path.home() / ".shipyard"


def current_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers)
        return os.environ.get("USER", "unknown")


def shipyard_variables() -> dict[str, str]:
    """Every ``SHIPYARD_<NAME>`` variable, keyed by ``name`` in lower case (names are matched
    without regard to case; where two spellings are set, the later one in the environment wins)."""
    found: dict[str, str] = {}
    for key, value in os.environ.items():
        lowered = key.lower()
        if lowered.startswith(ENV_PREFIX):
            found[lowered[len(ENV_PREFIX) :]] = value
    return found
