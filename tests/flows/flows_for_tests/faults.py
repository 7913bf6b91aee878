"""Flows that fail on purpose; the `marker` parameter is a file whose presence 'fixes' them."""

import os
import signal
import time
from pathlib import Path

import shipyard
from shipyard import flow, step


@step
def prepare(n: int) -> list[int]:
    print("prepare ran")
    counts = os.environ.get("SHIPYARD_TEST_COUNTS")
    if counts:
        Path(counts, f"prepare-{time.time_ns()}").touch()
    return list(range(n))


@step
def fragile(x: int, marker: str) -> int:
    if x == 2 and not Path(marker).exists():
        raise ValueError(f"boom on item {x}")
    return x * 10


@step
def crashy(x: int, marker: str) -> int:
    if x == 1 and not Path(marker).exists():
        os.kill(os.getpid(), signal.SIGKILL)
    return x + 1


@step
def total(xs: list[int]) -> int:
    return sum(xs)


@step(retries=2, retry_delay=0.05)
def flaky(x: int, state_dir: str) -> int:
    tries = Path(state_dir, f"tries-{x}")
    count = int(tries.read_text()) if tries.exists() else 0
    tries.write_text(str(count + 1))
    shipyard.log_artifact({"attempt": count + 1}, name="note")  # the retry records it again
    if count == 0:
        print(f"first attempt of item {x}")  # only the failed attempt prints
        raise RuntimeError("first attempt fails")
    return x


@step(timeout=0.5)
def sleepy(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


@step
def slow(x: int, seconds: float, marker: str) -> int:
    if not Path(marker).exists():
        time.sleep(seconds)
    return x


@step
def gated(x: int, marker: str, gate: str) -> int:
    """Fails item 2 until ``marker`` exists; then each run of item 2 leaves a file beside the marker
    and waits (at most 10 s) for ``gate`` to exist."""
    if x != 2:
        return x
    if not Path(marker).exists():
        raise ValueError("item 2 is not fixed yet")
    Path(f"{marker}.ran-{time.time_ns()}").touch()
    end = time.monotonic() + 10
    while not Path(gate).exists() and time.monotonic() < end:
        time.sleep(0.05)
    return x


@flow
def gated_resume(n: int = 4, marker: str = "/nonexistent", gate: str = "/nonexistent"):
    return total(gated.map(prepare(n), marker=marker, gate=gate))


@flow
def failing(n: int = 4, marker: str = "/nonexistent"):
    return total(fragile.map(prepare(n), marker=marker))


@flow
def crashing(n: int = 3, marker: str = "/nonexistent"):
    return total(crashy.map(prepare(n), marker=marker))


@flow
def retrying(n: int = 3, state_dir: str = "/tmp"):
    return total(flaky.map(prepare(n), state_dir=state_dir))


@flow
def timing_out(seconds: float = 30.0):
    return sleepy(seconds)


@flow
def sleeping(n: int = 2, seconds: float = 30.0, marker: str = "/nonexistent"):
    return total(slow.map(prepare(n), seconds=seconds, marker=marker))
