"""Before a run is created: turn every step's declared environment into a lock and an installed
environment, and record the locks with the run.

A step's requirements are its flow's (``pip=`` and the ``requirements=`` file beside the flow
file) plus its own (:func:`shipyard.flows.envspec.merge_pins`: a contradicting pin is a FlowError
naming the package and both pins). Steps with none run as before, in the runner's environment.
Every problem (a pin that contradicts the flow's, a package that does not exist, an unresolvable
set, a ``python=`` other than the interpreter tasks run on, a pin that breaks shipyard itself)
is one FlowError line before the run exists, so no task starts.

The result is ``flow_spec["envs"]``: ``{lock hash: {"python", "lock", "requirements"}}``; each
step node's ``opts["env_lock"]`` names its lock, and the lock hash is folded into the node's
``code_hash`` (a cached task never crosses environments). A resumed run passes the origin's
``envs``: a step whose requirements are unchanged gets the recorded lock, never a new resolve.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from shipyard.core.errors import FlowError
from shipyard.flows.envspec import EnvSpec, merge_pins, parse_requirement
from shipyard.flows.graph import Graph
from shipyard.runtime.envs.lock import EnvRequest, Lock, current_python, resolve
from shipyard.runtime.envs.store import ensure_env, envs_root

_MAX_REQUIREMENTS_FILE = 1 << 20


def read_requirements(owner: str, name: str, flow_file: Path) -> tuple[str, ...]:
    """The requirement lines of a ``requirements.txt`` beside the flow file (comments and blank
    lines skipped; pip options such as ``-r`` or ``--index-url`` are refused)."""
    path = (flow_file.parent / name).resolve()
    if not path.is_file():
        raise FlowError(f"{owner}: requirements file {str(path)!r} does not exist")
    if path.stat().st_size > _MAX_REQUIREMENTS_FILE:
        raise FlowError(f"{owner}: requirements file {str(path)!r} is larger than 1 MiB")
    found: list[str] = []
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("-"):
            raise FlowError(
                f"{owner}: {path.name} line {number}: pip options ({line.split()[0]}) are not supported; "
                "list one requirement per line"
            )
        found.append(parse_requirement(f"{owner}: {path.name} line {number}", line))
    return tuple(found)


def step_requests(
    graph: Graph, flow_env: EnvSpec, flow_file: Path, *, check_python: bool = True
) -> dict[str, EnvRequest]:
    """``{node name: request}`` for every step node with requirements. A ``python=`` other than
    this interpreter's is an error (``check_python``) or, for an image, the version to lock for."""
    flow_owner = f"flow {graph.flow_name!r}"
    flow_pins = flow_env.pip
    if flow_env.requirements:
        flow_pins = (*flow_pins, *read_requirements(flow_owner, flow_env.requirements, flow_file))
    python = current_python()
    requests: dict[str, EnvRequest] = {}
    for node in graph.nodes.values():
        if node.kind != "step":
            continue
        owner = f"step {node.step_name or node.name!r}"
        declared = EnvSpec.from_dict(node.opts.get("env"))
        wanted = declared.python or flow_env.python
        if wanted and wanted != python and check_python:
            raise FlowError(
                f"{owner} asks for python={wanted} but its tasks run on Python {python}; run the flow "
                f"with Python {wanted}, or build an image for it (shipyard image build)"
            )
        pins = merge_pins(owner, flow_pins, declared.pip)
        if pins:
            requests[node.name] = EnvRequest(wanted or python, pins)
    return requests


def _check_shipyard(owner: str, lock: Lock) -> None:
    """A lock that pins one of shipyard's own dependencies outside shipyard's range would stop the
    task's process from importing shipyard: refused, naming the package."""
    import importlib.metadata

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    try:
        needs = importlib.metadata.requires("shipyard") or []
    except importlib.metadata.PackageNotFoundError:
        return
    pins = lock.pins()
    for text in needs:
        req = Requirement(text)
        if req.marker is not None and "extra" in str(req.marker):
            continue
        version = pins.get(canonicalize_name(req.name))
        if version is not None and req.specifier and not req.specifier.contains(version, prereleases=True):
            raise FlowError(
                f"{owner}: its environment pins {req.name}=={version} but shipyard itself needs "
                f"{req.name}{req.specifier}; its tasks could not start: change the pin"
            )


def prepare_envs(
    graph: Graph,
    flow_env: EnvSpec,
    flow_file: Path,
    home: Path,
    recorded: Mapping[str, Any] | None = None,
    *,
    install: bool = True,
) -> dict[str, dict[str, Any]]:
    """Resolve (or reuse) and install every step's environment; returns ``flow_spec["envs"]``
    and sets ``opts["env_lock"]`` on each step node that has one. ``install=False`` (an image's
    Dockerfile) resolves only, for each step's declared Python."""
    requests = step_requests(graph, flow_env, flow_file, check_python=install)
    if not requests:
        return {}
    root = envs_root(home)
    known: dict[str, Lock] = {}
    for entry in (recorded or {}).values():
        old = Lock.from_dict(entry)
        known.setdefault(old.request.key, old)
    locks: dict[str, Lock] = {}
    owners: dict[str, str] = {}
    for name, request in requests.items():
        node = graph.nodes[name]
        owner = f"step {node.step_name or name!r}"
        lock = known.get(request.key) or resolve(request, owner, root / "locks")
        known[request.key] = lock
        if lock.hash not in locks:
            _check_shipyard(owner, lock)
        locks[lock.hash] = lock
        owners.setdefault(lock.hash, owner)
        node.opts = {**node.opts, "env_lock": lock.hash}
        node.code_hash = hashlib.sha256(f"{node.code_hash}:{lock.hash}".encode()).hexdigest()
    if install:
        for lock_hash, lock in locks.items():
            ensure_env(lock, root, owners[lock_hash])
    return {lock_hash: lock.to_dict() for lock_hash, lock in locks.items()}
