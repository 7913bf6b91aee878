"""One typed Settings object, built at the edge (CLI, SDK entry, server) and passed down.

Nothing here is read at import time: call :func:`load_settings` where the program starts.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from shipyard.core.environ import (
    ENV_PREFIX,
    PROJECT_MARKERS,
    current_user,
    default_home,
    find_project_root,
    shipyard_variables,
)

__all__ = [
    "ENV_PREFIX",
    "PROJECT_MARKERS",
    "Settings",
    "current_user",
    "default_home",
    "find_project_root",
    "load_settings",
]


def _from_environment(fields: Mapping[str, object]) -> dict[str, str]:
    """``SHIPYARD_<FIELD>`` variables (names matched without regard to case, as
    pydantic-settings did), keyed by field name; values are validated by the model."""
    return {name: value for name, value in shipyard_variables().items() if name in fields}


class Settings(BaseModel):
    """Everything shipyard reads from the environment (``SHIPYARD_*``): explicit values win over
    the variables, which win over the defaults. (A plain pydantic model reading the variables
    itself: importing pydantic-settings cost about 0.1 s at every start of a command.)"""

    model_config = ConfigDict(extra="ignore", validate_default=True)

    def __init__(self, **values: Any) -> None:
        super().__init__(**{**_from_environment(type(self).model_fields), **values})

    home: Path = Field(default_factory=default_home, description="Folder for the embedded defaults.")
    uri: str | None = Field(
        default=None, description="Metadata backend: sqlite:///..., postgresql://..., http(s)://..."
    )
    artifacts: str | None = Field(default=None, description="Artifact root: a folder or s3://bucket/prefix.")
    user: str = Field(default_factory=current_user)
    namespace: str | None = Field(default=None, description="Namespace to read; default user:<login>.")
    run_namespace: str | None = Field(
        default=None,
        description="Namespace new runs are written to (e.g. project:fraud for a CI machine token); "
        "default user:<login>.",
    )
    token: str | None = Field(default=None, description="Bearer token for a shipyard server.")
    s3_endpoint_url: str | None = Field(default=None, description="S3 endpoint (MinIO, moto...).")
    heartbeat_interval_s: float = Field(default=10.0, gt=0)
    heartbeat_timeout_s: float = Field(default=60.0, gt=0)
    metric_flush_interval_s: float = Field(default=1.0, gt=0)
    metric_batch_size: int = Field(default=5000, gt=0)
    secrets_key: SecretStr | None = Field(
        default=None, description="The secrets encryption key: base64 of 32 random bytes (never logged)."
    )
    project: str | None = Field(
        default=None, description="The project a run acts for: whose secrets its steps read."
    )
    environment: str | None = Field(
        default=None, description="The project's environment a run acts in (dev, staging, production...)."
    )
    branch: str | None = Field(
        default=None,
        description="The branch this process writes on (a name, or 'auto': the git branch); its runs, "
        "models, datasets and deployments live in project:P/branch:B and never touch production's.",
    )
    step_secrets: Literal["store", "env"] = Field(
        default="store",
        description="Where a step's declared secrets come from: the secrets store, or (env) environment "
        "variables of the same names, as an exported workflow's pod gets them from Kubernetes Secrets.",
    )
    secrets_key_file: Path | None = Field(
        default=None,
        description="A file holding the secrets key (base64 of 32 bytes); wins over the variable.",
    )

    # single sign-on of the team server's web UI (``shipyard server --oidc-*``)
    oidc_issuer: str | None = Field(
        default=None, description="OpenID Connect issuer URL; its discovery document names the endpoints."
    )
    oidc_client_id: str | None = Field(default=None, description="This server's client id at the issuer.")
    oidc_client_secret_file: Path | None = Field(
        default=None, description="A file holding the client secret (never logged)."
    )
    oidc_username_claim: str = Field(
        default="preferred_username",
        pattern="^(preferred_username|email)$",
        description="The ID token claim that names the shipyard user: preferred_username or email.",
    )
    oidc_auto_create: bool = Field(
        default=False, description="Create unknown SSO users (with no role: an admin binds roles)."
    )
    ci_trust_file: Path | None = Field(
        default=None,
        description="Trust rules for CI OIDC tokens (shipyard server --ci-trust): issuer, audience, "
        "subject -> service account, project, environment, actions, TTL.",
    )
    public_url: str | None = Field(
        default=None, description="The server's external URL (SSO redirect); default: from each request."
    )
    unpack_max_bytes: int = Field(
        default=4 << 30,
        gt=0,
        description="Most a folder artifact, model package or skops file may unpack to.",
    )
    online_store: str | None = Field(
        default=None, description="The feature store's online store: sqlite:///... or redis://host:6379/0."
    )
    db_timeout_s: float = Field(
        default=30.0,
        gt=0,
        le=3600,
        description="Most one Postgres connect, pool wait, lock wait or statement may take before it "
        "fails (a server answers 503 with Retry-After); a frozen database cannot hang requests longer.",
    )
    unpack_max_members: int = Field(
        default=100_000, gt=0, description="Most entries such an archive may hold."
    )
    code_package_max_bytes: int = Field(
        default=64 << 20, gt=0, description="Most a run's code package (flow + local modules) may hold."
    )

    @field_validator("branch")
    @classmethod
    def _branch(cls, value: str | None) -> str | None:
        from shipyard.core.branches import resolve_branch
        from shipyard.core.errors import InvalidInputError

        try:
            return resolve_branch(value)
        except InvalidInputError as exc:
            raise ValueError(str(exc)) from None

    @property
    def write_namespace(self) -> str:
        """Where this process's new runs go: the branch's namespace on a branch, else
        ``run_namespace`` (a CI machine token's project), else the user's."""
        if self.branch is not None:
            from shipyard.core.branches import branch_namespace, branch_project

            return branch_namespace(branch_project(self), self.branch)
        return self.run_namespace or self.user_namespace

    @property
    def metadata_uri(self) -> str:
        if self.uri:
            return self.uri
        return f"sqlite:///{self.home / 'shipyard.db'}"

    @property
    def online_store_uri(self) -> str:
        return self.online_store or f"sqlite:///{self.home / 'online.db'}"

    @property
    def artifact_root(self) -> str:
        return self.artifacts or str(self.home / "artifacts")

    @property
    def user_namespace(self) -> str:
        return f"user:{self.user}"

    @property
    def read_namespace(self) -> str:
        if self.namespace:
            return self.namespace
        return self.write_namespace if self.project is not None else self.user_namespace


def load_settings(**overrides: object) -> Settings:
    """Build settings from the environment, with explicit overrides (CLI flags) on top."""
    from pydantic import ValidationError

    from shipyard.core.errors import ConfigurationError

    clean = {k: v for k, v in overrides.items() if v is not None}
    try:
        return Settings(**clean)
    except ValidationError as exc:
        problems = "; ".join(
            (f"SHIPYARD_{'_'.join(str(p) for p in err['loc']).upper()}: " if err["loc"] else "")
            + str(err["msg"]).removeprefix("Value error, ")
            for err in exc.errors()
        )
        raise ConfigurationError(f"invalid shipyard settings: {problems}") from None
