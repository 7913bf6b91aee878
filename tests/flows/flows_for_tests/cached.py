import os
import time
from pathlib import Path

from shipyard import flow, step


@step(cache=True)
def expensive(n: int) -> list[int]:
    Path(os.environ["SHIPYARD_TEST_COUNTS"], f"expensive-{time.time_ns()}").touch()
    return list(range(n))


@step
def total(xs: list[int]) -> int:
    return sum(xs)


@flow
def cached(n: int = 5):
    return total(expensive(n))
