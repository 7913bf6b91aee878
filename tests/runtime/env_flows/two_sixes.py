"""Two steps pinning different versions of one package; a third sees the runner's own."""

import os
from pathlib import Path

from shipyard import flow, step


def _six() -> str:
    import six

    counts = os.environ.get("SHIPYARD_TEST_COUNTS")
    if counts:
        (Path(counts) / f"pid-{os.getpid()}").touch()
    return six.__version__


@step(pip=["six==1.16.0"])
def new_six() -> str:
    return _six()


@step(pip=["six==1.15.0"])
def old_six() -> str:
    return _six()


@step
def base_six(new: str, old: str) -> dict[str, str]:
    return {"new": new, "old": old, "base": _six()}


@flow
def two_sixes():
    return base_six(new_six(), old_six())
