"""The local deployment runtime (``shipyard agent``): one environment's services, batch jobs and
scheduled flows run on this machine — supervised processes behind a router per deployment, with
zero-downtime rollouts (:mod:`.supervisor`, :mod:`.router`) and cron jobs on the scheduler's claim
store (:mod:`.jobs`). What to run comes from a :class:`DesiredState` (:mod:`.desired`)."""

from shipyard.deploy.agent.agent import Agent, AgentOptions, read_status
from shipyard.deploy.agent.desired import (
    AppliedState,
    DesiredDeployment,
    DesiredEnvironment,
    DesiredState,
    SpecFileState,
    WatchedState,
    registry_resolver,
)
from shipyard.deploy.agent.supervisor import Timing

__all__ = [
    "Agent",
    "AgentOptions",
    "AppliedState",
    "DesiredDeployment",
    "DesiredEnvironment",
    "DesiredState",
    "SpecFileState",
    "Timing",
    "WatchedState",
    "read_status",
    "registry_resolver",
]
