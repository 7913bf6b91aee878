"""Import a flow file, find its flow and steps, and describe the code version.

Loaded modules are cached per process by (path, sha256 of the source), so a worker imports a flow
file once for many tasks and again only when the file changed (``resume`` after a fix).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import re
import subprocess
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from shipyard.core.entities import CodeVersion
from shipyard.core.errors import FlowError
from shipyard.flows.decorators import Flow, Step

_MODULES: dict[tuple[str, str], ModuleType] = {}


@dataclass(frozen=True)
class LoadedFlow:
    flow: Flow
    module: ModuleType
    path: Path
    source_hash: str

    @property
    def spec(self) -> dict[str, Any]:
        """How a worker finds this flow again (``Run.flow_spec``)."""
        return {
            "file": str(self.path),
            "module": self.module.__name__,
            "flow": self.flow.name,
            "attr": _attr_name(self.module, self.flow),
            "source_hash": self.source_hash,
        }


def _attr_name(module: ModuleType, flow: Flow) -> str:
    for name, value in vars(module).items():
        if value is flow:
            return name
    return flow.fn.__name__


def file_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def import_file(path: Path, source_hash: str | None = None) -> ModuleType:
    """Import ``path`` as a module (cached by path and source hash); FlowError with the file and
    the failing line when it raises."""
    path = path.resolve()
    if not path.is_file():
        raise FlowError(f"flow file {str(path)!r} does not exist")
    digest = source_hash or file_hash(path)
    cached = _MODULES.get((str(path), digest))
    if cached is not None:
        return cached
    name = f"shipyard_flow_{re.sub(r'[^0-9A-Za-z_]', '_', path.stem)}_{digest[:12]}"
    if path.suffix == ".ipynb":  # a notebook run as a one-step flow (shipyard run notebook.ipynb)
        from shipyard.runtime.notebook_flow import notebook_module

        module = notebook_module(path, name)
        sys.modules[name] = module
        _MODULES[(str(path), digest)] = module
        return module
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise FlowError(f"cannot import {str(path)!r} as a Python file")
    module = importlib.util.module_from_spec(spec)
    folder = str(path.parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        sys.modules.pop(name, None)
        line = _failing_line(exc, path)
        raise FlowError(f"cannot import flow file {path}{line}: {type(exc).__name__}: {exc}") from None
    _MODULES[(str(path), digest)] = module
    return module


def _failing_line(exc: BaseException, path: Path) -> str:
    if isinstance(exc, SyntaxError) and exc.lineno:
        return f", line {exc.lineno}"
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if Path(f.filename).resolve() == path]
    return f", line {frames[-1].lineno}" if frames else ""


def flows_in(module: ModuleType) -> dict[str, Flow]:
    found: dict[str, Flow] = {}
    for value in vars(module).values():
        if isinstance(value, Flow) and value.fn.__module__ == module.__name__:
            found[value.name] = value
    return found


def load_flow(path: Path, flow_name: str | None = None, source_hash: str | None = None) -> LoadedFlow:
    path = path.resolve()
    if not path.is_file():
        raise FlowError(f"flow file {str(path)!r} does not exist")
    digest = source_hash or file_hash(path)
    module = import_file(path, digest)
    flows = flows_in(module)
    if not flows:
        raise FlowError(f"{path} defines no @flow function; decorate one with @shipyard.flow")
    if flow_name is None:
        if len(flows) > 1:
            names = ", ".join(sorted(flows))
            raise FlowError(f"{path} defines several flows ({names}); pick one with --flow NAME")
        (flow,) = flows.values()
    else:
        if flow_name not in flows:
            raise FlowError(f"{path} has no flow {flow_name!r}; it defines: {', '.join(sorted(flows))}")
        flow = flows[flow_name]
    return LoadedFlow(flow=flow, module=module, path=path, source_hash=digest)


def loaded_from_flow(flow: Flow, cells: Path | None = None) -> LoadedFlow:
    """For ``flow.run()`` from Python: the flow must live in a file workers can import. A flow
    defined in a notebook cell is run from a file written from that cell under ``cells``
    (:mod:`shipyard.runtime.notebook_cell`)."""
    path = flow.source_file
    if path is None and cells is not None:
        from shipyard.runtime.notebook_cell import cell_flow_file

        written = cell_flow_file(flow, cells)
        if written is not None:
            return load_flow(written, flow.name)
    if path is None:
        raise FlowError(
            f"flow {flow.name!r} is not defined in a file; workers import flows from files: "
            "put it in a .py file (or a notebook cell of its own) and run that"
        )
    module = sys.modules.get(flow.fn.__module__)
    if module is None:
        raise FlowError(f"flow {flow.name!r}: its module {flow.fn.__module__!r} is not loaded")
    return LoadedFlow(flow=flow, module=module, path=path, source_hash=file_hash(path))


def resolve_step(target: str, flow_module: ModuleType, flow_module_name: str | None = None) -> Step[Any, Any]:
    """The step object for ``"module:qualname"``; the flow's own module (under whatever name it was
    imported when the run started: ``__main__``, a package module, a flow file) resolves to the
    loaded file."""
    module_name, _, qualname = target.partition(":")
    own = {flow_module.__name__, "__main__", flow_module_name}
    if module_name in own or module_name.startswith("shipyard_flow_"):
        module: Any = flow_module
    else:
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise FlowError(f"cannot import step module {module_name!r}: {exc}") from None
    obj: Any = module
    for part in qualname.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            raise FlowError(f"step {qualname!r} is no longer defined in {module_name}; was it renamed?")
    if isinstance(obj, Step):
        return obj
    if callable(obj):  # a step defined with a different decorator order
        return Step(obj)
    raise FlowError(f"{target} is not a step")


def code_version(paths: list[Path]) -> CodeVersion:
    """Git commit and dirty flag of the files' repository (if any), and sha256 over the files."""
    return start_code_version(paths)()


def start_code_version(paths: list[Path]) -> Callable[[], CodeVersion]:
    """Start the two ``git`` queries in the background; call the result to collect them."""
    digest = hashlib.sha256()
    for p in paths:
        digest.update(p.read_bytes())
    folder = str(paths[0].parent if paths else Path.cwd())
    commands = (
        ["git", "-C", folder, "rev-parse", "HEAD"],
        ["git", "-C", folder, "status", "--porcelain", "--untracked-files=no"],
    )
    procs: list[subprocess.Popen[str]] = []
    try:
        for cmd in commands:
            procs.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True))
    except OSError:
        procs = []

    def finish() -> CodeVersion:
        outputs: list[tuple[int, str]] = []
        for proc in procs:
            try:
                out, _ = proc.communicate(timeout=10)
                outputs.append((proc.returncode, out))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate()
                outputs.append((1, ""))
        commit: str | None = None
        dirty: bool | None = None
        if len(outputs) == 2 and outputs[0][0] == 0:
            commit = outputs[0][1].strip()
            dirty = bool(outputs[1][1].strip()) if outputs[1][0] == 0 else None
        return CodeVersion(
            git_commit=commit,
            git_dirty=dirty,
            source_hash=digest.hexdigest(),
            source_files=tuple(str(p) for p in paths),
        )

    return finish
