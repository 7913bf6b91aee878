"""``--serving kserve``: an online service as a KServe ``InferenceService`` (serving.kserve.io/v1beta1)
whose custom predictor container runs the same ``shipyard serve`` as the plain Deployment would,
in KServe's RawDeployment mode (a Deployment and an autoscaler that KServe owns, no Knative).

KServe owns the pods' Deployment, Service and autoscaler, so none of ours are rendered; the
service's NetworkPolicy selects the predictor pods by KServe's ``serving.kserve.io/inferenceservice``
label. No ServiceMonitor is rendered in this mode (KServe names the Service ``<name>-predictor``).
"""

from __future__ import annotations

from shipyard.deploy.render.workload import (
    Context,
    Obj,
    allow_ingress,
    labels,
    meta,
    pod_spec,
    serve_container,
)
from shipyard.deploy.spec.models import Service

API_VERSION = "serving.kserve.io/v1beta1"
CONTAINER = "kserve-container"  # the name KServe gives a custom predictor's container


def inference_service_objects(ctx: Context, name: str, svc: Service) -> list[Obj]:
    lab = labels(ctx, name, "service")
    serve = {**serve_container(ctx, name, svc), "name": CONTAINER}
    auto = svc.autoscaling
    predictor: Obj = {
        **pod_spec([serve]),
        "minReplicas": auto.min_replicas if auto else svc.replicas,
        "maxReplicas": auto.max_replicas if auto else max(svc.replicas, 1),
    }
    if auto is not None:
        predictor["scaleMetric"] = "cpu"
        predictor["scaleTarget"] = auto.target_cpu
    isvc: Obj = {
        "apiVersion": API_VERSION,
        "kind": "InferenceService",
        "metadata": {
            **meta(name, lab),
            "annotations": {"serving.kserve.io/deploymentMode": "RawDeployment"},
        },
        "spec": {"predictor": predictor},
    }
    pods = {"serving.kserve.io/inferenceservice": name}
    return [isvc, allow_ingress(ctx, name, lab, pods)]
