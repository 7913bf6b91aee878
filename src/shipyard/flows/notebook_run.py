"""Notebook steps: run a step's notebook with papermill and hand its variables back (in a task,
or when the step is called outside a flow, like a plain step's function).

``@step(notebook="explore.ipynb", outputs=["model", "score"])`` over ``def explore(data, alpha=0.5)``
(:mod:`shipyard.flows.notebooks`) runs as follows, in a temporary folder:

- inputs: each argument (defaults applied) becomes a variable of the kernel. Values whose ``repr``
  is an exact, short Python literal (numbers, strings, lists and dicts of them: parameters and
  constants) are written into an ``injected-parameters`` cell after the notebook's cell tagged
  ``parameters`` (papermill's convention; at the top when there is none); other values (frames,
  arrays, models from upstream steps) are pickled to a file that the same cell loads. The kernel
  runs the user's own code, with the trust of any step.
- execution: papermill, on ipykernel over this interpreter (:mod:`.notebook_kernel`), in the
  notebook's folder; cell stream output is echoed to the task's stdout/stderr (its logs).
- outputs: a final cell pickles the ``outputs`` variables to a file read back here; the step's
  output is the value (``outputs="score"``), a dict of them (a list), or None. A missing variable
  or one that cannot be pickled is a one-line error.
- the executed notebook's file is handed to ``save``: a task stores it (secrets replaced, size
  bounded: :mod:`shipyard.runtime.notebook`) as its artifact ``notebook``, which the UI renders.
- a failing cell raises :class:`NotebookError` naming the cell and the exception, with the cell's
  traceback (colours stripped), not papermill's frames.
"""

from __future__ import annotations

import importlib.util
import inspect
import math
import pickle
import re
import sys
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.core.errors import FlowError
from shipyard.flows.notebooks import NotebookSpec

if TYPE_CHECKING:
    from shipyard.flows.decorators import Step

MAX_LITERAL = 4096  # longer reprs are passed pickled, not written into the notebook
INJECTED_TAG = "injected-parameters"
OUTPUTS_HEADER = "# shipyard: hand the step's outputs back"
ERROR_MARKER_TAG = "papermill-error-cell-tag"
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
_INSTALL = "pip install 'shipyard[notebooks]'"


class NotebookError(FlowError):
    """A notebook step failed: a cell raised, an output is missing, the kernel could not start."""


def run_notebook(
    step: Step[..., Any],
    arguments: Mapping[str, Any],
    save: Callable[[Path], None] | None = None,
) -> Any:
    """Run ``step``'s notebook with ``arguments`` (by parameter name) and return its output;
    ``save`` gets the executed notebook's file (a task stores it: :mod:`shipyard.runtime.notebook`)."""
    spec = step.notebook
    if spec is None:
        raise FlowError(f"step {step.name!r} has no notebook")
    papermill, nbformat = _modules()
    values = _with_defaults(step, arguments)
    label = spec.path.name
    with tempfile.TemporaryDirectory(prefix="shipyard-notebook-") as tmp:
        folder = Path(tmp)
        nb = _read(nbformat, spec.path)
        _inject(nbformat, nb, values, folder / "inputs.pkl", step=step.name, label=label)
        outputs_file = folder / "outputs.pkl"
        if spec.names:
            nb.cells.append(_outputs_cell(nbformat, spec.names, outputs_file))
        source, executed = folder / "input.ipynb", folder / "executed.ipynb"
        nbformat.write(nb, str(source))
        failure: NotebookError | None = None
        try:
            papermill.execute_notebook(
                str(source),
                str(executed),
                kernel_name="python3",
                language="python",
                progress_bar=False,
                stdout_file=sys.stdout,
                stderr_file=sys.stderr,
                kernel_manager_class=_kernel_manager(),
                resources={"metadata": {"path": str(spec.path.parent)}},  # the kernel's cwd
            )
        except papermill.PapermillExecutionError as exc:
            failure = _cell_error(label, exc, spec)
        except Exception as exc:  # the kernel did not start, died, or timed out
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            failure = NotebookError(f"notebook {label}: {type(exc).__name__}: {first}".rstrip(": "))
        if save is not None and executed.is_file():
            save(executed)
        if failure is not None:
            raise failure
        return _outputs(outputs_file, spec, label)


def _modules() -> tuple[Any, Any]:
    if importlib.util.find_spec("ipykernel") is None:
        raise NotebookError(f"notebook steps need ipykernel and papermill: {_INSTALL}")
    try:
        import nbformat
        import papermill
    except ImportError:
        raise NotebookError(f"notebook steps need papermill and ipykernel: {_INSTALL}") from None
    return papermill, nbformat


def _kernel_manager() -> type:
    from shipyard.flows.notebook_kernel import ThisPythonKernel

    return ThisPythonKernel


def _with_defaults(step: Step[..., Any], arguments: Mapping[str, Any]) -> dict[str, Any]:
    try:
        bound = step.signature.bind(**arguments)
    except TypeError as exc:
        raise FlowError(f"step {step.name!r}: {exc}") from None
    bound.apply_defaults()
    for name, param in step.signature.parameters.items():
        if param.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            raise FlowError(f"notebook step {step.name!r}: name its inputs (no *{name})")
    return dict(bound.arguments)


def _read(nbformat: Any, path: Path) -> Any:
    try:
        return nbformat.v4.upgrade(nbformat.read(str(path), as_version=4))  # 4.5: cells have ids
    except Exception as exc:  # invalid JSON or not a notebook
        raise NotebookError(f"cannot read notebook {path}: {type(exc).__name__}: {exc}") from None


def literal(value: Any) -> str | None:
    """``repr(value)`` when evaluating it gives ``value`` back exactly and it is short; else None."""
    if not _is_literal(value, 0):
        return None
    text = repr(value)
    return text if len(text) <= MAX_LITERAL else None


def _is_literal(value: Any, depth: int) -> bool:
    if depth > 20:
        return False
    if value is None or type(value) in (bool, int, str):
        return True
    if type(value) is float:
        return math.isfinite(value)
    if type(value) is list:
        return all(_is_literal(v, depth + 1) for v in value)
    if type(value) is dict:
        return all(type(k) in (str, int) and _is_literal(v, depth + 1) for k, v in value.items())
    return False


def _inject(
    nbformat: Any, nb: Any, values: dict[str, Any], pickled_file: Path, *, step: str, label: str
) -> None:
    """Insert the ``injected-parameters`` cell (replacing one a previous papermill run left)."""
    lines = ["# Parameters injected by shipyard"]
    pickled: dict[str, Any] = {}
    for name, value in values.items():
        text = literal(value)
        if text is None:
            pickled[name] = value
        else:
            lines.append(f"{name} = {text}")
    if pickled:
        _dump_inputs(pickled, pickled_file, step, label)
        lines += [
            f"# the step's inputs {', '.join(pickled)}, loaded from the run's artifacts",
            "import pickle as _shipyard_pickle",
            f"with open({str(pickled_file)!r}, 'rb') as _shipyard_file:",
            "    globals().update(_shipyard_pickle.load(_shipyard_file))",
            "del _shipyard_pickle, _shipyard_file",
        ]
    cell = nbformat.v4.new_code_cell(source="\n".join(lines))
    cell.metadata["tags"] = [INJECTED_TAG]
    tags = [c.get("metadata", {}).get("tags", []) for c in nb.cells]
    injected = next((i for i, t in enumerate(tags) if INJECTED_TAG in t), None)
    if injected is not None:
        nb.cells[injected] = cell
        return
    parameters = next((i for i, t in enumerate(tags) if "parameters" in t), None)
    nb.cells.insert(0 if parameters is None else parameters + 1, cell)


def _dump_inputs(values: dict[str, Any], path: Path, step: str, label: str) -> None:
    try:
        path.write_bytes(pickle.dumps(values, protocol=pickle.HIGHEST_PROTOCOL))
    except Exception:
        for name, value in values.items():
            try:
                pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
            except Exception as exc:
                raise NotebookError(
                    f"step {step!r}: input {name!r} (a {type(value).__name__}) cannot be passed to "
                    f"notebook {label}: {type(exc).__name__}: {exc}"
                ) from None
        raise


def _outputs_cell(nbformat: Any, names: tuple[str, ...], path: Path) -> Any:
    source = "\n".join(
        [
            OUTPUTS_HEADER,
            "import pickle as _shipyard_pickle",
            f"with open({str(path)!r}, 'wb') as _shipyard_file:",
            "    _shipyard_pickle.dump(",
            f"        {{_n: globals()[_n] for _n in {list(names)!r} if _n in globals()}}, _shipyard_file",
            "    )",
        ]
    )
    return nbformat.v4.new_code_cell(source=source)


def _clean(text: Any) -> str:
    return _ANSI.sub("", str(text))


def _cell_error(label: str, exc: Any, spec: NotebookSpec) -> NotebookError:
    ename, evalue = _clean(exc.ename), _clean(exc.evalue)
    if str(exc.source).startswith(OUTPUTS_HEADER):
        return NotebookError(
            f"notebook {label}: its outputs {list(spec.names)} cannot be handed to the step: "
            f"{ename}: {evalue}"
        )
    where = f"cell In [{exc.exec_count}]" if exc.exec_count is not None else f"cell {exc.cell_index}"
    trace = _clean("\n".join(exc.traceback or [])).rstrip()
    head = f"notebook {label} failed in {where}: {ename}: {evalue}"
    return NotebookError(f"{head}\n{trace}" if trace else head)


def _outputs(path: Path, spec: NotebookSpec, label: str) -> Any:
    if not spec.names:
        return None
    try:
        found = pickle.loads(path.read_bytes())  # noqa: S301 - written by the step's own kernel
    except Exception as exc:
        raise NotebookError(
            f"notebook {label}: its outputs cannot be read back: {type(exc).__name__}: {exc} "
            "(a class defined in the notebook cannot leave it; define it in a module)"
        ) from None
    missing = [n for n in spec.names if n not in found]
    if missing:
        raise NotebookError(
            f"notebook {label} defines no variable {missing[0]!r} (outputs={list(spec.names)}); "
            "assign it in a cell"
        )
    if isinstance(spec.outputs, str):
        return found[spec.outputs]
    return {n: found[n] for n in spec.names}
