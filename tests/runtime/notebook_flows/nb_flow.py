"""A flow with notebook steps (tests/runtime/test_notebook_steps.py)."""

from typing import Any

import pandas as pd

from shipyard import flow, step


@step
def make(n: int) -> list[int]:
    return list(range(1, n + 1))


@step
def table(n: int) -> pd.DataFrame:
    return pd.DataFrame({"x": [float(i) for i in range(n)]})


@step(notebook="explore.ipynb", outputs=["total", "score", "frac"])
def explore(
    data: list[int], frame: pd.DataFrame, alpha: float = 0.5, label: str = "default"
) -> dict[str, Any]: ...


@step
def report(result: dict[str, Any]) -> str:
    return f"total={result['total']} score={result['score']} frac={result['frac']}"


@step(notebook="failing.ipynb", outputs="checked")
def failing(threshold: int) -> int: ...


@flow
def analysis(n: int = 4, alpha: float = 2.0):
    found = explore(make(n), table(n), alpha=alpha, label="run")
    return report(found)


@flow
def broken(threshold: int = 1):
    return failing(threshold)
