"""What an environment's namespace holds besides its deployments: the settings ConfigMap, the
ExternalSecret that brings the secrets it reads, and the network policies every pod runs under.

Secrets are never written: with ``--secret-store`` an ExternalSecret (external-secrets.io) asks
that store for ``<project>/<environment>/<name>`` and writes the Secret ``<project>-secrets`` in the
namespace; without it, pods read keys of a Secret of that name that the cluster already has.

Network: ``default-deny`` refuses all traffic to and from every pod of the namespace; a service's
own policy lets in its port from the ingress controller's and Prometheus' namespaces, and
``<project>-egress`` lets the project's pods resolve names (DNS, port 53) and reach the metadata
store and artifact store: TCP 443 (S3, a shipyard server over HTTPS), 5432 (Postgres), 6379 (a
Redis online store) and 8080 (a shipyard server over HTTP) in ``--egress-cidr`` (default anywhere:
a NetworkPolicy cannot name hosts; narrow it to the stores' addresses).
"""

from __future__ import annotations

from shipyard.deploy.render.options import HOME
from shipyard.deploy.render.workload import Context, Obj, labels, meta
from shipyard.deploy.spec.models import Spec, secret_refs


def settings_config_map(ctx: Context) -> Obj:
    data = {"SHIPYARD_HOME": HOME, "SHIPYARD_PROJECT": ctx.project}
    if ctx.environment is not None and ctx.env_name is not None:
        data["SHIPYARD_ENVIRONMENT"] = ctx.env_name
        if ctx.environment.namespace:
            data["SHIPYARD_NAMESPACE"] = ctx.environment.namespace
        data.update({k: v for k, v in ctx.environment.settings.items() if not secret_refs(v)})
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": meta(ctx.settings_name, labels(ctx, ctx.settings_name, "settings")),
        "data": dict(sorted(data.items())),
    }


def secrets_read(view: Spec, ctx: Context) -> list[str]:
    """Every secret the environment's pods read: settings' ``${secret:NAME}`` and deployments' secrets."""
    names = {n for dep in view.deployments.values() for n in dep.secrets}
    if ctx.environment is not None:
        names |= {n for v in ctx.environment.settings.values() for n in secret_refs(v)}
    return sorted(names)


def external_secret(ctx: Context, names: list[str]) -> Obj | None:
    store = ctx.options.secret_store
    if store is None or ctx.env_name is None or not names:
        return None
    return {
        "apiVersion": "external-secrets.io/v1",
        "kind": "ExternalSecret",
        "metadata": meta(ctx.secrets_name, labels(ctx, ctx.secrets_name, "secrets")),
        "spec": {
            "refreshInterval": "1h",
            "secretStoreRef": {"name": store, "kind": ctx.options.secret_store_kind},
            "target": {"name": ctx.secrets_name, "creationPolicy": "Owner", "deletionPolicy": "Retain"},
            "data": [
                {"secretKey": name, "remoteRef": {"key": f"{ctx.project}/{ctx.env_name}/{name}"}}
                for name in names
            ],
        },
    }


def network_policies(ctx: Context) -> list[Obj]:
    lab = labels(ctx, "network", "network")
    deny: Obj = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": meta("default-deny", lab),
        "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
    }
    stores = [{"ipBlock": {"cidr": cidr}} for cidr in ctx.options.egress_cidrs]
    egress: Obj = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": meta(f"{ctx.project}-egress", lab),
        "spec": {
            "podSelector": {"matchLabels": {"app.kubernetes.io/part-of": ctx.project}},
            "policyTypes": ["Egress"],
            "egress": [
                {
                    "to": [{"namespaceSelector": {}}],
                    "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}],
                },
                {
                    "to": stores,
                    "ports": [{"port": p, "protocol": "TCP"} for p in sorted(set(ctx.options.egress_ports))],
                },
            ],
        },
    }
    return [deny, egress]
