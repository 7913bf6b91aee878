"""One service deployment's processes: start, health-check, restart, roll out, stop.

A *generation* is the replicas of one plan (:class:`~.commands.ServicePlan`); the router sends
traffic to the current generation's ready replicas. The supervisor's loop, every ``tick_s``:

- a replica whose process exited leaves the router and starts again after a backoff (``backoff_s``
  doubling to ``backoff_max_s``; reset once it has been ready for ``stable_s``); after
  ``crash_loop`` failures in a row the deployment reports ``crash-loop`` (and keeps trying at the
  capped backoff). A ready replica is probed on ``/ready`` every ``health_s``; ``health_failures``
  failed probes in a row count as a crash (it is stopped and started again);
- a plan whose fingerprint differs from the current generation's is *rolled out* (a task, while the
  loop keeps supervising the current generation): the new generation starts on fresh ports, every
  replica must answer ``/ready`` within ``ready_timeout_s`` (a process that exits first fails it at
  once), then the router switches to it in one step, the old generation drains (no request in
  flight, at most ``drain_s``) and stays warm ``standby_s`` (default :data:`DEFAULT_STANDBY_S`)
  without traffic, so a rollback to it is a switch of the router, then stops (SIGTERM, SIGKILL
  after ``stop_grace_s``; at once with ``standby_s`` 0). A failed rollout stops what it started
  and leaves the current generation serving; the failed plan is not tried again until the
  desired plan changes (or :meth:`retry`). A first generation that fails starts again with the
  backoff;
- a changed replica count scales the current generation in place.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from shipyard.core.errors import ShipyardError
from shipyard.deploy.agent.commands import ServicePlan
from shipyard.deploy.agent.process import Child, exit_text, free_port, wait_event
from shipyard.deploy.agent.router import Router
from shipyard.deploy.agent.upstream import UpstreamError, get

Launch = Callable[[ServicePlan, int], Child]
Report = Callable[[str], None]


#: the previous generation stays warm this long after a rollout (``--standby``): a rollback within
#: it is a router switch (well under a second) instead of a cold start of ``shipyard serve`` (seconds
#: to tens of seconds: imports and the model's load); the price is that generation's memory, one
#: more set of the deployment's replicas, for that long.
DEFAULT_STANDBY_S = 1800.0

#: a rollout's new replicas are asked ``/ready`` this often (a refused connect until they listen:
#: cheap), so the switch follows their readiness by tens of milliseconds, not a whole tick
READY_POLL_S = 0.05


@dataclass(frozen=True)
class Timing:
    tick_s: float = 0.25
    ready_timeout_s: float = 180.0
    probe_timeout_s: float = 5.0
    health_s: float = 2.0
    health_failures: int = 3
    backoff_s: float = 1.0
    backoff_max_s: float = 30.0
    stable_s: float = 60.0
    crash_loop: int = 3
    drain_s: float = 30.0
    stop_grace_s: float = 10.0
    standby_s: float = DEFAULT_STANDBY_S


class RolloutFailed(ShipyardError):
    pass


@dataclass(eq=False)
class Replica:
    port: int = 0
    child: Child | None = None
    state: str = "starting"  # starting | ready | waiting (to restart) | stopped
    version: str = ""
    failures: int = 0  # in a row
    restarts: int = 0
    restart_at: float = 0.0
    since: float = field(default_factory=time.monotonic)
    next_probe: float = 0.0
    probe_failures: int = 0
    last_exit: str | None = None

    def snapshot(self) -> dict[str, Any]:
        return {
            "pid": self.child.pid if self.child is not None and self.child.alive else None,
            "port": self.port or None,
            "state": self.state,
            "version": self.version or None,
            "restarts": self.restarts,
            "last_exit": self.last_exit,
        }


@dataclass(eq=False)
class Generation:
    plan: ServicePlan
    replicas: list[Replica] = field(default_factory=list)

    @property
    def ports(self) -> list[int]:
        return [r.port for r in self.replicas if r.state == "ready"]

    def children(self) -> list[Child]:
        return [r.child for r in self.replicas if r.child is not None]


@dataclass
class Rollout:
    fingerprint: str
    version: str
    state: str  # in-progress | succeeded | failed
    started_at: datetime
    finished_at: datetime | None = None
    error: str | None = None
    seconds: float | None = None


class ServiceSupervisor:
    def __init__(self, name: str, router: Router, launch: Launch, timing: Timing, report: Report) -> None:
        self.name = name
        self.router = router
        self._launch = launch
        self.timing = timing
        self._report = report
        self.desired: ServicePlan | None = None
        self.current: Generation | None = None
        self.standby: Generation | None = None
        self.starting: Generation | None = None  # the generation a rollout is starting
        self._standby_until = 0.0
        self.rollout: Rollout | None = None
        self.failed: str | None = None  # the fingerprint of a rollout that failed
        self.error: str | None = None  # the last problem, for the status
        self._start_failures = 0
        self._retry_at = 0.0
        self._rolling: asyncio.Task[None] | None = None
        self._rolling_plan: ServicePlan | None = None
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.on_change: Callable[[], None] = lambda: None

    # ---- control ---------------------------------------------------------------------------------
    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"supervise-{self.name}")

    def update(self, plan: ServicePlan | None) -> None:
        """The plan to run from now on (None: stop everything)."""
        self.desired = plan
        self._wake.set()

    def retry(self) -> None:
        """Try a failed rollout's plan again (SIGHUP)."""
        self.failed = None
        self._retry_at = 0.0
        self._wake.set()

    def adopt(self, other: ServiceSupervisor) -> bool:
        """Take ``other``'s serving generation as this one's warm standby when it runs exactly the
        plan this one is told to roll out to (an experiment's challenger promoted: the rollout is
        then a router switch, not a cold start); True when taken — ``other`` keeps none of it."""
        plan, gen = self.desired, other.current
        if (
            plan is None
            or gen is None
            or gen.plan.fingerprint != plan.fingerprint
            or (self.current is not None and self.current.plan.fingerprint == plan.fingerprint)
            or not all(r.state == "ready" for r in gen.replicas)
        ):
            return False
        other.current = None
        previous, self.standby = self.standby, gen
        self._standby_until = time.monotonic() + max(self.timing.standby_s, 60.0)
        if previous is not None:  # at most one warm generation: the older one stops
            asyncio.get_running_loop().create_task(self._stop_generation(previous))
        self._wake.set()
        return True

    async def stop(self) -> None:
        """Stop serving: the router takes no backend, every process stops."""
        self.update(None)
        if self._task is not None:
            await self._task

    def _settled(self) -> bool:
        plan = self.desired
        assert plan is not None
        if self.current is not None and self.current.plan.fingerprint == plan.fingerprint:
            return True
        return self.failed == plan.fingerprint

    # ---- the loop --------------------------------------------------------------------------------
    async def _run(self) -> None:
        try:
            while self.desired is not None:
                try:
                    await self._step()
                except Exception as exc:  # the loop must go on; report and retry next tick
                    self.error = f"supervisor: {type(exc).__name__}: {exc}"
                    self._report(f"deployment {self.name}: {self.error}")
                await wait_event(self._wake, self.timing.tick_s)
                self._wake.clear()
        finally:
            await self._shutdown()

    async def _shutdown(self) -> None:
        if self._rolling is not None:
            self._rolling.cancel()
            with contextlib.suppress(BaseException):
                await self._rolling
        left = self.router.switch([])
        await self.router.drain(left, self.timing.drain_s)
        for gen in (self.current, self.standby):
            if gen is not None:
                await self._stop_generation(gen)
        self.current = self.standby = None
        self.on_change()

    async def _step(self) -> None:
        plan = self.desired
        assert plan is not None
        now = time.monotonic()
        if self.current is not None:
            await self._supervise(self.current, now)
            if self.current.plan.fingerprint == plan.fingerprint:
                await self._scale(self.current, plan)
        if self.standby is not None:
            await self._watch_standby(now)
        rolling = self._rolling_plan
        if rolling is not None and rolling.fingerprint != plan.fingerprint and self._rolling is not None:
            self._rolling.cancel()  # the desired plan changed under it: stop and start over
            with contextlib.suppress(BaseException):
                await self._rolling
        if self._rolling is not None and self._rolling.done():
            # cancelled before it ever ran: its own `finally` never did, so clear it here (else
            # the deployment would say rolling-out and never roll out again)
            self._rolling = self._rolling_plan = self.starting = None
        if self._rolling is None and not self._settled():
            if self.current is None and now < self._retry_at:
                return
            self._rolling_plan = plan
            self._rolling = asyncio.create_task(self._roll(plan), name=f"rollout-{self.name}")

    # ---- supervising a generation ----------------------------------------------------------------
    async def _supervise(self, gen: Generation, now: float) -> None:
        changed = False
        for replica in gen.replicas:  # exits and restarts: no await, so `gen` stays current
            child = replica.child
            code = child.poll() if child is not None and replica.state in ("starting", "ready") else None
            if child is not None and code is not None:
                self._failed(gen, replica, f"backend pid {child.pid} exited ({exit_text(code)})", now)
                changed = True
            elif replica.state == "waiting" and now >= replica.restart_at:
                self._spawn(gen, replica)
                replica.restarts += 1
                changed = True
        due = [r for r in gen.replicas if r.state in ("starting", "ready") and now >= r.next_probe]
        for replica in due:
            replica.next_probe = now + (
                self.timing.tick_s if replica.state == "starting" else self.timing.health_s
            )
        answers = await asyncio.gather(*(self._probe(r) for r in due))  # at once: one slow probe delays none
        if gen is not self.current:  # a rollout replaced it meanwhile: it is being retired
            return
        broken: list[tuple[Replica, str]] = []
        for replica, ok in zip(due, answers, strict=True):
            if replica.state == "starting" and ok:
                replica.state, replica.since = "ready", time.monotonic()
                self._route(gen)
                pid = replica.child.pid if replica.child else None
                self._report(f"deployment {self.name}: backend pid {pid} ready")
                changed = True
            elif replica.state == "starting" and now - replica.since > self.timing.ready_timeout_s:
                broken.append((replica, f"not ready within {self.timing.ready_timeout_s:g} s"))
            elif replica.state == "ready" and ok:
                replica.probe_failures = 0
                if replica.failures and now - replica.since >= self.timing.stable_s:
                    replica.failures = 0  # stable again: the next crash starts the backoff anew
                    changed = True
            elif replica.state == "ready":
                replica.probe_failures += 1
                if replica.probe_failures >= self.timing.health_failures:
                    broken.append((replica, f"{replica.probe_failures} health checks failed"))
        for replica, reason in broken:
            child = replica.child
            self._failed(gen, replica, reason, now)  # out of the router before it stops
            if child is not None:
                await child.stop(self.timing.stop_grace_s)
            changed = True
        if changed:
            self.on_change()

    def _route(self, gen: Generation) -> None:
        """Traffic to ``gen``'s ready replicas, if it is still the current generation."""
        if gen is self.current:
            self.router.switch(gen.ports)

    def _failed(self, gen: Generation, replica: Replica, reason: str, now: float) -> None:
        replica.state = "waiting"
        self._route(gen)
        replica.last_exit = reason
        replica.failures += 1
        replica.probe_failures = 0
        delay = min(self.timing.backoff_s * 2 ** (replica.failures - 1), self.timing.backoff_max_s)
        replica.restart_at = now + delay
        loop = " (crash loop)" if replica.failures >= self.timing.crash_loop else ""
        self.error = f"{reason}; restarting in {delay:g} s{loop}"
        self._report(f"deployment {self.name}: {self.error}")

    def _spawn(self, gen: Generation, replica: Replica) -> None:
        replica.port = free_port()
        replica.state, replica.since, replica.next_probe = "starting", time.monotonic(), 0.0
        replica.version = ""
        try:
            replica.child = self._launch(gen.plan, replica.port)
        except (ShipyardError, OSError) as exc:
            replica.child = None
            replica.state = "waiting"
            replica.failures += 1
            replica.last_exit = f"cannot start: {exc}"
            delay = min(self.timing.backoff_s * 2 ** (replica.failures - 1), self.timing.backoff_max_s)
            replica.restart_at = time.monotonic() + delay
            self.error = replica.last_exit
            self._report(f"deployment {self.name}: {self.error}")

    async def _probe(self, replica: Replica) -> bool:
        try:
            answer = await get("127.0.0.1", replica.port, "/ready", timeout=self.timing.probe_timeout_s)
        except UpstreamError:
            return False
        if answer.status != 200:
            return False
        if not replica.version:
            replica.version = _versions(answer.body)
        return True

    async def _scale(self, gen: Generation, plan: ServicePlan) -> None:
        gen.plan = plan
        want = plan.replicas
        if len(gen.replicas) < want:
            for _ in range(want - len(gen.replicas)):
                replica = Replica()
                gen.replicas.append(replica)
                self._spawn(gen, replica)
            self.on_change()
        elif len(gen.replicas) > want:
            extra = gen.replicas[want:]
            del gen.replicas[want:]
            left = [t for t in self.router.targets if t.port in {r.port for r in extra}]
            self._route(gen)
            await self.router.drain(left, self.timing.drain_s)
            for replica in extra:
                if replica.child is not None:
                    await replica.child.stop(self.timing.stop_grace_s)
            self.on_change()

    async def _watch_standby(self, now: float) -> None:
        standby = self.standby
        assert standby is not None
        if now >= self._standby_until or any(not c.alive for c in standby.children()):
            self.standby = None
            await self._stop_generation(standby)
            self.on_change()

    # ---- rollouts --------------------------------------------------------------------------------
    async def _roll(self, plan: ServicePlan) -> None:
        started = time.monotonic()
        self.rollout = Rollout(plan.fingerprint, plan.version, "in-progress", datetime.now(UTC))
        self.on_change()
        first = self.current is None
        new: Generation | None = None
        try:
            standby = self.standby
            if (
                standby is not None
                and standby.plan.fingerprint == plan.fingerprint
                and await self._all_ready(standby)
            ):
                self.standby = None
                new = standby
                new.plan = plan
                self._report(f"deployment {self.name}: switching back to the warm {plan.version}")
            else:
                new = self.starting = Generation(plan, [Replica() for _ in range(plan.replicas)])
                for replica in new.replicas:
                    self._spawn(new, replica)
                    if replica.child is None:
                        raise RolloutFailed(replica.last_exit or "cannot start")
                await self._until_ready(new)
            old = self.current
            self.current = new
            left = self.router.switch(new.ports)
            self._finish(started, None)
            self._start_failures, self.failed, self.error = 0, None, None
            self._report(
                f"deployment {self.name}: serving {plan.version} ({time.monotonic() - started:.1f} s)"
            )
            if old is not None:
                await self._retire(old, left)
        except RolloutFailed as exc:
            if new is not None:
                await self._stop_generation(new)
            self._finish(started, str(exc))
            self.error = f"rollout of {plan.version} failed: {exc}"
            if first:
                self._start_failures += 1
                delay = min(
                    self.timing.backoff_s * 2 ** (self._start_failures - 1), self.timing.backoff_max_s
                )
                self._retry_at = time.monotonic() + delay
                self.error += f"; trying again in {delay:g} s"
            else:
                self.failed = plan.fingerprint
                self.error += f"; still serving {self.current.plan.version if self.current else '-'}"
            self._report(f"deployment {self.name}: {self.error}")
        except asyncio.CancelledError:
            if new is not None and new is not self.current:
                await self._stop_generation(new)
            self._finish(started, "cancelled: the desired state changed")
            raise
        finally:
            self._rolling = None
            self._rolling_plan = None
            self.starting = None
            self.on_change()
            self._wake.set()

    def _finish(self, started: float, error: str | None) -> None:
        if self.rollout is not None:
            self.rollout.state = "failed" if error else "succeeded"
            self.rollout.error = error
            self.rollout.finished_at = datetime.now(UTC)
            self.rollout.seconds = round(time.monotonic() - started, 3)

    async def _until_ready(self, gen: Generation) -> None:
        deadline = time.monotonic() + self.timing.ready_timeout_s
        while True:
            for replica in gen.replicas:
                child = replica.child
                assert child is not None
                if replica.state == "ready":
                    continue
                code = child.poll()
                if code is not None:
                    raise RolloutFailed(
                        f"the backend exited before it was ready ({exit_text(code)}); see {child.log}"
                    )
                if await self._probe(replica):
                    replica.state, replica.since = "ready", time.monotonic()
            if all(r.state == "ready" for r in gen.replicas):
                return
            if time.monotonic() > deadline:
                raise RolloutFailed(f"not ready within {self.timing.ready_timeout_s:g} s")
            await asyncio.sleep(min(self.timing.tick_s, READY_POLL_S))

    async def _all_ready(self, gen: Generation) -> bool:
        return all([r.child is not None and r.child.alive and await self._probe(r) for r in gen.replicas])

    async def _retire(self, old: Generation, left: list[Any]) -> None:
        drained = await self.router.drain(left, self.timing.drain_s)
        if not drained:
            waited = f"{self.timing.drain_s:g} s"
            self._report(f"deployment {self.name}: {old.plan.version} still had requests after {waited}")
        if self.timing.standby_s > 0 and all(r.state == "ready" for r in old.replicas):
            previous, self.standby = self.standby, old
            self._standby_until = time.monotonic() + self.timing.standby_s
            if previous is not None:
                await self._stop_generation(previous)
        else:
            await self._stop_generation(old)
        self.on_change()

    async def _stop_generation(self, gen: Generation) -> None:
        children = gen.children()
        await asyncio.gather(*(c.stop(self.timing.stop_grace_s) for c in children))
        for replica in gen.replicas:
            replica.state = "stopped"

    # ---- status ----------------------------------------------------------------------------------
    @property
    def state(self) -> str:
        plan = self.desired
        if plan is None:
            return "stopped"
        current = self.current
        if current is None:
            return "crash-loop" if self._start_failures >= self.timing.crash_loop else "starting"
        if any(r.failures >= self.timing.crash_loop for r in current.replicas):
            return "crash-loop"
        if self._rolling is not None and not self._rolling.done():
            return "rolling-out"
        if self.failed is not None and self.failed == plan.fingerprint:
            return "rollout-failed"
        if not current.replicas:
            return "scaled-to-zero"
        if all(r.state == "ready" for r in current.replicas):
            return "ready"
        return "degraded" if any(r.state == "ready" for r in current.replicas) else "starting"

    def snapshot(self) -> dict[str, Any]:
        current, standby, rollout = self.current, self.standby, self.rollout
        return {
            "kind": "service",
            "address": f"http://{_host(self.router.host)}:{self.router.port}",
            "state": self.state,
            "version": current.plan.version if current else None,
            "desired_version": self.desired.version if self.desired else None,
            "backends": [r.snapshot() for r in current.replicas] if current else [],
            "standby": None
            if standby is None
            else {
                "version": standby.plan.version,
                "pids": [c.pid for c in standby.children()],
                "seconds_left": round(max(0.0, self._standby_until - time.monotonic()), 1),
            },
            "rollout": None
            if rollout is None
            else {
                "version": rollout.version,
                "state": rollout.state,
                "started_at": rollout.started_at.isoformat(),
                "finished_at": rollout.finished_at.isoformat() if rollout.finished_at else None,
                "seconds": rollout.seconds,
                "error": rollout.error,
            },
            "error": self.error,
            "requests": self.router.stats.requests,
        }


def _host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _versions(body: bytes) -> str:
    import json

    try:
        found = json.loads(body).get("versions", [])
    except (ValueError, AttributeError):
        return ""
    return ",".join(str(v) for v in found) if isinstance(found, list) else ""
