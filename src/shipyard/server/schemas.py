"""Request bodies of the REST API (Pydantic), documented in the OpenAPI schema at ``/docs``.

Wire conventions (see :mod:`shipyard.metadata.rest.codec`): times are ISO 8601 strings with an
offset; a non-finite float is ``{"$float": "nan" | "inf" | "-inf"}``; responses carry the entities'
fields by name. Bodies that are not JSON or do not match these schemas answer 422.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from shipyard.core.entities import RunStatus, TaskStatus


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CodeVersionIn(_Body):
    git_commit: str | None = None
    git_dirty: bool | None = None
    source_hash: str | None = None
    source_files: list[str] = Field(default_factory=list)


class RunCreateIn(_Body):
    id: str
    name: str
    namespace: str
    user: str
    start_time: datetime
    params: dict[str, Any] = Field(default_factory=dict)
    tags: dict[str, str] = Field(default_factory=dict)
    flow_name: str | None = None
    flow_spec: dict[str, Any] | None = None
    code_version: CodeVersionIn | None = None
    origin_run_id: str | None = None


class FinishIn(_Body):
    status: RunStatus
    end_time: datetime
    error: str | None = None


class HeartbeatIn(_Body):
    # ignored: liveness is judged on the server's store clock only (older clients send their time)
    at: datetime | None = None


class FailStaleIn(_Body):
    timeout_s: float = Field(gt=0, le=366 * 86400, description="seconds without a heartbeat")


class ParamsIn(_Body):
    params: dict[str, Any]


class MetricsIn(_Body):
    """Points as ``[key, value, step, timestamp_ms]`` rows (compact: thousands per call)."""

    metrics: list[tuple[str, float | dict[str, str], int, int]]


class TagsIn(_Body):
    tags: dict[str, str]


class ArtifactIn(_Body):
    id: str
    run_id: str
    name: str
    digest: str
    size: int
    serializer: str
    created_at: datetime
    task_id: str | None = None
    unsafe: bool = False
    meta: dict[str, Any] = Field(default_factory=dict)
    attempt: int | None = None  # ignored: the store records the task's current attempt


class TaskIn(_Body):
    id: str
    run_id: str
    step: str
    key: str
    index: int | None = None
    status: TaskStatus = TaskStatus.PENDING
    attempts: int = 0
    started_at: datetime | None = None
    ended_at: datetime | None = None
    heartbeat_at: datetime | None = None
    error: str | None = None
    cache_key: str | None = None
    reused_from: str | None = None
    node: str | None = None
    spec: dict[str, Any] = Field(default_factory=dict)


class TasksIn(_Body):
    tasks: list[TaskIn]


class TaskUpdateIn(_Body):
    status: TaskStatus | None = None
    attempts: int | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    heartbeat_at: datetime | None = None
    error: str | None = None
    reused_from: str | None = None
    node: str | None = None
    cache_key: str | None = None


class EdgeIn(_Body):
    task_id: str
    artifact_id: str
    input_name: str


class LineageIn(_Body):
    edges: list[EdgeIn]


# ---- model registry ------------------------------------------------------------------------------
class ModelCreateIn(_Body):
    name: str
    user: str | None = None
    at: datetime
    description: str = ""
    tags: dict[str, str] = Field(default_factory=dict)
    project: str | None = None  # None: the server scope; creating in a project needs model:write there


class ModelUpdateIn(_Body):
    description: str
    at: datetime


class ModelTagsIn(_Body):
    tags: dict[str, str]
    at: datetime


class LineageRecordIn(_Body):
    artifact_id: str
    name: str
    digest: str
    run_id: str
    task_id: str | None
    serializer: str
    depth: int
    producer_step: str | None = None


class VersionCreateIn(_Body):
    package_digest: str
    package_size: int
    flavor: str
    created_by: str
    created_at: datetime
    run_id: str | None = None
    task_id: str | None = None
    artifact_id: str | None = None
    artifact_name: str | None = None
    signature: dict[str, Any] = Field(default_factory=dict)
    description: str = ""
    tags: dict[str, str] = Field(default_factory=dict)
    unsafe: bool = False
    lineage: list[LineageRecordIn] = Field(default_factory=list)
    project: str | None = None  # the model's project when this version creates it (else ignored)


class ApprovalIn(_Body):
    approved: bool
    user: str | None = None
    at: datetime


class AliasIn(_Body):
    version: int
    user: str | None = None
    at: datetime


class AliasChangeIn(_Body):
    user: str | None = None
    at: datetime


class ProtectIn(_Body):
    protected: bool
    user: str | None = None
    at: datetime


# ---- tokens and users -------------------------------------------------------------------------------
class TokenCreateIn(_Body):
    name: str = "token"
    expires_in_s: int | None = Field(
        default=None, gt=0, le=10 * 366 * 86400, description="Lifetime in seconds; none: no expiry."
    )
    user: str | None = Field(default=None, description="token:manage only: mint a token for another user.")
    scope: str | None = Field(
        default=None, description="Narrow the token to '*', 'project:P' or 'project:P/env:E'."
    )
    permissions: list[str] | None = Field(
        default=None,
        max_length=64,
        description="Narrow the token to these permissions (a subset of its holder's).",
    )


class UserCreateIn(_Body):
    name: str
    role: str | None = Field(
        default="developer", description="A role bound at the server scope ('*'); null: none (bind later)."
    )
    kind: str = Field(
        default="user", pattern="^(user|service)$", description="'service' for a service account."
    )
    description: str = Field(default="", max_length=2000)


class UserUpdateIn(_Body):
    disabled: bool


class GroupCreateIn(_Body):
    name: str
    description: str = Field(default="", max_length=2000)


class ProjectCreateIn(_Body):
    name: str = Field(
        description="Lower-case letters, digits, '-' and '_'; runs go to namespace project:NAME."
    )
    private: bool = Field(default=False, description="Hide its runs from principals not bound to it.")
    description: str = Field(default="", max_length=2000)


class ProjectUpdateIn(_Body):
    private: bool


class RoleCreateIn(_Body):
    name: str
    permissions: list[str] = Field(min_length=1, max_length=64)
    description: str = Field(default="", max_length=2000)


class BindingCreateIn(_Body):
    principal: str
    principal_kind: str = Field(default="user", pattern="^(user|group)$")
    role: str
    scope: str = "*"


# ---- monitoring records (shipyard/server/routers/monitoring.py) ---------------------------------------
class ProfileIn(_Body):
    digest: str
    rows: int = Field(ge=0)
    at: datetime


class ImportanceIn(_Body):
    importance: dict[str, Any]


class MonitorIn(_Body):
    deployment: str
    spec: dict[str, Any]
    at: datetime


class FeatureViewIn(_Body):
    spec: dict[str, Any]
    project: str | None = None


class ResultsIn(_Body):
    rows: list[dict[str, Any]] = Field(max_length=100_000)


class AlertCreateIn(_Body):
    monitor: str
    key: str
    at: datetime
    value: Any = None  # a number, {"$float": ...} or null
    message: str


class AlertUpdateIn(_Body):
    last_seen_at: datetime | None = None
    value: Any = None
    resolved_at: datetime | None = None
    delivery: str | None = None


class PasswordSetIn(_Body):
    password: str | None = Field(
        max_length=1024, description="The new password (at least 12 characters); null removes it."
    )
    current_password: str | None = Field(
        default=None, max_length=1024, description="Your current password, when you change your own."
    )


class DatasetVersionIn(_Body):
    """A dataset version; ``files`` are rows ``[path, sha256, size, rows, pack, offset]`` (the last
    three may be null; ``pack``/``offset`` locate a small file inside a pack blob)."""

    kind: str
    source_format: str
    files: list[tuple[str, str, int, int | None, str | None, int | None]]
    created_by: str | None = None
    created_at: datetime
    num_rows: int | None = None
    columns: list[dict[str, Any]] = Field(default_factory=list)
    stats: dict[str, dict[str, Any]] = Field(default_factory=dict)
    description: str = ""
    run_id: str | None = None
    task_id: str | None = None
    project: str | None = None  # the dataset's project when this version creates it


class DatasetAliasIn(_Body):
    version: int
    user: str | None = None
    at: datetime


class DatasetUseIn(_Body):
    run_id: str
    task_id: str | None = None
    direction: str
    at: datetime


class PolicyIn(_Body):
    name: str = Field(max_length=128)
    target_kind: str = Field(max_length=16)
    target: str = Field(max_length=250)
    subjects: list[str] = Field(max_length=1000)
    columns: dict[str, str] = Field(default_factory=dict, max_length=1000)
    row_filter: str | None = Field(default=None, max_length=10_000)
    description: str = Field(default="", max_length=10_000)
