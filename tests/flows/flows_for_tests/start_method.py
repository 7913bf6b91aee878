import sys

from shipyard import flow, step


@step
def inherited(i: int) -> bool:
    """Whether this worker has pytest loaded: a forked worker inherits the test runner's modules,
    a spawned one starts from a fresh interpreter."""
    return "_pytest" in sys.modules


@step
def together(flags: list[bool]) -> list[bool]:
    return flags


@flow
def start_method(n: int = 3):
    return together(inherited.map(list(range(n))))
