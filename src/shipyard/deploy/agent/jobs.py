"""Batch jobs and scheduled flows of the environment, run on their cron by the agent.

The cursor of each job lives in the scheduler's claim store (:mod:`shipyard.metadata.schedules`,
the same records ``shipyard schedule run`` keeps), under the name
``deploy:<project>:<environment>:<batch|flow>:<name>``: every fire is claimed first, so an agent
that restarts does not fire a tick again and two agents on one database never both fire it. The
skip policy: the fire times missed while the agent was down run *once*, for the latest of them. The
first pass over a job starts nothing: it records where watching begins. A job still running when
its next time comes is not started twice; once it ends, the latest missed time runs (once). A batch
job without a schedule runs once per fingerprint (its command and settings): on the agent's first
pass after it was applied or changed.

Each run is a child process (:class:`~.process.Child`): ``shipyard batch`` or ``shipyard run`` in
the project's folder, with the environment's settings and secrets, its output appended to
``<home>/agent/<env>/<batch|flow>-<name>.log``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shipyard.core.clock import utcnow
from shipyard.core.errors import ShipyardError
from shipyard.deploy.agent.commands import JobPlan
from shipyard.deploy.agent.process import Child, exit_text
from shipyard.flows.schedule import cron_source, due_times, next_fire_times
from shipyard.metadata.schedules import ScheduleClaim, ScheduleStore
from shipyard.runtime.schedule_loop import from_micros as _from_micros
from shipyard.runtime.schedule_loop import micros as _micros

LaunchJob = Callable[[JobPlan], Child]
Report = Callable[[str], None]


@dataclass
class _Job:
    plan: JobPlan
    child: Child | None = None
    last_started: datetime | None = None
    last_finished: datetime | None = None
    last_exit: str | None = None
    runs: int = 0
    error: str | None = None


class JobRunner:
    def __init__(
        self,
        project: str,
        environment: str,
        store: ScheduleStore | None,
        launch: LaunchJob,
        report: Report,
        *,
        owner: str,
        clock: Callable[[], datetime] = utcnow,
        store_error: str | None = None,
    ) -> None:
        self.project = project
        self.environment = environment
        self._store = store
        self._store_error = store_error
        self._launch = launch
        self._report = report
        self._owner = owner
        self._clock = clock
        self.jobs: dict[str, _Job] = {}

    def claim_name(self, key: str) -> str:
        return f"deploy:{self.project}:{self.environment}:{key}"

    def update(self, plans: Mapping[str, JobPlan]) -> list[Child]:
        """The jobs to run from now on; returns the children of removed jobs still running (the
        caller stops them)."""
        gone = [job.child for key, job in self.jobs.items() if key not in plans and job.child is not None]
        self.jobs = {key: (self.jobs[key] if key in self.jobs else _Job(plan)) for key, plan in plans.items()}
        for key, plan in plans.items():
            self.jobs[key].plan = plan
        return [c for c in gone if c.alive]

    def tick(self) -> bool:
        """Reap finished runs and fire what is due; True when something changed."""
        changed = False
        for key, job in self.jobs.items():
            if job.child is not None and (code := job.child.poll()) is not None:
                job.last_exit, job.last_finished, job.child = exit_text(code), self._clock(), None
                self._report(f"{key}: run ended ({job.last_exit})")
                changed = True
            if self._store is None:
                job.error = self._store_error
                continue
            try:
                changed |= self._due(key, job)
            except ShipyardError as exc:
                job.error = str(exc)
                changed = True
        return changed

    def _due(self, key: str, job: _Job) -> bool:
        store = self._store
        assert store is not None
        plan, name, now = job.plan, self.claim_name(key), self._clock()
        if plan.schedule is None:
            source = f"once:{plan.fingerprint}"
            if job.child is not None or store.last_position(name, source) is not None:
                return False
            return self._fire(job, name, source, 0, "apply")
        source = cron_source(plan.schedule)
        last = store.last_position(name, source)
        if last is None:
            store.claim(ScheduleClaim(name, source, _micros(now), "baseline", now, self._owner))
            return False
        if job.child is not None:
            return False  # never two runs of one job at once; the latest missed time runs after
        due = due_times(plan.schedule, _from_micros(last), now)
        if not due.times:
            return False
        if due.skipped:
            more = "at least " if due.more else ""
            self._report(
                f"{key}: {more}{due.skipped} missed fire time(s) of {plan.schedule!r}; running the latest"
            )
        return self._fire(job, name, source, _micros(due.times[-1]), "schedule")

    def _fire(self, job: _Job, name: str, source: str, position: int, event: str) -> bool:
        store = self._store
        assert store is not None
        now = self._clock()
        if not store.claim(ScheduleClaim(name, source, position, "fire", now, self._owner, event=event)):
            return False  # another agent has it
        try:
            job.child = self._launch(job.plan)
        except (ShipyardError, OSError) as exc:
            job.error = f"cannot start: {exc}"
            store.record_start(name, source, position, run_id=None, error=job.error)
            self._report(f"{job.plan.key}: {job.error}")
            return True
        job.runs += 1
        job.last_started, job.error = now, None
        store.record_start(name, source, position, run_id=None)
        self._report(f"{job.plan.key}: started pid {job.child.pid} ({event})")
        return True

    def running(self) -> list[Child]:
        return [job.child for job in self.jobs.values() if job.child is not None and job.child.alive]

    def snapshot(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        now = self._clock()
        for key, job in self.jobs.items():
            kind = key.partition(":")[0]
            schedule = job.plan.schedule
            out[key] = {
                "kind": kind,
                "schedule": schedule,
                "state": "running" if job.child is not None else ("error" if job.error else "idle"),
                "pid": job.child.pid if job.child is not None else None,
                "runs": job.runs,
                "last_started": job.last_started.isoformat() if job.last_started else None,
                "last_finished": job.last_finished.isoformat() if job.last_finished else None,
                "last_exit": job.last_exit,
                "next_run": next_fire_times(schedule, now)[0].isoformat() if schedule else None,
                "error": job.error,
            }
        return out
