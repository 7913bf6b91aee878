import time
from pathlib import Path

from shipyard import flow, step


@step
def wait_for(folder: str) -> str:
    """Says it started, then waits (up to 60 s) until the test lets it finish."""
    Path(folder, "started").touch()
    deadline = time.monotonic() + 60
    while not Path(folder, "go").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    return "done"


@flow
def waiting(folder: str):
    return wait_for(folder)
