"""What ``@step(notebook="explore.ipynb", outputs=["model", "score"])`` declares.

The decorated function names the step's inputs (its body is not run); the notebook is found next
to the file that defines the function (``fn.__code__.co_filename``), so a flow loaded from a code
package finds the notebook the package carries. A missing notebook is a FlowError when the flow
file is imported, before any run starts. Running it is :mod:`shipyard.runtime.notebook`'s job.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shipyard.core.errors import FlowError


@dataclass(frozen=True)
class NotebookSpec:
    """A notebook step's notebook (absolute path) and the kernel variables that become its output:
    ``outputs="score"`` -> the value of ``score``; ``outputs=["model", "score"]`` -> a dict of
    both; ``None`` -> the step outputs None."""

    path: Path
    outputs: str | tuple[str, ...] | None = None

    @property
    def names(self) -> tuple[str, ...]:
        if self.outputs is None:
            return ()
        return (self.outputs,) if isinstance(self.outputs, str) else self.outputs

    def digest(self) -> str:
        """sha256 of the notebook file (part of the step's code hash: editing it reruns the step)."""
        return hashlib.sha256(self.path.read_bytes()).hexdigest()


def notebook_spec(
    step_name: str, fn: Callable[..., Any], notebook: str | Path | None, outputs: str | Sequence[str] | None
) -> NotebookSpec | None:
    """The validated spec of ``@step(notebook=..., outputs=...)`` (None for a plain step)."""
    if notebook is None:
        if outputs is not None:
            raise FlowError(f"step {step_name!r}: outputs= names notebook variables; it needs notebook=")
        return None
    if not isinstance(notebook, str | Path) or not str(notebook).endswith(".ipynb"):
        raise FlowError(f'step {step_name!r}: notebook is the path of an .ipynb file, e.g. "explore.ipynb"')
    code = getattr(fn, "__code__", None)
    base = Path(code.co_filename).resolve().parent if code is not None else Path.cwd()
    path = (base / notebook).resolve()
    if not path.is_file():
        raise FlowError(
            f"step {step_name!r}: notebook {str(notebook)!r} not found at {path} "
            f"(a relative path is read from the folder of the file defining the step, {base})"
        )
    return NotebookSpec(path, _outputs(step_name, outputs))


def _outputs(step_name: str, outputs: str | Sequence[str] | None) -> str | tuple[str, ...] | None:
    if outputs is None:
        return None
    names = (outputs,) if isinstance(outputs, str) else tuple(outputs)
    if not names or not all(isinstance(n, str) and n.isidentifier() for n in names):
        raise FlowError(
            f"step {step_name!r}: outputs is a variable name or a list of them, "
            'e.g. outputs=["model", "score"]'
        )
    if len(set(names)) != len(names):
        raise FlowError(f"step {step_name!r}: outputs {list(names)} names one variable twice")
    return outputs if isinstance(outputs, str) else names
