"""Argo CD: an ``Application`` (argoproj.io/v1alpha1) per environment that keeps the environment's
namespace synced with ``<path>/overlays/<env>`` of the git repository: automated, pruning what
git no longer has and repairing drift (self-heal); the namespace is created with the Pod Security
``restricted`` level enforced."""

from __future__ import annotations

from shipyard.deploy.render.options import RenderOptions
from shipyard.deploy.render.workload import Obj

API_VERSION = "argoproj.io/v1alpha1"


def application(project: str, env: str, namespace: str, options: RenderOptions) -> Obj:
    assert options.repo_url is not None
    return {
        "apiVersion": API_VERSION,
        "kind": "Application",
        "metadata": {
            "name": f"{project}-{env}",
            "namespace": options.argocd_namespace,
            "labels": {
                "app.kubernetes.io/managed-by": "shipyard",
                "app.kubernetes.io/part-of": project,
                "shipyard.dev/environment": env,
            },
            "finalizers": ["resources-finalizer.argocd.argoproj.io"],
        },
        "spec": {
            "project": options.argocd_project,
            "source": {
                "repoURL": options.repo_url,
                "targetRevision": options.revision,
                "path": f"{options.path.strip('/')}/overlays/{env}",
            },
            "destination": {"server": options.destination_server, "namespace": namespace},
            "syncPolicy": {
                "automated": {"prune": True, "selfHeal": True},
                "syncOptions": ["CreateNamespace=true", "PrunePropagationPolicy=foreground"],
                "managedNamespaceMetadata": {
                    "labels": {
                        "pod-security.kubernetes.io/enforce": "restricted",
                        "app.kubernetes.io/part-of": project,
                    }
                },
                "retry": {"limit": 5, "backoff": {"duration": "10s", "factor": 2, "maxDuration": "5m"}},
            },
        },
    }
