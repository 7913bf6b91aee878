"""``shipyard.yaml``: the typed model of a project's spec (pure; no I/O).

Every object refuses unknown keys; names are DNS labels (they become Kubernetes names); sizes,
model references and secret references are checked in their field, and what spans objects
(a deployment's environments exist, what it reads is allowed there, its resources fit) in
:mod:`shipyard.deploy.spec.rules`. ``Spec.model_json_schema()`` is what ``shipyard schema`` prints.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    PrivateAttr,
    StringConstraints,
    Tag,
    model_validator,
)

from shipyard.experiments.config import ExperimentSpec

#: Environment, deployment, flow and monitor names: DNS labels, as Kubernetes names them.
Name = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$"),
    Field(description="a lower-case DNS label: letters, digits and '-', starting with a letter"),
]
_MODEL_REF = re.compile(  # a branch's model is NAME:branch:BRANCH (core/branches.py)
    r"^models:/[A-Za-z0-9][A-Za-z0-9_.\-]{0,249}(:branch:[a-z0-9][a-z0-9_\-]{0,39})?"
    r"(/[1-9][0-9]{0,8}|@[A-Za-z][A-Za-z0-9_\-]{0,99})$"
)
_DATA_REF = re.compile(
    r"^datasets:/[A-Za-z0-9][A-Za-z0-9_.\-]{0,249}(/[1-9][0-9]{0,8}|@[A-Za-z][A-Za-z0-9_\-]{0,99})?$"
)
_SIZE = re.compile(r"^[0-9]+(\.[0-9]+)?\s*(B|KB|MB|GB|TB|Ki|Mi|Gi|Ti|KiB|MiB|GiB|TiB)?$")
_SECRET_REF = re.compile(r"\$\{secret:([^}]*)\}")
_SECRET_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_UNITS = {
    "": 1,
    "B": 1,
    "KB": 10**3,
    "MB": 10**6,
    "GB": 10**9,
    "TB": 10**12,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "KiB": 2**10,
    "MiB": 2**20,
    "GiB": 2**30,
    "TiB": 2**40,
}


def size_bytes(text: str) -> int:
    """``"2GB"`` -> 2,000,000,000; ``"512Mi"`` -> 536,870,912 (a bare number is bytes)."""
    found = _SIZE.match(text.strip())
    if found is None:
        raise ValueError(f"{text!r} is not a size like '512Mi' or '2GB'")
    number = text.strip()[: found.start(2)] if found.group(2) else text.strip()
    return int(float(number) * _UNITS[found.group(2) or ""])


def _model_ref(text: str) -> str:
    if not _MODEL_REF.match(text):
        raise ValueError(
            f"{text!r} is not a model reference like 'models:/fraud@champion' or 'models:/fraud/3'"
        )
    return text


def _data_ref(text: str) -> str:
    if not _DATA_REF.match(text):
        raise ValueError(f"{text!r} is not a dataset reference like 'datasets:/transactions@training'")
    return text


def _size(text: str) -> str:
    size_bytes(text)
    return text


def _secret_name(text: str) -> str:
    if not _SECRET_NAME.match(text):
        raise ValueError(f"{text!r} is not a secret name (lower case letters, digits and '_')")
    return text


def _cron(text: str) -> str:
    from shipyard.core.errors import FlowError
    from shipyard.flows.schedule import parse_cron

    try:
        parse_cron("", text)
    except FlowError as exc:
        raise ValueError(str(exc).removeprefix("flow '': ")) from None
    return text


def secret_refs(text: str) -> list[str]:
    """The secret names a setting's value reads (``${secret:NAME}``)."""
    return _SECRET_REF.findall(text)


ModelRef = Annotated[str, AfterValidator(_model_ref)]
DataRef = Annotated[str, AfterValidator(_data_ref)]
Size = Annotated[str, AfterValidator(_size)]
SecretName = Annotated[str, AfterValidator(_secret_name)]
Cron = Annotated[str, AfterValidator(_cron)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=False)


class Resources(_Strict):
    cpu: Annotated[float, Field(gt=0, le=1024)] | None = None
    memory: Size | None = None
    gpu: Annotated[int, Field(ge=0, le=64)] | None = None


class Compute(_Strict):
    task: Resources = Resources()
    deployment: Resources = Resources()


class ApplyPolicy(_Strict):
    """Who may apply to the environment (anyone with the permission when all are empty)."""

    users: list[str] = []
    roles: list[str] = []
    service_accounts: list[str] = []


class ModelRequirements(_Strict):
    approved: bool = False
    monitors_passing: bool = False
    min_quality: dict[str, float] = {}


class ModelPolicy(_Strict):
    require: ModelRequirements = ModelRequirements()


class ImagePolicy(_Strict):
    """Container image registries deployments and steps may use (none listed: any)."""

    registries: list[str] = []


class DataAccess(_Strict):
    """Datasets and feature views the environment may read (deny by default)."""

    datasets: list[str] = []
    feature_views: list[str] = []


class Policies(_Strict):
    apply: ApplyPolicy = ApplyPolicy()
    models: ModelPolicy = ModelPolicy()
    compute: Compute = Compute()
    images: ImagePolicy = ImagePolicy()
    data: DataAccess = DataAccess()
    secrets: list[SecretName] = []


class Environment(_Strict):
    description: str = ""
    namespace: str | None = None
    policies: Policies = Policies()
    settings: dict[str, str] = Field(
        default={}, description="environment variables; a value may read a secret as ${secret:NAME}"
    )


class Route(_Strict):
    model: ModelRef
    weight: Annotated[float, Field(ge=0, le=100)] = 0
    mode: Literal["canary", "shadow"] = "canary"


class Autoscaling(_Strict):
    min_replicas: Annotated[int, Field(ge=1, le=1000)] = 1
    max_replicas: Annotated[int, Field(ge=1, le=1000)] = 1
    target_cpu: Annotated[int, Field(ge=1, le=100)] = 70

    @model_validator(mode="after")
    def _bounds(self) -> Autoscaling:
        if self.min_replicas > self.max_replicas:
            raise ValueError(f"min_replicas {self.min_replicas} is above max_replicas {self.max_replicas}")
        return self


class TokenPolicy(_Strict):
    required: bool = True


class _Deployment(_Strict):
    model: ModelRef
    environments: list[Name] | None = Field(default=None, description="where it deploys (default: every one)")
    resources: Resources = Resources()
    image: str | None = None
    secrets: list[SecretName] = []


class Service(_Deployment):
    """An online inference service (``shipyard serve``)."""

    kind: Literal["service"] = "service"
    replicas: Annotated[int, Field(ge=0, le=1000)] = 1
    autoscaling: Autoscaling | None = None
    routes: list[Route] = []
    features: list[str] = []
    tokens: TokenPolicy = TokenPolicy()

    @model_validator(mode="after")
    def _routes(self) -> Service:
        canary = sum(r.weight for r in self.routes if r.mode == "canary")
        if canary > 100:
            raise ValueError(
                f"canary routes take {canary:g}% of traffic; the weights must sum to 100 or less"
            )
        return self


class BatchJob(_Deployment):
    """A batch scoring job (``shipyard batch``), on a schedule or applied once."""

    kind: Literal["batch"]
    input: DataRef
    output: str
    schedule: Cron | None = None


def _kind(value: Any) -> str:
    found = value.get("kind", "service") if isinstance(value, dict) else getattr(value, "kind", "service")
    return str(found)


Deployment = Annotated[
    Annotated[Service, Tag("service")] | Annotated[BatchJob, Tag("batch")], Discriminator(_kind)
]


class FlowSchedule(_Strict):
    file: str
    flow: str | None = None
    params: dict[str, Any] = {}
    schedule: Cron | None = None
    environment: Name | None = None

    @model_validator(mode="after")
    def _relative(self) -> FlowSchedule:
        parts = self.file.replace("\\", "/").split("/")
        if self.file.startswith(("/", "~")) or ".." in parts or not self.file.endswith(".py"):
            raise ValueError(f"file {self.file!r} must be a .py path inside the project, like flows/train.py")
        return self


class Project(_Strict):
    name: Name
    owners: list[str] = []


class Spec(_Strict):
    """A project's ``shipyard.yaml``."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, title="shipyard.yaml", json_schema_extra={"$id": "shipyard.yaml"}
    )

    version: Literal[1] = 1
    project: Project
    environments: dict[Name, Environment]
    deployments: dict[Name, Deployment] = {}
    flows: dict[Name, FlowSchedule] = {}
    monitors: dict[Name, dict[str, Any]] = {}
    experiments: dict[Name, ExperimentSpec] = Field(
        default={}, description="A/B experiments against production (shipyard.experiments.config)"
    )
    overrides: dict[Name, dict[str, Any]] = Field(
        default={},
        description="per environment: keys merged over deployments/flows/monitors there "
        "(mappings merge, lists and scalars replace, null removes)",
    )
    # where each key of the file it was read from starts (load.SourceMarks; not part of its value)
    _source: Any = PrivateAttr(default=None)
