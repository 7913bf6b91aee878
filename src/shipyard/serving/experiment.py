"""An experiment inside ``shipyard serve``: the assignment unit of a request, and the watcher that
sends the challenger's traffic to 0 when the experiment's recorded state says it stopped (a
guardrail breach found by ``shipyard experiment check``, or ``shipyard experiment stop``)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from shipyard.experiments.assign import unit_value

if TYPE_CHECKING:
    from shipyard.serving.deployment import Deployment
    from shipyard.tracking.stores import Stores

log = logging.getLogger("shipyard.serving")


def assignment_unit(
    key: str, columns: Mapping[str, list[Any]], keys: Mapping[str, list[Any]] | None, query: str | None
) -> str | None:
    """The request's unit: the first row's ``key`` input column, an entities body's join key, or
    ``?key=`` on the URL; None when the request has none (a 400 naming the key)."""
    for source in (columns, keys or {}):
        values = source.get(key)
        if values:
            return unit_value(values[0])
    return unit_value(query) if query else None


def store_share(stores: Stores, project: str, environment: str, name: str) -> Callable[[], float | None]:
    """Reads the experiment's current challenger share from the delivery state (None: unknown)."""
    from shipyard.experiments.config import ExperimentSpec
    from shipyard.metadata.delivery import open_delivery_store

    delivery = open_delivery_store(stores.metadata)

    def read() -> float | None:
        for obj in delivery.list_objects(project, environment):
            if obj.kind == "experiment" and obj.name == name:
                return ExperimentSpec.model_validate(obj.spec).effective_share
        return None

    return read


async def watch(deployment: Deployment, read_share: Callable[[], float | None], every_s: float) -> None:
    """Every ``every_s`` seconds: a recorded share of 0 stops the challenger's traffic (for good:
    restarting an experiment is a new deployment)."""
    while deployment.challenger_share > 0:
        try:
            share = await asyncio.to_thread(read_share)
        except Exception as exc:  # a store that cannot be read changes nothing
            log.warning("experiment %s: could not read its state: %s", deployment.experiment, exc)
            share = None
        if share is not None and share <= 0:
            deployment.stop_challenger()
            log.warning("experiment %s stopped: the challenger gets no more traffic", deployment.experiment)
            return
        await asyncio.sleep(every_s)
