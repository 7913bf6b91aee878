"""The flow an exporter writes a workflow for, as its tasks' containers see it: one place that turns
``FLOW.py -p ...`` into a :class:`~shipyard.exporters.commands.FlowRef`.

The container finds the flow file at ``CODE_DIR/<path relative to the project root>`` (the project
root: the nearest folder holding ``shipyard.yaml`` or ``.git``, else the file's own folder), so an
image that copies the project to ``/app`` runs ``/app/flows/train.py`` for ``flows/train.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from shipyard.artifacts.store import ArtifactStore
from shipyard.core.errors import FlowError
from shipyard.core.settings import find_project_root
from shipyard.exporters.commands import FlowRef
from shipyard.runtime.loader import load_flow


def flow_ref(
    file: Path,
    params: Mapping[str, Any],
    flow_name: str | None = None,
    code_dir: str = "/app",
    package_store: ArtifactStore | None = None,
) -> FlowRef:
    """Load and build the flow (its params coerced, its graph validated) as ``code_dir`` holds it,
    or, with ``package_store``, as a code package stored there now (the pods fetch it by digest)."""
    base = PurePosixPath(code_dir)
    if not base.is_absolute() or ".." in base.parts:
        raise FlowError(f"--code-dir {code_dir!r} must be an absolute path in the container, e.g. /app")
    loaded = load_flow(file, flow_name)
    graph = loaded.flow.build(params)
    triggers = tuple(t.source for t in loaded.flow.triggers)
    if package_store is not None:
        from shipyard.runtime.code_package import build_code_package

        package = build_code_package(loaded.path, package_store)
        return FlowRef(
            path=package.flow_path,
            name=loaded.flow.name,
            graph=graph,
            params=graph.params,
            package=package.digest,
        )
    root = find_project_root(loaded.path.parent) or loaded.path.parent
    relative = loaded.path.relative_to(root)
    return FlowRef(
        path=str(base.joinpath(*relative.parts)),
        name=loaded.flow.name,
        graph=graph,
        params=graph.params,
        triggers=triggers,
    )
