"""``@step`` and ``@flow``.

A step called outside a flow is a plain function call (steps are unit-testable); called while a
flow is being built it returns a :class:`~shipyard.flows.graph.Ref` and records a node. Nothing
here runs a flow: ``Flow.run`` hands the flow to :mod:`shipyard.runtime` (resolved at call time,
because the flows layer sits below the runtime).
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import inspect
import re
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Generic, ParamSpec, TypeVar, overload

from shipyard.core.errors import FlowError
from shipyard.flows.build import GraphBuilder, current_builder
from shipyard.flows.envspec import EnvSpec, parse_env
from shipyard.flows.graph import ConstInput, Graph, Ref, RefInput
from shipyard.flows.kubernetes import parse_kubernetes
from shipyard.flows.notebooks import notebook_spec
from shipyard.flows.params import ParamSpec as FlowParam
from shipyard.flows.params import coerce_params, param_specs
from shipyard.flows.schedule import schedule_options

P = ParamSpec("P")
R = TypeVar("R")
_UNITS = {
    "": 1,
    "k": 1 / 1024,
    "kb": 1 / 1024,
    "m": 1,
    "mb": 1,
    "g": 1024,
    "gb": 1024,
    "t": 1024**2,
    "tb": 1024**2,
}


@dataclass(frozen=True)
class Resources:
    """What one task of a step needs: CPU cores, memory in MiB, GPUs (0: not declared)."""

    cpu: float = 0.0
    memory_mb: int = 0
    gpu: int = 0


_SECRET_NAME = re.compile(r"[a-z][a-z0-9_]{0,62}")  # as shipyard.secrets.base checks stored names
_RESERVED_VARIABLES = frozenset(
    {"PATH", "HOME", "USER", "LOGNAME", "SHELL", "PWD", "LANG", "TMPDIR", "TERM", "HOSTNAME", "TZ"}
)
_RESERVED_PREFIXES = ("SHIPYARD_", "PYTHON", "LD_", "LC_", "CUDA_", "RAY_")


def parse_secrets(step_name: str, value: Sequence[str] | None, what: str = "step") -> tuple[str, ...]:
    """The names of the secrets a step (or a deployment: ``what``) reads, each seen as the
    environment variable of the same name in upper case (``db_password`` -> ``DB_PASSWORD``)."""
    if value is None:
        return ()
    if isinstance(value, str) or not all(isinstance(v, str) for v in value):
        raise FlowError(f'{what} {step_name!r}: secrets is a list of names, e.g. secrets=["db"]')
    names = tuple(value)
    for name in names:
        if not _SECRET_NAME.fullmatch(name):
            raise FlowError(
                f"{what} {step_name!r}: invalid secret name {name!r}; use lower-case letters, digits and "
                "'_', starting with a letter"
            )
        variable = name.upper()
        if variable in _RESERVED_VARIABLES or variable.startswith(_RESERVED_PREFIXES):
            raise FlowError(
                f"{what} {step_name!r}: secret {name!r} would replace the environment variable {variable}, "
                "which the process itself needs; store it under another name"
            )
    if len(set(names)) != len(names):
        raise FlowError(f"{what} {step_name!r}: secrets {list(names)} name one secret twice")
    return names


def parse_resources(step_name: str, value: Mapping[str, Any] | Resources | None) -> Resources:
    if value is None:
        return Resources()
    if isinstance(value, Resources):
        return value
    unknown = set(value) - {"cpu", "memory", "gpu"}
    if unknown:
        raise FlowError(f"step {step_name!r}: unknown resources {sorted(unknown)}; use cpu, memory, gpu")
    cpu = float(value.get("cpu", 0.0))
    gpu = int(value.get("gpu", 0))
    memory = _parse_memory(step_name, value.get("memory", 0))
    if cpu < 0 or gpu < 0 or memory < 0:
        raise FlowError(f"step {step_name!r}: resources must be positive, got {dict(value)}")
    return Resources(cpu=cpu, memory_mb=memory, gpu=gpu)


def _parse_memory(step_name: str, value: Any) -> int:
    if isinstance(value, int | float):
        return int(value)
    match = re.fullmatch(r"\s*([0-9.]+)\s*([a-zA-Z]*)\s*", str(value))
    if not match or match.group(2).lower() not in _UNITS:
        raise FlowError(
            f"step {step_name!r}: memory {value!r} is not a size like 512 (MiB), '2GB' or '512MB'"
        )
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


class Step(Generic[P, R]):
    """A function usable as a flow step. Options: ``retries``, ``retry_delay`` (seconds, doubled
    on each retry), ``timeout`` (seconds), ``cache``, ``resources`` (cpu, memory, gpu), ``name``,
    ``secrets`` (names of the run's project/environment secrets the step sees as environment
    variables; see :mod:`shipyard.runtime.task_entry`), ``notebook`` and ``outputs`` (the step runs
    that notebook with the function's arguments as its inputs; :mod:`shipyard.flows.notebooks`),
    ``pip``/``python`` (the step's own environment, :mod:`shipyard.runtime.envs`), ``image`` (for
    exported runs) and ``kubernetes`` (node selector and tolerations of its pods in exported
    workflows: :mod:`shipyard.flows.kubernetes`)."""

    def __init__(
        self,
        fn: Callable[P, R],
        *,
        name: str | None = None,
        retries: int = 0,
        retry_delay: float = 1.0,
        timeout: float | None = None,
        cache: bool = False,
        resources: Mapping[str, Any] | Resources | None = None,
        secrets: Sequence[str] | None = None,
        notebook: str | Path | None = None,
        outputs: str | Sequence[str] | None = None,
        pip: Sequence[str] | None = None,
        python: str | None = None,
        image: str | None = None,
        kubernetes: Mapping[str, Any] | None = None,
    ) -> None:
        self.fn = fn
        self.name = name or fn.__name__
        if "<locals>" in fn.__qualname__:
            raise FlowError(f"step {self.name!r} must be defined at module level, not inside a function")
        if retries < 0 or retry_delay < 0 or (timeout is not None and timeout <= 0):
            raise FlowError(f"step {self.name!r}: retries, retry_delay and timeout must be positive")
        self.retries = retries
        self.retry_delay = retry_delay
        self.timeout = timeout
        self.cache = cache
        self.resources = parse_resources(self.name, resources)
        self.secrets = parse_secrets(self.name, secrets)
        self.notebook = notebook_spec(self.name, fn, notebook, outputs)
        self.env: EnvSpec = parse_env(f"step {self.name!r}", pip=pip, python=python, image=image)
        self.kubernetes = parse_kubernetes(self.name, kubernetes)
        functools.update_wrapper(self, fn)

    @functools.cached_property
    def signature(self) -> inspect.Signature:
        return inspect.signature(self.fn)

    @functools.cached_property
    def hints(self) -> dict[str, Any]:
        try:
            return typing.get_type_hints(self.fn)
        except Exception:  # unresolvable forward references: skip the type checks
            return {}

    @property
    def target(self) -> str:
        return f"{self.fn.__module__}:{self.fn.__qualname__}"

    @functools.cached_property
    def code_hash(self) -> str:
        try:
            source = inspect.getsource(self.fn)
        except (OSError, TypeError):
            source = self.fn.__code__.co_code.hex()
        if self.notebook is not None:
            source += self.notebook.digest()
        return hashlib.sha256(source.encode()).hexdigest()

    def options_dict(self) -> dict[str, Any]:
        options: dict[str, Any] = {
            "retries": self.retries,
            "retry_delay": self.retry_delay,
            "timeout": self.timeout,
            "cache": self.cache,
            "resources": asdict(self.resources),
        }
        if self.secrets:  # the names (never values), so a run's spec shows what its steps read
            options["secrets"] = list(self.secrets)
        if self.notebook is not None:
            options["notebook"] = self.notebook.path.name
        if self.env.to_dict():
            options["env"] = self.env.to_dict()
        if self.env.image:
            options["image"] = self.env.image
        if self.kubernetes:  # only when set: the options (and graph digests) of other steps stay as they were
            options["kubernetes"] = self.kubernetes
        return options

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        builder = current_builder()
        if builder is None:
            return self._invoke(*args, **kwargs)
        return builder.call(self, args, kwargs)  # type: ignore[return-value]

    def map(self, items: Any, *args: Any, **kwargs: Any) -> list[R]:
        """One task per item of ``items`` (a list, or a step output that is a list); the other
        arguments are passed to every task. Outside a flow, a list comprehension."""
        builder = current_builder()
        if builder is None:
            return [self._invoke(item, *args, **kwargs) for item in items]
        return builder.call(self, (items, *args), kwargs, fan="map")  # type: ignore[return-value]

    def join(self, mapped: Any, *args: Any, **kwargs: Any) -> Any:
        """Close the innermost fan-out of ``mapped`` (a ``.map`` output): one task per outer item,
        receiving the list of its inner outputs (``join(inner)`` after ``inner = f.map(outer)`` with
        ``outer = g.map(xs)`` runs ``join[i]`` on ``inner[i]``). Over a one-level map it is a plain
        call. Outside a flow, ``mapped`` is a list of lists and the result one output per list."""
        builder = current_builder()
        if builder is None:
            return [self._invoke(inner, *args, **kwargs) for inner in mapped]
        return builder.call(self, (mapped, *args), kwargs, fan="join")

    def _invoke(self, *args: Any, **kwargs: Any) -> R:
        """The step run outside a flow: the function, or its notebook (:mod:`.notebook_run`)."""
        if self.notebook is None:
            return self.fn(*args, **kwargs)
        from shipyard.flows.notebook_run import run_notebook

        return typing.cast(R, run_notebook(self, self.signature.bind(*args, **kwargs).arguments))

    def __repr__(self) -> str:
        return f"<step {self.name}>"


@overload
def step(fn: Callable[P, R], /) -> Step[P, R]: ...


@overload
def step(
    *,
    name: str | None = None,
    retries: int = 0,
    retry_delay: float = 1.0,
    timeout: float | None = None,
    cache: bool = False,
    resources: Mapping[str, Any] | None = None,
    secrets: Sequence[str] | None = None,
    notebook: str | Path | None = None,
    outputs: str | Sequence[str] | None = None,
    pip: Sequence[str] | None = None,
    python: str | None = None,
    image: str | None = None,
    kubernetes: Mapping[str, Any] | None = None,
) -> Callable[[Callable[P, R]], Step[P, R]]: ...


def step(
    fn: Callable[P, R] | None = None, /, **options: Any
) -> Step[P, R] | Callable[[Callable[P, R]], Step[P, R]]:
    """Make a function a flow step: ``@step`` or ``@step(retries=2, timeout=60, cache=True,
    resources={"cpu": 2, "memory": "4GB", "gpu": 1}, secrets=["db"], pip=["xgboost==2.1.*"],
    python="3.11", image="registry.io/team/x:1")``, or a notebook step:
    ``@step(notebook="explore.ipynb", outputs=["model", "score"])`` over ``def explore(data,
    alpha=0.5): ...``."""
    if fn is not None:
        return Step(fn, **options)

    def wrap(f: Callable[P, R]) -> Step[P, R]:
        return Step(f, **options)

    return wrap


class Flow:
    """A flow: a function wiring steps together, with typed parameters; ``schedule`` (a cron
    expression) and ``triggers`` say what starts it besides a user (see :mod:`shipyard.flows.schedule`);
    ``pip``, ``requirements`` (a file beside the flow file) and ``python`` are every step's
    environment (a step's own pins add to them)."""

    def __init__(
        self,
        fn: Callable[..., Any],
        name: str | None = None,
        *,
        schedule: str | None = None,
        trigger: Any = None,
        pip: Sequence[str] | None = None,
        requirements: str | None = None,
        python: str | None = None,
    ) -> None:
        self.fn = fn
        self.name = name or fn.__name__
        self.env: EnvSpec = parse_env(
            f"flow {self.name!r}", pip=pip, requirements=requirements, python=python
        )
        self.params: list[FlowParam] = param_specs(fn)
        self.schedule, self.triggers = schedule_options(self.name, self.params, schedule, trigger)
        functools.update_wrapper(self, fn)

    @property
    def source_file(self) -> Path | None:
        path = inspect.getsourcefile(self.fn)
        return Path(path).resolve() if path and Path(path).exists() else None

    def coerce(self, params: Mapping[str, Any]) -> dict[str, Any]:
        return coerce_params(self.name, self.params, params)

    def build(self, params: Mapping[str, Any] | None = None) -> Graph:
        """The validated graph for these params (coerced); runs no step."""
        values = self.coerce(params or {})
        builder = GraphBuilder(self.name)
        with builder.active():
            result = self.fn(**values)
        graph = builder.graph
        graph.params = values
        if not graph.nodes:
            raise FlowError(f"flow {self.name!r} calls no step")
        if isinstance(result, Ref):
            graph.output = RefInput(result.node)
        elif result is not None:
            raise FlowError(
                f"flow {self.name!r} returns {type(result).__name__}; return one step output (or nothing)"
            )
        graph.topological_order()
        return graph

    def run(self, **params: Any) -> Any:
        """Run the flow locally (like ``shipyard run``) and return the finished run's handle."""
        return self.run_with(params)

    def run_with(self, params: Mapping[str, Any] | None = None, **options: Any) -> Any:
        """Like :meth:`run`, with runner options: ``max_workers``, ``executor``, ``settings``."""
        runtime = importlib.import_module("shipyard.runtime.api")
        return runtime.run_flow(self, params or {}, **options)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise FlowError(f"flow {self.name!r} is run with {self.name}.run(...) or `shipyard run FILE`")

    def __repr__(self) -> str:
        return f"<flow {self.name}>"


def flow(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    schedule: str | None = None,
    trigger: Any = None,
    pip: Sequence[str] | None = None,
    requirements: str | None = None,
    python: str | None = None,
) -> Any:
    """Declare a flow: ``@flow``, ``@flow(name="training")``, ``@flow(schedule="0 * * * *")``,
    ``@flow(trigger=on_dataset("transactions") | on_model("churn", alias="champion"))`` or
    ``@flow(pip=["six==1.16.0"], requirements="requirements.txt", python="3.11")``."""
    options: dict[str, Any] = {
        "name": name,
        "schedule": schedule,
        "trigger": trigger,
        "pip": pip,
        "requirements": requirements,
        "python": python,
    }
    if fn is not None:
        return Flow(fn, **options)
    return lambda f: Flow(f, **options)


__all__ = ["ConstInput", "Flow", "Resources", "Step", "flow", "step"]
