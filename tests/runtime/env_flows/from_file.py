"""Flow-level pins from requirements.txt; the second step fails until a flag file exists, so the
run can be resumed."""

import os
from pathlib import Path

from shipyard import flow, step


@step
def first() -> str:
    import six

    return six.__version__


@step
def second(seen: str) -> dict[str, str]:
    import six

    flag = Path(os.environ["SHIPYARD_TEST_COUNTS"]) / "go"
    if not flag.exists():
        raise RuntimeError("not yet")
    return {"first": seen, "second": six.__version__}


@flow(requirements="requirements.txt")
def from_file():
    return second(first())
