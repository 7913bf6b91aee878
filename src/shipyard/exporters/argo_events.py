"""A flow's triggers (``@flow(trigger=on_dataset(...) | on_model(...))``) for Argo Events: a webhook
``EventSource`` and a ``Sensor`` that submits the exported WorkflowTemplate when shipyard reports one
of the flow's events.

Who reports them: ``shipyard schedule run FLOW.py --notify URL`` watches the same events the local
scheduler does (dataset versions, model versions, alias moves; each claimed once in the metadata
database) and POSTs ``{"flow", "source", "event", "position"}`` to the EventSource's URL instead of
starting a run. The Sensor's dependencies filter on ``body.flow`` and ``body.source``, so one
EventSource can serve every flow of a project.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from shipyard.exporters.k8s import dns_label

API_VERSION = "argoproj.io/v1alpha1"
EVENT_NAME = "shipyard"


@dataclass(frozen=True)
class EventsOptions:
    event_source: str = "shipyard"  # the EventSource's name (one per namespace serves every flow)
    namespace: str | None = None
    port: int = 12000
    endpoint: str = "/shipyard"
    service_account: str | None = None  # the Sensor's, allowed to create Workflows


def event_source(options: EventsOptions) -> dict[str, Any]:
    """The webhook EventSource shipyard's notifier POSTs to."""
    metadata: dict[str, Any] = {"name": options.event_source}
    if options.namespace:
        metadata["namespace"] = options.namespace
    webhook = {"port": str(options.port), "endpoint": options.endpoint, "method": "POST"}
    return {
        "apiVersion": API_VERSION,
        "kind": "EventSource",
        "metadata": metadata,
        "spec": {
            "service": {"ports": [{"port": options.port, "targetPort": options.port}]},
            "webhook": {EVENT_NAME: webhook},
        },
    }


def sensor(flow: str, sources: Sequence[str], template: str, options: EventsOptions) -> dict[str, Any]:
    """A Sensor that submits a Workflow from ``template`` on any of ``sources`` (trigger sources,
    e.g. ``dataset:transactions``) reported for ``flow``."""
    deps: list[dict[str, Any]] = []
    for i, source in enumerate(sources):
        deps.append(
            {
                "name": f"event-{i}",
                "eventSourceName": options.event_source,
                "eventName": EVENT_NAME,
                "filters": {
                    "data": [
                        {"path": "body.flow", "type": "string", "value": [flow]},
                        {"path": "body.source", "type": "string", "value": [source]},
                    ]
                },
            }
        )
    workflow = {
        "apiVersion": API_VERSION,
        "kind": "Workflow",
        "metadata": {"generateName": f"{template}-"},
        "spec": {"workflowTemplateRef": {"name": template}},
    }
    metadata: dict[str, Any] = {"name": dns_label(f"{template}-trigger")}
    if options.namespace:
        metadata["namespace"] = options.namespace
    spec: dict[str, Any] = {
        "dependencies": deps,
        "triggers": [
            {
                "template": {
                    "name": "submit",
                    "conditions": " || ".join(str(d["name"]) for d in deps),
                    "argoWorkflow": {"operation": "submit", "source": {"resource": workflow}},
                }
            }
        ],
    }
    if options.service_account:
        spec["template"] = {"serviceAccountName": options.service_account}
    return {"apiVersion": API_VERSION, "kind": "Sensor", "metadata": metadata, "spec": spec}


def export_events(
    flow: str, sources: Sequence[str], template: str, options: EventsOptions
) -> list[dict[str, Any]]:
    """The EventSource and the Sensor for a flow's trigger sources (``trigger.source`` of each of
    ``Flow.triggers``); empty when it has none."""
    if not sources:
        return []
    return [event_source(options), sensor(flow, sources, template, options)]
