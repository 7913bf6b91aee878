"""A fan-out of trivial tasks, in a step environment or not (bench/orchestrators.py)."""

from shipyard import flow, step


@step
def items(n: int) -> list[int]:
    return list(range(n))


@step(pip=["six==1.16.0"])
def in_env(x: int) -> int:
    return x + 1


@step
def in_process(x: int) -> int:
    return x + 1


@flow
def many(n: int = 20, env: bool = True):
    xs = items(n)
    return in_env.map(xs) if env else in_process.map(xs)
