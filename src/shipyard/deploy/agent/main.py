"""Run an :class:`~.agent.Agent` in the foreground until SIGINT/SIGTERM; SIGHUP reconciles now."""

from __future__ import annotations

import asyncio
import signal
from typing import TYPE_CHECKING

from shipyard.deploy.agent.agent import Agent, AgentOptions, Report

if TYPE_CHECKING:
    from shipyard.core.settings import Settings
    from shipyard.deploy.agent.desired import DesiredState
    from shipyard.metadata.base import MetadataStore


def run_agent(
    options: AgentOptions,
    state: DesiredState,
    settings: Settings,
    metadata: MetadataStore | None,
    report: Report,
) -> None:
    """Serve until a stop signal; every process the agent started is stopped before it returns."""

    async def main() -> None:
        agent = Agent(options, state, settings, metadata, report=report)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        loop.add_signal_handler(signal.SIGHUP, agent.poke)
        try:
            await agent.run(stop)
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                loop.remove_signal_handler(sig)

    try:
        import uvloop  # with uvicorn[standard]: the routers' loop, as `shipyard serve` runs
    except ImportError:  # pragma: no cover - depends on the platform
        asyncio.run(main())
    else:
        uvloop.run(main())
