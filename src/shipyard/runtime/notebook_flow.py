"""``shipyard run notebook.ipynb``: a parameterized notebook as a one-step flow.

The notebook itself is the "flow file": :func:`shipyard.runtime.loader.import_file` hands a
``.ipynb`` path here, and :func:`notebook_module` builds, in memory, the module a flow file would
have been — one notebook step named after the notebook (:mod:`shipyard.runtime.notebook` runs it
with papermill, stores the executed copy as the task's artifact ``notebook``) inside a flow of the
same name whose parameters are the notebook's: each ``name = literal`` assignment of its cell tagged
``parameters`` (papermill's convention) is a flow parameter with that default, typed by the
literal (``alpha = 0.5`` -> ``alpha: float = 0.5``), so ``-p alpha=0.3`` is checked and coerced
like any flow parameter. Assignments of other expressions stay the notebook's own.

Everything else is a normal flow run: the run records the parameters, the code version (the
notebook's hash), the code package (the notebook is its flow file, so a worker without the
notebook runs it from the package) and the task's logs; a failing cell fails the run with the
cell's traceback. Workers rebuild the same module from the same notebook (same name, same step
target), so tasks resolve their step like any other.
"""

from __future__ import annotations

import ast
import inspect
import json
import re
from pathlib import Path
from types import ModuleType
from typing import Any

from shipyard.core.errors import FlowError
from shipyard.flows.decorators import Flow, Step

MAX_NOTEBOOK_BYTES = 64 << 20  # a notebook read to find its parameters
_TYPES: tuple[type, ...] = (bool, int, float, str, list, dict)


def flow_name(path: Path) -> str:
    """The flow (and step) name of a notebook: its file name, as an identifier."""
    name = re.sub(r"\W", "_", path.stem).strip("_") or "notebook"
    return name if not name[0].isdigit() else f"nb_{name}"


def _source(cell: Any) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def notebook_parameters(path: Path) -> list[tuple[str, Any]]:
    """(name, default) of each literal assignment in the cell tagged ``parameters``, in order."""
    size = path.stat().st_size
    if size > MAX_NOTEBOOK_BYTES:
        raise FlowError(f"notebook {path} is {size:,} bytes; at most {MAX_NOTEBOOK_BYTES >> 20} MiB is read")
    try:
        nb = json.loads(path.read_bytes())
    except (ValueError, RecursionError) as exc:
        raise FlowError(f"cannot read notebook {path}: not JSON ({exc})") from None
    cells = nb.get("cells") if isinstance(nb, dict) else None
    if not isinstance(cells, list):
        raise FlowError(f"cannot read notebook {path}: it has no cells")
    tagged = [
        c for c in cells if isinstance(c, dict) and "parameters" in (c.get("metadata") or {}).get("tags", [])
    ]
    if not tagged:
        return []
    try:
        tree = ast.parse(_source(tagged[0]))
    except SyntaxError as exc:
        raise FlowError(
            f"notebook {path.name}: its parameters cell does not parse: {exc.msg} (line {exc.lineno})"
        ) from None
    found: dict[str, Any] = {}
    for node in tree.body:
        target, value = None, None
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            target, value = node.targets[0].id, node.value
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
            target, value = node.target.id, node.value
        if target is None or value is None or target.startswith("_"):
            continue
        try:
            found[target] = ast.literal_eval(value)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            found.pop(target, None)  # an expression: the notebook's own, not a parameter
    return list(found.items())


def _annotation(value: Any) -> Any:
    for kind in _TYPES:
        if type(value) is kind:
            return kind
    return Any


def _signature(params: list[tuple[str, Any]]) -> inspect.Signature:
    return inspect.Signature(
        [
            inspect.Parameter(
                name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=_annotation(default)
            )
            for name, default in params
        ]
    )


def notebook_module(path: Path, module_name: str) -> ModuleType:
    """The flow module of the notebook at ``path`` (see the module doc), named ``module_name``."""
    path = path.resolve()
    params = notebook_parameters(path)
    name = flow_name(path)
    module = ModuleType(module_name, f"The notebook {path.name} as a one-step flow.")
    module.__file__ = str(path)
    signature = _signature(params)
    annotations = {p: _annotation(d) for p, d in params}

    def body(**values: Any) -> Any: ...

    body.__name__ = body.__qualname__ = f"{name}_notebook"
    body.__module__ = module_name
    body.__signature__ = signature  # type: ignore[attr-defined]
    body.__annotations__ = dict(annotations)
    notebook_step: Step[..., Any] = Step(body, name=name, notebook=str(path))

    def run_notebook(**values: Any) -> Any:
        return notebook_step(**values)

    run_notebook.__name__ = run_notebook.__qualname__ = name
    run_notebook.__module__ = module_name
    run_notebook.__signature__ = signature  # type: ignore[attr-defined]
    run_notebook.__annotations__ = dict(annotations)
    setattr(module, body.__name__, notebook_step)
    setattr(module, name, Flow(run_notebook, name=name))
    return module
