"""What a deployment's container runs: the ``shipyard serve`` / ``shipyard batch`` arguments a
spec's service or batch job stands for (the same commands the local runtime starts).

Routes: ``shipyard serve`` splits traffic between versions of *one* model, so a route names an
alias or version of the deployment's own model; the deployment's model takes what the canary
routes leave (``--route champion=90 --route candidate=10``), and one shadow route is ``--shadow``.
"""

from __future__ import annotations

from shipyard.core.errors import InvalidInputError
from shipyard.deploy.spec.models import BatchJob, Service


def model_parts(ref: str) -> tuple[str, str]:
    """``models:/fraud@champion`` -> ``("fraud", "champion")``; ``models:/fraud/3`` -> ``("fraud", "3")``."""
    body = ref.removeprefix("models:/")
    if "@" in body:
        name, alias = body.rsplit("@", 1)
        return name, alias
    name, version = body.rsplit("/", 1)
    return name, version


def serve_args(name: str, service: Service, port: int, log_dir: str | None) -> list[str]:
    """``shipyard serve`` arguments (after the ``shipyard`` command) for the service ``name``."""
    args = ["serve", service.model, "--host", "0.0.0.0", "--port", str(port), "--deployment", name]  # noqa: S104 (in a pod)
    model, main = model_parts(service.model)
    canary: list[tuple[str, int]] = []
    shadows: list[str] = []
    for i, route in enumerate(service.routes):
        other, ref = model_parts(route.model)
        where = f"deployments.{name}.routes[{i}]"
        if other != model:
            raise InvalidInputError(
                f"{where}: {route.model} is not a version of {model}; a service routes between "
                f"versions of its own model (models:/{model}@ALIAS or models:/{model}/VERSION)"
            )
        if route.mode == "shadow":
            shadows.append(ref)
        elif not float(route.weight).is_integer():
            raise InvalidInputError(f"{where}: weight {route.weight:g} must be a whole percent")
        else:
            canary.append((ref, int(route.weight)))
    if len(shadows) > 1:
        raise InvalidInputError(f"deployments.{name}.routes: at most one shadow route, got {len(shadows)}")
    if canary:
        rest = 100 - sum(weight for _, weight in canary)
        for ref, weight in [(main, rest), *canary]:
            args += ["--route", f"{ref}={weight}"]
    if shadows:
        args += ["--shadow", shadows[0]]
    for view in service.features:
        args += ["--features", view]
    if log_dir:  # else SHIPYARD_HOME/predictions, on the pod's emptyDir
        args += ["--log-dir", log_dir]
    return args


def batch_args(job: BatchJob) -> list[str]:
    """``shipyard batch`` arguments for a batch job (resumable: a retried pod skips done chunks)."""
    return ["batch", job.model, job.input, job.output, "--quiet"]
