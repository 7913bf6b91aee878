"""Start, resume and inspect flow runs from Python (``flow.run(...)``) and from the CLI."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.core.clock import utcnow
from shipyard.core.entities import CodeVersion, Run, RunCreate, RunStatus, Task
from shipyard.core.errors import FlowError, NotFoundError
from shipyard.core.ids import new_id
from shipyard.executors.base import Executor, resources_from_dict
from shipyard.executors.registry import open_executor
from shipyard.flows.decorators import Flow
from shipyard.flows.graph import Graph
from shipyard.metadata.branches import note_branch
from shipyard.runtime.artifacts_io import OWN_OUTPUTS, record_to_ref, ref_to_stored
from shipyard.runtime.code_package import ARTIFACT_NAME as CODE_ARTIFACT
from shipyard.runtime.code_package import CodePackage, build_code_package
from shipyard.runtime.loader import LoadedFlow, load_flow, loaded_from_flow, start_code_version
from shipyard.runtime.origin import OriginIndex
from shipyard.runtime.plan import RunPlan
from shipyard.runtime.scheduler import Outcome, ProgressFn, Scheduler
from shipyard.runtime.stores import RunStores, open_run_stores

if TYPE_CHECKING:
    from shipyard.core.settings import Settings


@dataclass
class RunOptions:
    max_workers: int | None = None
    executor: str = "local"
    executor_options: dict[str, Any] = field(default_factory=dict)  # e.g. {"address": ...} for ray
    progress: ProgressFn | None = None
    tags: dict[str, str] = field(default_factory=dict)
    name: str | None = None  # the run's name (default: FLOW-<last 8 of the id>)


class FlowRun:
    """A finished (or failed) flow run; outputs load lazily from the artifact store."""

    def __init__(self, stores: RunStores, run_id: str, outcome: Outcome | None = None) -> None:
        self._stores = stores
        self.id = run_id
        self.outcome = outcome

    @property
    def stores(self) -> RunStores:
        """The stores the run was written to (the runner's)."""
        return self._stores

    @property
    def info(self) -> Run:
        return self._stores.metadata.get_run(self.id)

    @property
    def status(self) -> RunStatus:
        return self.info.status

    @property
    def error(self) -> str | None:
        return self.info.error

    @property
    def tasks(self) -> list[Task]:
        return self._stores.metadata.list_tasks(self.id)

    @property
    def output(self) -> Any:
        """The flow's return value (NotFoundError if it returned nothing or did not finish)."""
        rec = self._stores.metadata.find_artifact(self.id, "output")
        stored = ref_to_stored(record_to_ref(rec))
        return self._stores.artifacts.get_object(stored, name="output", allow_unsafe=OWN_OUTPUTS)

    def outputs(self, step: str) -> list[Any]:
        """The outputs of every task of ``step``, in task order (one item for an unmapped step)."""
        tasks = [t for t in self.tasks if t.step == step and t.status.ok and t.status.value != "skipped"]
        if not tasks:
            raise NotFoundError(f"run {self.id} has no finished task of step {step!r}")
        values = []
        for task in tasks:
            rec = self._stores.metadata.find_artifact(self.id, "output", task_id=task.id)
            stored = ref_to_stored(record_to_ref(rec))
            values.append(self._stores.artifacts.get_object(stored, name=task.key, allow_unsafe=OWN_OUTPUTS))
        return values

    def __repr__(self) -> str:
        return f"<FlowRun {self.id} {self.status.value}>"

    def _repr_html_(self) -> str:
        """A notebook's display: the run, its tasks and its metric charts (escaped HTML)."""
        from shipyard.runtime.reprs import flow_run_html

        return flow_run_html(self)


def fail_stale(stores: RunStores) -> list[str]:
    """Fail the runs whose heartbeat lapsed, judged by the metadata store's clock (not ours).
    Housekeeping only: a principal that may not fail others' runs (a server answers 403 without
    run:write:any, e.g. a developer or a CI machine token) still runs its flow."""
    from shipyard.core.errors import PermissionDeniedError

    try:
        return stores.metadata.fail_stale_runs(stores.settings.heartbeat_timeout_s)
    except PermissionDeniedError:
        return []


def _check_resources(graph: Graph, executor: Executor) -> None:
    for node in graph.nodes.values():
        if node.kind == "step":
            executor.check_fits(resources_from_dict(node.opts.get("resources")), f"step {node.name!r}")


def execute(
    loaded: LoadedFlow,
    params: Mapping[str, Any],
    settings: Settings,
    options: RunOptions,
    *,
    origin_run_id: str | None = None,
    stores: RunStores | None = None,
) -> FlowRun:
    """Build the graph (validated), create the run, run it to the end; returns the run."""
    from shipyard.runtime.envs.dispatch import run_task_in_env
    from shipyard.runtime.task_entry import warm_up

    version = start_code_version([loaded.path])
    graph = loaded.flow.build(params)
    executor = open_executor(
        options.executor, max_workers=options.max_workers, warmup=warm_up, **options.executor_options
    )
    _check_resources(graph, executor)
    executor.init(run_task_in_env, settings)
    try:
        return _start(loaded, graph, settings, options, executor, version, origin_run_id, stores)
    except BaseException:
        executor.finalize()
        raise


def _start(  # noqa: PLR0917 (the pieces execute() prepared)
    loaded: LoadedFlow,
    graph: Graph,
    settings: Settings,
    options: RunOptions,
    executor: Executor,
    version: Callable[[], CodeVersion],
    origin_run_id: str | None,
    stores: RunStores | None,
) -> FlowRun:
    stores = stores or open_run_stores(settings)
    fail_stale(stores)
    run_id = new_id()
    origin = OriginIndex.load(stores.metadata, origin_run_id) if origin_run_id else None
    create_flow_run(
        stores,
        loaded,
        graph,
        version(),
        run_id=run_id,
        tags={"shipyard.kind": "flow", **options.tags},
        origin_run_id=origin_run_id,
        name=options.name,
    )
    plan = RunPlan(graph, stores, run_id, settings.write_namespace, origin)
    outcome = Scheduler(plan, executor, stores, progress=options.progress).run()
    return FlowRun(stores, run_id, outcome)


def create_flow_run(
    stores: RunStores,
    loaded: LoadedFlow,
    graph: Graph,
    version: CodeVersion,
    *,
    run_id: str,
    tags: Mapping[str, str],
    origin_run_id: str | None = None,
    spec: Mapping[str, Any] | None = None,
    package_root: Path | None = None,
    name: str | None = None,
) -> None:
    """Create the RUNNING run record of a flow: its params, graph and code (``spec``: more
    ``flow_spec`` fields, e.g. the orchestrator that drives it; ``package_root``: the folder the
    code package is built from, when the flow file came out of one; ``name``: the run's name
    instead of FLOW-<last 8 of the id>)."""
    settings = stores.settings
    envs = _prepare_envs(loaded, graph, settings, stores, origin_run_id)
    package = store_code_package(loaded, stores, package_root)
    note_branch(stores.metadata, settings)
    stores.metadata.create_run(
        RunCreate(
            id=run_id,
            name=name or f"{loaded.flow.name}-{run_id[-8:]}",
            namespace=settings.write_namespace,
            user=settings.user,
            start_time=utcnow(),
            params=dict(graph.params),
            tags=dict(tags),
            flow_name=loaded.flow.name,
            flow_spec={
                **loaded.spec,
                "graph": graph.to_dict(),
                "code_package": package.spec,
                **({"envs": envs} if envs else {}),
                **(spec or {}),
            },
            code_version=version,
            origin_run_id=origin_run_id,
        )
    )
    stores.metadata.record_artifact(package.stored.record(run_id, CODE_ARTIFACT))


def _prepare_envs(
    loaded: LoadedFlow, graph: Graph, settings: Settings, stores: RunStores, origin_run_id: str | None
) -> dict[str, Any]:
    """Every step's environment resolved (a resumed run reuses its origin's locks) and installed,
    before the run exists (:mod:`shipyard.runtime.envs.prepare`)."""
    from shipyard.runtime.envs.prepare import prepare_envs

    recorded = None
    if origin_run_id:
        recorded = (stores.metadata.get_run(origin_run_id).flow_spec or {}).get("envs")
    return prepare_envs(graph, loaded.flow.env, loaded.path, settings.home, recorded)


def store_code_package(loaded: LoadedFlow, stores: RunStores, root: Path | None = None) -> CodePackage:
    """The run's code (flow file, local modules, shipyard.yaml) as a stored package, so a task
    runs where the flow file is not (another node, a pod)."""
    limit = stores.settings.code_package_max_bytes
    return build_code_package(loaded.path, stores.artifacts, max_bytes=limit, root=root)


def run_flow(
    flow: Flow, params: Mapping[str, Any], settings: Settings | None = None, **options: Any
) -> FlowRun:
    """``flow.run(**params)``: run a flow defined in an importable file. In a Jupyter notebook a
    table of its tasks per step updates while it runs (interrupt the cell to cancel the run)."""
    run_options = RunOptions(**options)
    if run_options.progress is None:
        from shipyard.runtime.reprs import NotebookProgress, in_notebook

        if in_notebook():
            run_options.progress = NotebookProgress(f"flow {flow.name}")
    if settings is None:
        from shipyard.core.settings import load_settings

        settings = load_settings()
    return execute(loaded_from_flow(flow, settings.home / "notebook_cells"), params, settings, run_options)


def run_file(
    path: Path,
    params: Mapping[str, Any],
    settings: Settings,
    options: RunOptions,
    flow_name: str | None = None,
) -> FlowRun:
    return execute(load_flow(path, flow_name), params, settings, options)


def resume(run_id: str, settings: Settings, options: RunOptions, stores: RunStores | None = None) -> FlowRun:
    """A new run of the origin's flow file (re-imported from disk) and params, reusing the
    origin's succeeded tasks whose inputs are unchanged."""
    stores = stores or open_run_stores(settings)
    fail_stale(stores)
    run_id = resolve_run_id(stores, run_id)
    origin = stores.metadata.get_run(run_id)
    if origin.status is RunStatus.RUNNING:
        raise FlowError(f"run {run_id} is still running; resume it once it has finished or failed")
    spec = origin.flow_spec or {}
    if "file" not in spec:
        raise FlowError(f"run {run_id} is not a flow run; only flow runs can be resumed")
    loaded = load_flow(Path(spec["file"]), spec.get("flow"))
    return execute(loaded, origin.params, settings, options, origin_run_id=run_id, stores=stores)


def resolve_run_id(stores: RunStores, text: str) -> str:
    ids = stores.metadata.find_run_ids(text, limit=2)
    if not ids:
        raise NotFoundError(f"no run {text!r}")
    if len(ids) > 1 and text not in ids:
        raise FlowError(f"run id prefix {text!r} is ambiguous; type more characters")
    return text if text in ids else ids[0]
