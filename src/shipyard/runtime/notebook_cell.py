"""A flow defined in a notebook cell, run with ``flow.run()`` from that notebook.

Workers import flows from files, so the cell that defined the flow (IPython keeps each cell's code
in ``linecache`` under the name its functions carry) is written to a flow file under
``$SHIPYARD_HOME/notebook_cells/`` (named by the flow and the code's hash) and run from there, as
Metaflow's NBRunner does. The cell must hold the flow's steps and the imports they need; what a
cell does besides defining things (a ``.run()`` call, a print, a magic, an assignment computed by a
call) is left out of the file, so importing it defines the flow and runs nothing.
"""

from __future__ import annotations

import ast
import builtins
import dis
import hashlib
import linecache
from collections.abc import Iterator
from pathlib import Path
from types import CodeType

from shipyard.core.errors import FlowError
from shipyard.flows.decorators import Flow

_KEPT = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
MAX_CELL_CHARS = 1_000_000


def _constant_assignment(node: ast.stmt) -> bool:
    """``N = 10``, ``NAMES: list[str] = ["a"]``: an assignment whose value calls nothing."""
    if not isinstance(node, ast.Assign | ast.AnnAssign) or node.value is None:
        return False
    return not any(isinstance(sub, ast.Call | ast.Await | ast.NamedExpr) for sub in ast.walk(node.value))


def _definitions(source: str) -> str:
    """The cell's top-level imports, definitions and constant assignments (``N = 10``), in order."""
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        raise FlowError(f"the notebook cell that defines the flow does not parse: {exc.msg}") from None
    kept = [node for node in tree.body if isinstance(node, _KEPT) or _constant_assignment(node)]
    return ast.unparse(ast.Module(body=kept, type_ignores=[])) + "\n"


def cell_source(flow: Flow) -> str | None:
    """The code of the notebook cell that defined ``flow``; None when it was not defined in one."""
    if flow.fn.__module__ != "__main__":
        return None
    lines = linecache.getlines(flow.fn.__code__.co_filename)
    source = "".join(lines)
    if not source or len(source) > MAX_CELL_CHARS:
        return None
    return source


def cell_flow_file(flow: Flow, folder: Path) -> Path | None:
    """The flow file written from ``flow``'s notebook cell under ``folder`` (None when the flow
    was not defined in a notebook cell)."""
    source = cell_source(flow)
    if source is None:
        return None
    code = (
        f"# flow {flow.name!r} from a notebook cell: written by shipyard for flow.run() (its steps\n"
        "# and imports; what else the cell ran is left out)\n" + _definitions(source)
    )
    check_self_contained(flow, code)
    digest = hashlib.sha256(code.encode()).hexdigest()[:16]
    path = folder / f"{flow.name}_{digest}.py"
    if not path.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".tmp")
        partial.write_text(code, encoding="utf-8")
        partial.replace(path)
    return path


def _global_names(code: CodeType) -> Iterator[str]:
    """The global names ``code`` (and the functions inside it) reads."""
    for instruction in dis.get_instructions(code):
        if instruction.opname in {"LOAD_GLOBAL", "LOAD_NAME"}:
            yield str(instruction.argval)
    for const in code.co_consts:
        if isinstance(const, CodeType):
            yield from _global_names(const)


def _bound(tree: ast.Module) -> set[str]:
    """The names the module's top level binds."""
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        else:
            names.update(
                n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)
            )
    return names


def check_self_contained(flow: Flow, code: str) -> None:
    """Refuse, in one line, a cell that uses what another cell defined (the file would fail with a
    NameError): the names it reads that the notebook has but the cell does not define."""
    notebook = flow.fn.__globals__
    bound = _bound(ast.parse(code))
    compiled = compile(code, f"<flow {flow.name}>", "exec")
    missing = sorted(
        {
            name
            for name in _global_names(compiled)
            if name in notebook and name not in bound and not hasattr(builtins, name)
        }
    )
    if missing:
        raise FlowError(
            f"flow {flow.name!r} runs from its notebook cell alone, which does not define "
            f"{', '.join(missing)}: define them (or import them) in the flow's cell"
        )
