"""The agent: makes one environment's desired state run on this machine, and keeps it running.

``reconcile`` (every ``interval_s``, when :meth:`Agent.poke` is called — SIGHUP — and as soon as
a :class:`~.desired.WatchedState`'s ``revision`` moves: an apply, a sync's release or a rollback
recorded, a saved spec file; asked every ``wake_check_s`` off the event loop) reads the
:class:`~.desired.DesiredState` (in a worker thread: the routers share the loop), then per
service deployment: a router on its stable port
(:class:`~.files.PortBook`) and a :class:`~.supervisor.ServiceSupervisor` given the new plan
(same fingerprint: nothing happens; another: a zero-downtime rollout); a deployment no longer
desired is stopped and its router closed. A running experiment on a service (the environment's
``experiments``) splits that service's router (:mod:`.split`): a challenger that is a model
version runs in its own slot (a supervisor whose router listens nowhere, its processes logging
under the production deployment's name, so the experiment's analysis reads both arms from one
prediction log), a challenger that is another deployment of the environment is that
deployment's backends (the router tells every backend the arm, signed with a key this agent makes
and gives only its services, so a challenger deployment logs its experiment rows with their arm in
its own log: :mod:`shipyard.experiments.armtag`); a stopped experiment sends the challenger
nothing and its slot stops.
Batch jobs and scheduled flows go to the
:class:`~.jobs.JobRunner`. A desired state that cannot be read (a spec with an error) changes
nothing: what runs keeps running and the error is reported. Every change rewrites
``status.json``; on shutdown everything stops (services drain first).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.core.errors import ConfigurationError, ShipyardError
from shipyard.deploy.agent.commands import (
    JobPlan,
    ServicePlan,
    batch_plan,
    child_environment,
    flow_plan,
    secrets_read,
    service_plan,
)
from shipyard.deploy.agent.desired import DesiredEnvironment, DesiredState, WatchedState
from shipyard.deploy.agent.files import (
    AgentLock,
    PortBook,
    agent_dir,
    created,
    read_json,
    stop_orphans,
    write_json,
)
from shipyard.deploy.agent.jobs import JobRunner
from shipyard.deploy.agent.process import Child, free_port, wait_event
from shipyard.deploy.agent.router import Router
from shipyard.deploy.agent.spare_keeper import SpareKeeper
from shipyard.deploy.agent.split import Split
from shipyard.deploy.agent.supervisor import ServiceSupervisor, Timing
from shipyard.deploy.spec.models import BatchJob, Service
from shipyard.experiments import armtag

if TYPE_CHECKING:
    from shipyard.experiments.config import ExperimentSpec

if TYPE_CHECKING:
    from shipyard.core.settings import Settings
    from shipyard.metadata.base import MetadataStore

Report = Callable[[str], None]


@dataclass(frozen=True)
class AgentOptions:
    environment: str
    host: str = "127.0.0.1"  # where the routers listen
    interval_s: float = 10.0
    timing: Timing = field(default_factory=Timing)
    python: str = sys.executable
    jobs_tick_s: float = 1.0
    wake_check_s: float = 0.5  # how often a WatchedState's revision is asked
    spare: bool = False  # keep a spare process with the serving stack imported (``--spare``, on)


class Agent:
    def __init__(
        self,
        options: AgentOptions,
        state: DesiredState,
        settings: Settings,
        metadata: MetadataStore | None = None,
        *,
        report: Report | None = None,
    ) -> None:
        self.options = options
        self.state = state
        self.settings = settings
        self.metadata = metadata
        self._report: Report = report or (lambda _line: None)
        self.dir = agent_dir(settings.home, options.environment)
        self.services: dict[str, ServiceSupervisor] = {}
        self.challengers: dict[str, ServiceSupervisor] = {}  # deployment -> its experiment's challenger slot
        self.experiments: dict[str, tuple[str, ExperimentSpec]] = {}  # deployment -> (name, experiment)
        self.desired: DesiredEnvironment | None = None
        self.errors: dict[str, str] = {}  # deployment -> why it is not (re)configured
        self.error: str | None = None  # the desired state could not be read
        self.last_reconcile: datetime | None = None
        self.jobs: JobRunner | None = None
        self._lock = AgentLock(self.dir / "agent.lock")
        self._ports: PortBook | None = None
        self._poke = asyncio.Event()
        self._dirty = asyncio.Event()
        self._retry = False
        self._tasks: list[asyncio.Task[None]] = []
        self._reconciling = asyncio.Lock()
        self._revision: object = None
        self.wakes = 0  # reconciles a moved revision started (status: agent.wakes)
        self.spares = SpareKeeper(options.python, self.dir / "spare.log", metadata)
        # signs the experiment arm the routers tell the services (armtag); only they know it
        self._arm_key = armtag.new_key()

    # ---- life ------------------------------------------------------------------------------------
    async def start(self) -> None:
        """Take the environment's lock, stop what a killed predecessor left running, reconcile."""
        self._lock.acquire()
        status = self.dir / "status.json"
        if status.exists():
            with contextlib.suppress(ShipyardError):
                previous = read_json(status, "status")
                left = stop_orphans(previous.get("children") if isinstance(previous, dict) else None)
                if left:
                    self._report(f"stopped {len(left)} process(es) a previous agent left running: {left}")
        self._ports = PortBook(self.dir / "ports.json")
        self._tasks = [
            asyncio.create_task(self._status_loop(), name="agent-status"),
            asyncio.create_task(self._jobs_loop(), name="agent-jobs"),
        ]
        if self.options.spare:
            keep = self.spares.loop(
                lambda: self.desired,
                lambda: [*self.services.values(), *self.challengers.values()],
                self._service_env,
                self._dirty,
                lambda: bool(self.services),
            )
            self._tasks.append(asyncio.create_task(keep, name="agent-spare"))
        if isinstance(self.state, WatchedState):
            self._revision = await self._read_revision(self.state)
            self._tasks.append(asyncio.create_task(self._watch_loop(self.state), name="agent-watch"))
        await self.reconcile()

    async def run(self, stop: asyncio.Event) -> None:
        """Reconcile every interval and when poked, until ``stop`` is set; then shut down."""
        await self.start()
        try:
            while not stop.is_set():
                waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._poke.wait())]
                _, pending = await asyncio.wait(
                    waiters, timeout=self.options.interval_s, return_when=asyncio.FIRST_COMPLETED
                )
                for waiter in pending:
                    waiter.cancel()
                if stop.is_set():
                    break
                self._poke.clear()
                await self.reconcile()
        finally:
            await self.shutdown()

    def poke(self) -> None:
        """Reconcile now (SIGHUP); a rollout that failed is tried again."""
        self._retry = True
        self._poke.set()

    async def shutdown(self) -> None:
        await asyncio.gather(*(self._remove(name) for name in list(self.services)))
        if self.jobs is not None:
            await asyncio.gather(*(c.stop() for c in self.jobs.running()))
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(BaseException):
                await task
        self._tasks = []
        await self.spares.discard()
        self._write_status(running=False)
        self._lock.release()

    # ---- reconcile -------------------------------------------------------------------------------
    async def reconcile(self) -> None:
        async with self._reconciling:
            await self._reconcile()
        self._dirty.set()

    async def _reconcile(self) -> None:
        env = self.options.environment
        self.last_reconcile = datetime.now(UTC)
        try:
            desired = await asyncio.to_thread(self.state.desired, env)
        except ShipyardError as exc:
            self.error = str(exc)
            self._report(f"desired state not read; what runs keeps running: {exc}")
            return
        self.error = None
        self.desired = desired
        retry, self._retry = self._retry, False
        services: dict[str, ServicePlan] = {}
        jobs: dict[str, JobPlan] = {}
        errors: dict[str, str] = {}
        python, settings = self.options.python, desired.settings
        for name, dep in desired.deployments.items():
            try:
                if isinstance(dep.spec, Service):
                    services[name] = service_plan(
                        name,
                        dep.spec,
                        dep.versions,
                        settings,
                        trust_router=not _loopback(self.options.host),
                        python=python,
                    )
                elif isinstance(dep.spec, BatchJob):
                    job = batch_plan(name, dep.spec, dep.versions, settings, python=python)
                    jobs[job.key] = job
            except ShipyardError as exc:
                errors[name] = str(exc)
        for name, flow in desired.flows.items():
            job = flow_plan(name, flow, settings, python=python)
            jobs[job.key] = job
        # gone, or no longer a service; one whose new plan has an error keeps running what it ran
        for name in [n for n in self.services if n not in services and n not in errors]:
            await self._remove(name)
        for name, plan in services.items():
            supervisor = self.services.get(name) or await self._add(name, errors)
            if supervisor is not None:
                if retry:
                    supervisor.retry()
                supervisor.update(plan)
        await self._experiments(desired, errors, retry)
        if self.options.spare:
            models = [plan.model for plan in services.values()]
            models += [slot.desired.model for slot in self.challengers.values() if slot.desired]
            self.spares.preload = await asyncio.to_thread(self.spares.modules_for, models)
        self.errors = errors
        for name, message in errors.items():
            self._report(f"deployment {name}: {message}")
        self._update_jobs(desired, jobs)

    async def _add(self, name: str, errors: dict[str, str]) -> ServiceSupervisor | None:
        assert self._ports is not None
        port = self._ports.get(name) or free_port(self.options.host)
        router = Router(name, self.options.host, port, arm_key=bytes.fromhex(self._arm_key))
        try:
            await router.start()
        except ShipyardError as exc:
            errors[name] = str(exc)
            return None
        self._ports.record(name, router.port)
        supervisor = ServiceSupervisor(name, router, self._launch_service, self.options.timing, self._report)
        supervisor.on_change = self._dirty.set
        supervisor.start()
        self.services[name] = supervisor
        self._report(f"deployment {name}: listening on {router.host}:{router.port}")
        return supervisor

    # ---- experiments -----------------------------------------------------------------------------
    async def _experiments(self, desired: DesiredEnvironment, errors: dict[str, str], retry: bool) -> None:
        """Split each service with a running experiment between production and its challenger."""
        running: dict[str, tuple[str, ExperimentSpec]] = {}
        for ex_name, ex in sorted(desired.experiments.items()):
            dep = ex.deployment
            if ex.effective_share <= 0 or dep not in self.services:
                continue  # stopped or promoted; or its deployment is not a service running here
            if dep in running:
                errors[dep] = (
                    f"experiments {running[dep][0]!r} and {ex_name!r} both run on deployment {dep!r}; "
                    "the local runtime runs one experiment per deployment: stop one of them"
                )
                continue
            running[dep] = (ex_name, ex)
        ended = [d for d in self.experiments if d not in running]
        adopted = {d for d in ended if self._adopt(d)}  # before any await: before their rollouts start
        for dep in ended:
            await self._end_experiment(dep, dep in adopted)
        for dep, (ex_name, ex) in running.items():
            try:
                challenger = await self._challenger(desired, dep, ex, retry)
            except ShipyardError as exc:
                errors[dep] = f"experiment {ex_name!r}: {exc}"
                await self._end_experiment(dep)
                continue
            router = self.services[dep].router
            split = router.split
            if split is None or split.name != ex_name or split.challenger is not challenger:
                split = Split(ex_name, ex.share, challenger, ex.sticky_key)
            else:  # the same experiment: its counts go on
                split.share, split.key = ex.share, ex.sticky_key
            router.split = split  # one assignment: the next request is split by it
            if self.experiments.get(dep) != (ex_name, ex):
                unit = ex.sticky_key or "request"
                self._report(
                    f"deployment {dep}: experiment {ex_name} sends {ex.share:g}% of units (by {unit}) "
                    f"to {ex.challenger}"
                )
            self.experiments[dep] = (ex_name, ex)
            self._dirty.set()

    async def _challenger(
        self, desired: DesiredEnvironment, dep: str, ex: ExperimentSpec, retry: bool
    ) -> Router:
        """The router holding the challenger's backends (its slot started or updated here)."""
        version = ex.challenger_version
        if version is None:  # another deployment of this environment
            other = self.services.get(ex.challenger)
            if other is None or ex.challenger == dep:
                raise ConfigurationError(
                    f"challenger {ex.challenger!r} is not another service deployment of environment "
                    f"{desired.environment!r}; name one, or a model version like models:/NAME/4"
                )
            await self._stop_challenger(dep)
            return other.router
        spec = desired.deployments[dep].spec
        assert isinstance(spec, Service)
        challenger = spec.model_copy(update={"model": ex.challenger, "routes": []})
        plan = service_plan(
            dep,
            challenger,
            {ex.challenger: version},
            desired.settings,
            trust_router=not _loopback(self.options.host),
            python=self.options.python,
        )
        plan = dataclasses.replace(plan, name=f"{dep}.challenger")  # its own log file
        slot = self.challengers.get(dep)
        if slot is None:
            # listens nowhere: the split reaches it
            router = Router(plan.name, self.options.host, 0, arm_key=bytes.fromhex(self._arm_key))
            slot = ServiceSupervisor(
                plan.name, router, self._launch_service, self.options.timing, self._report
            )
            slot.on_change = self._dirty.set
            slot.start()
            self.challengers[dep] = slot
        if retry:
            slot.retry()
        slot.update(plan)
        return slot.router

    def _adopt(self, dep: str) -> bool:
        """Production is now told to run exactly what the challenger's slot runs (the challenger
        was promoted): it takes the slot's processes as its warm standby, so its rollout is a
        router switch instead of a cold start."""
        supervisor, slot = self.services.get(dep), self.challengers.get(dep)
        return supervisor is not None and slot is not None and supervisor.adopt(slot)

    async def _end_experiment(self, dep: str, adopted: bool = False) -> None:
        """Production gets all the traffic again; the challenger's slot drains and stops (what
        production adopted of it keeps running: :meth:`_adopt`)."""
        supervisor = self.services.get(dep)
        if supervisor is not None:
            supervisor.router.split = None
        ended = self.experiments.pop(dep, None)
        if ended is not None:
            how = (
                "its challenger's processes serve production now"
                if adopted
                else "production takes all traffic"
            )
            self._report(f"deployment {dep}: experiment {ended[0]} ended; {how}")
        await self._stop_challenger(dep)
        self._dirty.set()

    async def _stop_challenger(self, dep: str) -> None:
        slot = self.challengers.pop(dep, None)
        if slot is not None:
            await slot.stop()

    async def _remove(self, name: str) -> None:
        await self._end_experiment(name)
        supervisor = self.services[name]
        await supervisor.stop()  # listed until its processes and router are gone ("stopped")
        await supervisor.router.stop()
        del self.services[name]
        self._report(f"deployment {name}: removed")
        self._dirty.set()

    def _update_jobs(self, desired: DesiredEnvironment, plans: Mapping[str, JobPlan]) -> None:
        if self.jobs is None:
            if not plans:
                return
            self.jobs = self._job_runner(desired)
        for child in self.jobs.update(plans):
            asyncio.get_running_loop().create_task(child.stop())

    def _job_runner(self, desired: DesiredEnvironment) -> JobRunner:
        from shipyard.runtime.schedule_loop import scheduler_id

        store, problem = None, None
        if self.metadata is None:
            problem = "the agent has no metadata store to keep its schedules in"
        else:
            from shipyard.metadata.schedules import open_schedule_store

            try:
                store = open_schedule_store(self.metadata)
            except ShipyardError as exc:
                problem = str(exc)
        return JobRunner(
            desired.project,
            desired.environment,
            store,
            self._launch_job,
            self._report,
            owner=f"agent:{scheduler_id()}",
            store_error=problem,
        )

    # ---- launching -------------------------------------------------------------------------------
    def _child_env(self, expose: tuple[str, ...] = ()) -> dict[str, str]:
        desired = self.desired
        assert desired is not None
        names = secrets_read(desired.settings, expose)
        values: dict[str, str] = {}
        if names:
            from shipyard.secrets.resolve import read_step_secrets

            if self.metadata is None:
                raise ConfigurationError("the agent has no metadata store to read secrets from")
            from shipyard.core.branches import split_slot

            scoped = self.settings.model_copy(  # a branch's slot reads its environment's secrets
                update={"project": desired.project, "environment": split_slot(desired.environment)[0]}
            )
            values = read_step_secrets(scoped, self.metadata, "agent", names, what="deployment")
        base = dict(os.environ)
        base.update(
            SHIPYARD_HOME=str(self.settings.home),
            SHIPYARD_URI=self.settings.metadata_uri,
            SHIPYARD_ARTIFACTS=self.settings.artifact_root,
        )
        if desired.namespace:
            base["SHIPYARD_NAMESPACE"] = desired.namespace
        return child_environment(
            base,
            project=desired.project,
            environment=desired.environment,
            settings=desired.settings,
            secret_values=values,
            expose=expose,
        )

    def _service_env(self) -> dict[str, str]:
        """A service's environment: a child's, with the key its router signs arms with."""
        return {**self._child_env(), armtag.KEY_ENV: self._arm_key}

    def _launch_service(self, plan: ServicePlan, port: int) -> Child:
        root = self.desired.root if self.desired else None
        argv, env = plan.argv(port), self._service_env()
        runtime = self.desired.settings.keys() if self.desired else ()
        spare = self.spares.take(argv, env, root, runtime)  # taken, or stale: the loop starts another
        return Child(argv, env, self.dir / f"{plan.name}.log", cwd=root, spare=spare)

    def _launch_job(self, plan: JobPlan) -> Child:
        root = self.desired.root if self.desired else None
        log = self.dir / f"{plan.key.replace(':', '-')}.log"
        return Child(plan.argv, self._child_env(plan.secrets), log, cwd=root)

    # ---- loops -----------------------------------------------------------------------------------
    async def _jobs_loop(self) -> None:
        while True:
            if self.jobs is not None and self.jobs.tick():
                self._dirty.set()
            await asyncio.sleep(self.options.jobs_tick_s)

    async def _read_revision(self, state: WatchedState) -> object:
        try:
            return await asyncio.to_thread(state.revision, self.options.environment)
        except ShipyardError as exc:  # the store is away: keep the last one, try again
            self._report(f"cannot tell whether the desired state changed: {exc}")
            return self._revision

    async def _watch_loop(self, state: WatchedState) -> None:
        """Reconcile as soon as the desired state's revision moves (not at the next interval)."""
        while True:
            await asyncio.sleep(self.options.wake_check_s)
            revision = await self._read_revision(state)
            if revision != self._revision:
                self._revision = revision
                self.wakes += 1
                self._report(f"the desired state changed ({revision}): reconciling now")
                self._poke.set()

    async def _status_loop(self) -> None:
        while True:
            await wait_event(self._dirty, 2.0)
            self._dirty.clear()
            try:
                self._write_status(running=True)
            except OSError as exc:
                self._report(f"cannot write {self.dir / 'status.json'}: {exc}")
            await asyncio.sleep(0.1)

    # ---- status ----------------------------------------------------------------------------------
    def status(self, *, running: bool = True) -> dict[str, Any]:
        deployments: dict[str, Any] = {name: s.snapshot() for name, s in sorted(self.services.items())}
        flows: dict[str, Any] = {}
        children: list[dict[str, Any]] = []
        if self.jobs is not None:
            for key, info in self.jobs.snapshot().items():
                kind, _, name = key.partition(":")
                (deployments if kind == "batch" else flows)[name] = info
            children += [{"pid": c.pid, "created": created(c.pid)} for c in self.jobs.running()]
        for name, message in self.errors.items():
            deployments.setdefault(name, {"state": "error"})["error"] = message
        for name, (ex_name, ex) in self.experiments.items():
            split = self.services[name].router.split if name in self.services else None
            about: dict[str, Any] = {"name": ex_name, "challenger": ex.challenger}
            about.update(split.snapshot() if split is not None else {})
            slot = self.challengers.get(name)
            if slot is not None:
                shot = slot.snapshot()
                about["slot"] = {k: shot[k] for k in ("state", "version", "backends", "rollout", "error")}
            deployments.setdefault(name, {})["experiment"] = about
        for supervisor in [*self.services.values(), *self.challengers.values()]:
            for gen in (supervisor.current, supervisor.standby, supervisor.starting):
                if gen is not None:
                    children += [{"pid": c.pid, "created": created(c.pid)} for c in gen.children() if c.alive]
        children += self.spares.children()
        desired = self.desired
        return {
            "agent": {
                "pid": os.getpid(),
                "running": running,
                "environment": self.options.environment,
                "project": desired.project if desired else None,
                "source": desired.source if desired else None,
                "updated_at": datetime.now(UTC).isoformat(),
                "last_reconcile": self.last_reconcile.isoformat() if self.last_reconcile else None,
                "interval_s": self.options.interval_s,
                "wakes": self.wakes,
                "error": self.error,
                "spare": self.spares.snapshot(),
            },
            "deployments": deployments,
            "flows": flows,
            "children": [c for c in children if c["created"] is not None],
        }

    def _write_status(self, *, running: bool) -> None:
        write_json(self.dir / "status.json", self.status(running=running))


def _loopback(host: str) -> bool:
    from shipyard.security.network import is_loopback_host

    return is_loopback_host(host)


def read_status(home: Path, environment: str) -> dict[str, Any]:
    """The status the environment's agent last wrote (NotFoundError when none ever ran here)."""
    data = read_json(agent_dir(home, environment) / "status.json", f"agent status for {environment!r}")
    if not isinstance(data, dict):
        raise ConfigurationError(f"the agent status of {environment!r} is not an object; delete it")
    return data
