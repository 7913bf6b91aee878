"""The agent converges as soon as the desired state moves — an apply, a sync's release, a
rollback, a saved spec file — not at its next interval: each reconcile here is observed while the
interval is an hour, so only the wake can have started it."""

from __future__ import annotations

import asyncio
import textwrap
from pathlib import Path

from shipyard.core.settings import load_settings
from shipyard.deploy.agent import Agent, AgentOptions, AppliedState, SpecFileState, WatchedState
from shipyard.deploy.apply import apply, rollback
from tests.deploy.delivery_world import World, spec_of

SPEC = textwrap.dedent(
    """\
    project: {name: fraud}
    environments:
      staging: {settings: {MODE: MODE_VALUE}}
    """
)


def _spec(mode: str) -> str:
    return SPEC.replace("MODE_VALUE", mode)


async def _until(check: object, what: str, timeout_s: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not check():  # type: ignore[operator]
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def test_an_apply_and_a_rollback_wake_the_agent_without_waiting_its_interval(
    world: World, tmp_path: Path
) -> None:
    state = AppliedState(world.delivery, "fraud")
    assert isinstance(state, WatchedState)
    assert state.revision("staging") is None
    apply(spec_of(_spec("a")), "staging", delivery=world.delivery, facts=world.facts(), user="alice")
    assert state.revision("staging") == (1, "applied")
    settings = load_settings(home=tmp_path / "home", uri="sqlite://", artifacts=str(tmp_path / "art"))
    lines: list[str] = []
    options = AgentOptions(environment="staging", interval_s=3600.0, wake_check_s=0.05)

    async def main() -> None:
        agent = Agent(options, state, settings, world.metadata, report=lines.append)
        stop = asyncio.Event()
        task = asyncio.create_task(agent.run(stop))
        try:
            await _until(lambda: agent.desired is not None, "the first reconcile")
            assert agent.desired is not None and agent.desired.settings == {"MODE": "a"}
            assert agent.wakes == 0
            await asyncio.to_thread(
                apply,
                spec_of(_spec("b")),
                "staging",
                delivery=world.delivery,
                facts=world.facts(),
                user="alice",
            )
            await _until(lambda: agent.desired.settings == {"MODE": "b"}, "the new release")  # type: ignore[union-attr]
            assert agent.wakes == 1 and agent.desired.source == "release 2 of fraud/staging"  # type: ignore[union-attr]
            await asyncio.to_thread(
                rollback, "fraud", "staging", delivery=world.delivery, facts=world.facts(), user="alice"
            )
            await _until(lambda: agent.desired.settings == {"MODE": "a"}, "the rollback")  # type: ignore[union-attr]
            assert agent.wakes == 2
            assert agent.status()["agent"]["wakes"] == 2
        finally:
            stop.set()
            await task

    asyncio.run(main())
    assert sum("the desired state changed ((2, 'applied'))" in line for line in lines) == 1, lines


def test_a_saved_spec_file_moves_its_revision(tmp_path: Path) -> None:
    path = tmp_path / "shipyard.yaml"
    state = SpecFileState(path)
    assert isinstance(state, WatchedState) and state.revision("staging") is None
    path.write_text(_spec("a"))
    first = state.revision("staging")
    path.write_text(_spec("bb"))
    assert state.revision("staging") != first


def test_the_default_keeps_the_previous_version_warm() -> None:
    """A rollback is a router switch by default (the previous generation stays warm)."""
    from shipyard.cli.agent import DEFAULT_STANDBY_S as CLI_DEFAULT
    from shipyard.deploy.agent import Timing
    from shipyard.deploy.agent.supervisor import DEFAULT_STANDBY_S

    assert Timing().standby_s == DEFAULT_STANDBY_S == CLI_DEFAULT > 0


def test_a_rollout_cancelled_before_it_ran_does_not_wedge_the_deployment() -> None:
    """The desired plan changed twice before the rollout task of the first change ever ran: the
    task is cancelled without running its own clean-up, and the next step must still roll out."""
    from shipyard.deploy.agent.commands import ServicePlan
    from shipyard.deploy.agent.router import Router
    from shipyard.deploy.agent.supervisor import ServiceSupervisor, Timing

    def plan(fingerprint: str) -> ServicePlan:
        return ServicePlan("api", "models:/fraud/1", "fraud/1", 1, fingerprint)

    def launch(_plan: ServicePlan, _port: int) -> object:
        raise OSError("no processes in this test")

    async def main() -> None:
        sup = ServiceSupervisor("api", Router("api", "127.0.0.1", 0), launch, Timing(), lambda _l: None)  # type: ignore[arg-type]

        async def never() -> None:
            raise AssertionError("a task cancelled before it starts never runs")

        stale = asyncio.create_task(never())
        stale.cancel()
        sup._rolling, sup._rolling_plan = stale, plan("aaaa")
        sup.desired = plan("bbbb")
        await sup._step()  # cancels nothing new, clears the dead task, starts a rollout of bbbb
        assert sup._rolling is not None and sup._rolling is not stale
        assert sup._rolling_plan is not None and sup._rolling_plan.fingerprint == "bbbb"
        await asyncio.gather(sup._rolling, return_exceptions=True)  # it fails: nothing can start
        assert sup.rollout is not None and sup.rollout.state == "failed" and sup.state != "rolling-out"

    asyncio.run(main())
