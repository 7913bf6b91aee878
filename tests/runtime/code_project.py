"""A small flow project for the code package tests (tests/runtime, tests/ray): a flow file that
imports a local module at import time (``helpers``, which reads a package data file) and another
one inside a step (``lazy_helper``), so a task shows which copy of the code it ran."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from shipyard.runtime import api
from shipyard.runtime.code_package import CodePackage
from shipyard.runtime.loader import LoadedFlow
from shipyard.runtime.stores import RunStores

FLOW = """
import os
import time

from shipyard import flow, step
from helpers import scale


def _node() -> str:
    try:
        import ray

        if ray.is_initialized():
            return ray.get_runtime_context().get_node_id()
    except ImportError:
        pass
    return "local"


@step
def items(n: int) -> list[int]:
    return list(range(n))


@step
def work(x: int, seconds: float) -> dict:
    import lazy_helper  # imported by the task only: from wherever the task found the code

    time.sleep(seconds)
    return {"value": scale(x) + lazy_helper.offset(), "flow_file": __file__,
            "helper_file": lazy_helper.__file__, "node": _node()}


@step
def total(rows: list) -> dict:
    return {
        "values": [r["value"] for r in rows],
        "flow_files": sorted({r["flow_file"] for r in rows}),
        "helper_files": sorted({r["helper_file"] for r in rows}),
        "nodes": sorted({r["node"] for r in rows}),
    }


@flow
def packaged(n: int = 3, seconds: float = 0.0):
    return total(work.map(items(n), seconds=seconds))
"""

HELPERS = """
import json
from pathlib import Path

FACTOR = json.loads((Path(__file__).parent / "pkg" / "factor.json").read_text())["factor"]


def scale(x: int) -> int:
    return x * FACTOR
"""

LAZY = "def offset() -> int:\n    return 100\n"


def write_project(root: Path) -> Path:
    """The project folder (with a shipyard.yaml); returns the flow file."""
    (root / "pkg").mkdir(parents=True)
    (root / "flow.py").write_text(FLOW)
    (root / "helpers.py").write_text(HELPERS)
    (root / "lazy_helper.py").write_text(LAZY)
    (root / "pkg" / "__init__.py").write_text("")
    (root / "pkg" / "factor.json").write_text('{"factor": 7}')
    (root / "shipyard.yaml").write_text("project: packaged\n")
    return root / "flow.py"


def expected_values(n: int) -> list[int]:
    return [7 * x + 100 for x in range(n)]


def moving_away(project: Path, to: Path) -> Callable[[LoadedFlow, RunStores], CodePackage]:
    """A ``store_code_package`` that moves the project folder away once the package is stored,
    before any task starts: the tasks can only run from the package."""
    real = api.store_code_package

    def store_then_move(loaded: LoadedFlow, stores: RunStores, root: Path | None = None) -> CodePackage:
        package = real(loaded, stores, root)
        shutil.move(project, to)
        return package

    return store_then_move
