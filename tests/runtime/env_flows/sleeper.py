import os
import time
from pathlib import Path

from shipyard import flow, step


@step(pip=["six==1.15.0"], timeout=6)
def sleepy() -> int:
    (Path(os.environ["SHIPYARD_TEST_COUNTS"]) / "pid").write_text(str(os.getpid()))
    time.sleep(120)
    return 1


@flow
def sleeper():
    return sleepy()
