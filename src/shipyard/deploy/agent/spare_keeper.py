"""The agent's one spare (:class:`~.spare.Spare`): which libraries it imports (the served models'
flavors), when a new one is started (never while a service process is starting: it would take
that process's CPU), and handing it to a launch it fits (one that does not fit is stopped).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Collection, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.core.errors import ShipyardError
from shipyard.deploy.agent.files import created
from shipyard.deploy.agent.spare import FLAVOR_MODULES, Spare

if TYPE_CHECKING:
    from shipyard.deploy.agent.desired import DesiredEnvironment
    from shipyard.deploy.agent.supervisor import ServiceSupervisor
    from shipyard.metadata.base import MetadataStore


def any_starting(supervisors: Iterable[ServiceSupervisor]) -> bool:
    """Whether a process of one of ``supervisors`` is starting."""
    for supervisor in supervisors:
        if supervisor.starting is not None or supervisor.state in ("starting", "rolling-out"):
            return True
        current = supervisor.current
        if current is not None and any(r.state == "starting" for r in current.replicas):
            return True
    return False


class SpareKeeper:
    """Keeps at most one spare fitting what a service would be started with now."""

    def __init__(self, python: str, log: Path, metadata: MetadataStore | None) -> None:
        self.python = python
        self.log = log
        self.metadata = metadata
        self.spare: Spare | None = None
        self.preload: tuple[str, ...] = ()  # the served flavors' libraries
        self._flavors: dict[str, str | None] = {}  # models:/NAME/N -> its flavor (None: unknown)

    def modules_for(self, models: Sequence[str]) -> tuple[str, ...]:
        """The libraries the flavors of ``models`` (``models:/NAME/N``) import when loaded."""
        if self.metadata is None:
            return ()
        from shipyard.metadata.model_registry import open_registry_store

        modules: list[str] = []
        for ref in sorted(set(models)):
            if ref not in self._flavors:
                name, _, number = ref.removeprefix("models:/").rpartition("/")
                flavor = None
                if name and number.isdigit():
                    with contextlib.suppress(ShipyardError):
                        flavor = open_registry_store(self.metadata).get_version(name, int(number)).flavor
                self._flavors[ref] = flavor
            for module in FLAVOR_MODULES.get(self._flavors[ref] or "", ()):
                if module not in modules:
                    modules.append(module)
        return tuple(modules)

    def take(
        self, argv: Sequence[str], env: dict[str, str], cwd: Path | None, runtime: Collection[str]
    ) -> Spare | None:
        """The spare, handed over when it fits the launch (one that does not is stopped); either
        way the keeper holds none until its loop starts another."""
        spare, self.spare = self.spare, None
        if spare is not None and not spare.fits(argv, env, cwd, runtime):
            spare.discard()
            return None
        return spare

    async def discard(self) -> None:
        if self.spare is not None:
            spare, self.spare = self.spare, None
            await asyncio.to_thread(spare.discard)

    async def loop(
        self,
        desired: Callable[[], DesiredEnvironment | None],
        supervisors: Callable[[], list[ServiceSupervisor]],
        env: Callable[[], dict[str, str]],
        changed: asyncio.Event,
        services: Callable[[], bool],
    ) -> None:
        """Start a spare while a service runs and none is starting; replace one that no longer
        fits (another folder, namespace, flavors); ``changed`` is set when one is started."""
        made_for: object = None  # what the spare was started for (its environment is built then)
        while True:
            await asyncio.sleep(0.5)
            now = desired()
            if now is None or not services() or any_starting(supervisors()):
                continue
            wanted: tuple[object, ...] = (  # not the settings: a spare may run under new ones
                now.namespace,
                now.project,
                now.environment,
                now.root,
                self.preload,
                self.python,
            )
            spare = self.spare
            if spare is not None and spare.alive and made_for == wanted:
                continue
            await self.discard()
            try:
                values = await asyncio.to_thread(env)  # secrets may be read: off the loop
            except ShipyardError:  # a secret that cannot be read: launches report it themselves
                continue
            if desired() is now and not any_starting(supervisors()):
                self.spare = Spare(self.python, values, now.root, self.preload, self.log)
                made_for = wanted
                changed.set()

    def children(self) -> list[dict[str, Any]]:
        """The spare's process, for the status file (what a successor stops)."""
        if self.spare is not None and self.spare.alive:
            return [{"pid": self.spare.pid, "created": created(self.spare.pid)}]
        return []

    def snapshot(self) -> dict[str, Any] | None:
        spare = self.spare
        if spare is None:
            return None
        return {
            "pid": spare.pid,
            "modules": list(spare.modules),
            "ready": spare.ready,
            "imports_s": spare.ready_after,
        }
