"""Request bodies of the REST API (Pydantic), documented in the OpenAPI schema at ``/docs``.

Wire conventions (see :mod:`shipyard.metadata.rest.codec`): times are ISO 8601 strings with an
offset; a non-finite float is ``{"$float": "nan" | "inf" | "-inf"}``; responses carry the entities'
fields by name. Bodies that are not JSON or do not match these schemas answer 400 ``invalid_input``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from annotated_types import Interval
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    StrictBool,
    StringConstraints,
    WithJsonSchema,
)

from shipyard.core.entities import RunStatus, TaskStatus
from shipyard.metadata.base import LIST_PAGE_MAX
from shipyard.server import contract as c
from shipyard.server.contract import checked_json, iso_time_text

# ---- the bounds every field states, in bodies, paths and queries alike (server/contract.py);
# a value outside them answers 400 before a route runs ------------------------------------------------
_INTEGRAL = BeforeValidator(c.integral)  # last: it runs first (3.0 -> 3), the bounds stay in the schema
Int64 = Annotated[int, Strict(), Interval(ge=c.JSON_INT_MIN, le=c.JSON_INT_MAX), _INTEGRAL]
Count = Annotated[int, Strict(), Interval(ge=0, le=c.INT32_MAX), _INTEGRAL]  # attempts, depth: 32-bit columns
Size = Annotated[int, Strict(), Interval(ge=0, le=c.JSON_INT_MAX), _INTEGRAL]
Offset = Annotated[int, Interval(ge=0, le=c.JSON_INT_MAX)]
Limit = Annotated[int, Interval(ge=1, le=LIST_PAGE_MAX)]  # one page of a list (server/paging.py)
Version = Annotated[int, Interval(ge=1, le=c.INT32_MAX)]  # paths and queries: read from text
BodyVersion = Annotated[int, Strict(), Interval(ge=1, le=c.INT32_MAX), _INTEGRAL]
Id64 = Annotated[int, Interval(ge=1, le=c.JSON_INT_MAX)]  # alert and audit event ids
Key = Annotated[str, StringConstraints(min_length=1, max_length=c.NAME_MAX, pattern=c.KEY_PATTERN)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=c.NAME_MAX, pattern=c.NAME_PATTERN)]
NewName = Annotated[str, StringConstraints(min_length=1, max_length=c.NAME_MAX, pattern=c.NEW_NAME_PATTERN)]
Namespace = Annotated[
    str, StringConstraints(min_length=1, max_length=c.NAME_MAX, pattern=c.NAMESPACE_PATTERN)
]
BranchName = Annotated[str, StringConstraints(max_length=40, pattern=c.BRANCH_PATTERN)]
Alias = Annotated[str, StringConstraints(pattern=c.ALIAS_PATTERN)]
ProjectName = Annotated[str, StringConstraints(pattern=c.PROJECT_PATTERN)]
_NAME = c.PROJECT_PATTERN.strip("^$")
#: a keyset cursor over environments: ``PROJECT/ENVIRONMENT`` (the last row of the previous page)
EnvCursor = Annotated[str, StringConstraints(pattern=f"^{_NAME}/{_NAME}$")]
RoleName = Annotated[str, StringConstraints(pattern=c.ROLE_PATTERN)]
SecretName = Annotated[str, StringConstraints(pattern=c.SECRET_NAME_PATTERN)]
MonitorName = Annotated[str, StringConstraints(pattern=c.MONITOR_PATTERN)]
Digest = Annotated[str, StringConstraints(pattern=c.DIGEST_PATTERN)]
ContentDigest = Annotated[str, StringConstraints(pattern=c.CONTENT_DIGEST_PATTERN)]
FeatureName = Annotated[str, StringConstraints(pattern=c.FEATURE_PATTERN)]
Scope = Annotated[str, StringConstraints(pattern=c.SCOPE_PATTERN)]
_KEY_NAMES = {"minLength": 1, "maxLength": c.NAME_MAX, "pattern": c.KEY_PATTERN}
Tags = Annotated[
    dict[Key, str],
    WithJsonSchema(
        {"type": "object", "propertyNames": _KEY_NAMES, "additionalProperties": {"type": "string"}}
    ),
]
# an ISO 8601 text with its UTC offset; a number (seconds since 1970?) or a naive time is refused
Time = Annotated[AwareDatetime, BeforeValidator(iso_time_text)]
# free-form JSON: refused when it holds an integer outside int64 or a non-finite float
FreeJson = Annotated[dict[str, Any], AfterValidator(checked_json)]
Params = Annotated[
    dict[Key, Any],
    AfterValidator(checked_json),
    WithJsonSchema({"type": "object", "propertyNames": _KEY_NAMES}),
]
WireFloat = Annotated[Any, AfterValidator(c.wire_float), WithJsonSchema(c.FLOAT_SCHEMA)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CodeVersionIn(_Body):
    git_commit: str | None = None
    git_dirty: StrictBool | None = None
    source_hash: str | None = None
    source_files: list[str] = Field(default_factory=list)


class RunCreateIn(_Body):
    id: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    name: NewName
    namespace: Namespace
    user: str
    start_time: Time
    params: Params = Field(default_factory=dict)
    tags: Tags = Field(default_factory=dict)
    flow_name: str | None = None
    flow_spec: FreeJson | None = None
    code_version: CodeVersionIn | None = None
    origin_run_id: str | None = None


class FinishIn(_Body):
    status: Literal[RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED]  # a terminal one
    end_time: Time
    error: str | None = None


class HeartbeatIn(_Body):
    # ignored: liveness is judged on the server's store clock only (older clients send their time)
    at: Time | None = None


class FailStaleIn(_Body):
    timeout_s: float = Field(gt=0, le=366 * 86400, description="seconds without a heartbeat")


class ParamsIn(_Body):
    params: Params


class MetricsIn(_Body):
    """Points as ``[key, value, step, timestamp_ms]`` rows (compact: thousands per call)."""

    metrics: list[tuple[Key, Annotated[Any, WithJsonSchema(c.METRIC_VALUE_SCHEMA)], Int64, Int64]]


class TagsIn(_Body):
    tags: Tags


class ArtifactIn(_Body):
    id: str
    run_id: str
    name: Key
    digest: Digest
    size: Size
    serializer: str
    created_at: Time
    task_id: str | None = None
    unsafe: StrictBool = False
    meta: FreeJson = Field(default_factory=dict)
    attempt: Count | None = None  # ignored: the store records the task's current attempt


class TaskIn(_Body):
    id: str
    run_id: str
    step: str
    key: str
    index: Count | None = None
    status: TaskStatus = TaskStatus.PENDING
    attempts: Count = 0
    started_at: Time | None = None
    ended_at: Time | None = None
    heartbeat_at: Time | None = None
    error: str | None = None
    cache_key: str | None = None
    reused_from: str | None = None
    node: str | None = None
    spec: FreeJson = Field(default_factory=dict)


class TasksIn(_Body):
    tasks: list[TaskIn]


class TaskUpdateIn(_Body):
    status: TaskStatus | None = None
    attempts: Count | None = None
    started_at: Time | None = None
    ended_at: Time | None = None
    heartbeat_at: Time | None = None
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
    name: NewName
    user: str | None = None
    at: Time
    description: str = ""
    tags: Tags = Field(default_factory=dict)
    project: ProjectName | None = (
        None  # None: the server scope; creating in a project needs model:write there
    )


class ModelUpdateIn(_Body):
    description: str
    at: Time


class ModelTagsIn(_Body):
    tags: Tags
    at: Time


class ModelRenameIn(_Body):
    new_name: NewName
    at: Time


class LineageRecordIn(_Body):
    artifact_id: str
    name: str
    digest: str
    run_id: str
    task_id: str | None
    serializer: str
    depth: Count
    producer_step: str | None = None


class VersionCreateIn(_Body):
    package_digest: Digest
    package_size: Size
    flavor: str
    created_by: str
    created_at: Time
    run_id: str | None = None
    task_id: str | None = None
    artifact_id: str | None = None
    artifact_name: str | None = None
    signature: FreeJson = Field(default_factory=dict)
    description: str = ""
    tags: Tags = Field(default_factory=dict)
    unsafe: StrictBool = False
    lineage: list[LineageRecordIn] = Field(default_factory=list)
    project: ProjectName | None = None  # the model's project when this version creates it (else ignored)


class ApprovalIn(_Body):
    approved: StrictBool
    user: str | None = None
    at: Time


class AliasIn(_Body):
    version: BodyVersion
    user: str | None = None
    at: Time


class AliasChangeIn(_Body):
    user: str | None = None
    at: Time


class ProtectIn(_Body):
    protected: StrictBool
    user: str | None = None
    at: Time


# ---- tokens and users -------------------------------------------------------------------------------
class TokenCreateIn(_Body):
    name: Name = "token"
    expires_in_s: int | None = Field(
        default=None, gt=0, le=10 * 366 * 86400, description="Lifetime in seconds; none: no expiry."
    )
    user: str | None = Field(default=None, description="token:manage only: mint a token for another user.")
    scope: Scope | None = Field(
        default=None, description="Narrow the token to '*', 'project:P' or 'project:P/env:E'."
    )
    permissions: list[str] | None = Field(
        default=None,
        max_length=64,
        description="Narrow the token to these permissions (a subset of its holder's).",
    )
    project: str | None = Field(
        default=None, max_length=63, description="A machine token's project (with environment and actions)."
    )
    environment: str | None = Field(
        default=None, max_length=63, description="A machine token's environment, e.g. staging."
    )
    actions: list[str] | None = Field(
        default=None,
        max_length=16,
        description="A machine token's actions at project/environment: run, plan, apply, promote, "
        "experiment, sync.",
    )


class OidcExchangeIn(_Body):
    token: str = Field(
        min_length=1, max_length=16_384, description="The CI job's OpenID Connect ID token (a signed JWT)."
    )
    rule: str | None = Field(
        default=None, max_length=63, description="Use this trust rule only (default: the first that matches)."
    )


class UserCreateIn(_Body):
    name: NewName
    role: str | None = Field(
        default="developer", description="A role bound at the server scope ('*'); null: none (bind later)."
    )
    kind: str = Field(
        default="user", pattern="^(user|service)$", description="'service' for a service account."
    )
    description: str = Field(default="", max_length=2000)


class UserUpdateIn(_Body):
    disabled: StrictBool


class GroupCreateIn(_Body):
    name: NewName
    description: str = Field(default="", max_length=2000)


class ProjectCreateIn(_Body):
    name: ProjectName = Field(
        description="Lower-case letters, digits, '-' and '_'; runs go to namespace project:NAME."
    )
    private: StrictBool = Field(default=False, description="Hide its runs from principals not bound to it.")
    description: str = Field(default="", max_length=2000)


class ProjectUpdateIn(_Body):
    private: StrictBool


class RoleCreateIn(_Body):
    name: RoleName
    permissions: list[str] = Field(min_length=1, max_length=64)
    description: str = Field(default="", max_length=2000)


class BindingCreateIn(_Body):
    principal: Name
    principal_kind: str = Field(default="user", pattern="^(user|group)$")
    role: str
    scope: Scope = "*"


# ---- monitoring records (shipyard/server/routers/monitoring.py) ---------------------------------------
class ProfileIn(_Body):
    digest: Digest
    rows: Size
    at: Time


class ImportanceIn(_Body):
    importance: FreeJson


class MonitorIn(_Body):
    deployment: Name
    spec: FreeJson
    at: Time


class FeatureViewIn(_Body):
    spec: FreeJson
    project: ProjectName | None = None


class ResultsIn(_Body):
    rows: list[FreeJson] = Field(max_length=100_000)


class AlertCreateIn(_Body):
    monitor: str
    key: str
    at: Time
    value: WireFloat = None  # a number, {"$float": ...} or null
    message: str


class AlertUpdateIn(_Body):
    last_seen_at: Time | None = None
    value: WireFloat = None
    resolved_at: Time | None = None
    delivery: str | None = None


class PasswordSetIn(_Body):
    password: str | None = Field(
        min_length=12,
        max_length=1024,
        description="The new password (at least 12 characters); null removes it.",
    )
    current_password: str | None = Field(
        default=None, max_length=1024, description="Your current password, when you change your own."
    )


_FilePath = Annotated[str, StringConstraints(min_length=1, max_length=1024)]
_FileRow = tuple[_FilePath, ContentDigest, Size, Size | None, ContentDigest | None, Size | None]
#: a large Parquet file stored as row-group-aligned chunks: the row adds [[chunk digest, size]...]
_ChunkedFileRow = tuple[
    _FilePath,
    ContentDigest,
    Size,
    Size | None,
    None,
    None,
    Annotated[list[tuple[ContentDigest, Size]], Field(min_length=1, max_length=1_000_000)],
]


class DatasetVersionIn(_Body):
    """A dataset version; ``files`` are rows ``[path, digest, size, rows, pack, offset]`` (the last
    three may be null; ``pack``/``offset`` locate a small file inside a pack blob), and a chunked
    file's row adds its chunks ``[[digest, size]...]``."""

    kind: Literal["table", "files"]
    source_format: Annotated[str, StringConstraints(min_length=1, max_length=32)]
    files: list[_FileRow | _ChunkedFileRow] = Field(max_length=1_000_000)
    created_by: str | None = None
    created_at: Time
    num_rows: Size | None = None
    columns: list[FreeJson] = Field(default_factory=list)
    stats: dict[str, FreeJson] = Field(default_factory=dict)
    description: str = ""
    run_id: str | None = None
    task_id: str | None = None
    project: ProjectName | None = None  # the dataset's project when this version creates it


class DatasetAliasIn(_Body):
    version: BodyVersion
    user: str | None = None
    at: Time


class DatasetUseIn(_Body):
    run_id: str
    task_id: str | None = None
    direction: Literal["input", "output"]
    at: Time


class PolicyIn(_Body):
    """A data policy (``core/data_policies.check_policy`` is the same rule, with its messages):
    column rules, a row filter, or both."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "anyOf": [{"required": ["columns"], "properties": {"columns": {"minProperties": 1}}},
                      {"required": ["row_filter"], "properties": {"row_filter": {"type": "string"}}}]
        },
    )  # fmt: skip

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.\-]{0,127}$")
    target_kind: Literal["dataset", "feature_view"]
    target: str = Field(min_length=1, max_length=250)
    subjects: list[
        Annotated[
            str, StringConstraints(pattern=r"^(user|group|role|token):[A-Za-z0-9][A-Za-z0-9_.@\-]{0,249}$")
        ]
    ] = Field(min_length=1, max_length=1000)
    columns: dict[
        Annotated[str, StringConstraints(min_length=1, max_length=250)],
        Literal["allow", "mask:partial", "mask:redact", "mask:hash", "hide"],
    ] = Field(default_factory=dict, max_length=1000)
    row_filter: str | None = Field(default=None, min_length=1, max_length=10_000)
    description: str = Field(default="", max_length=10_000)


# ---- delivery state (shipyard/server/routers/deploy.py) ------------------------------------------------
DeployKind = Literal["environment", "service", "batch", "flow", "monitor", "experiment"]  # delivery.KINDS
DeployName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9\-]{0,62}$")]
LockOwner = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:@\-]{1,200}$")]
MAX_RELEASE_OBJECTS = 1000  # objects one release request writes or restores (a body stays well bounded)


class DeployObjectIn(_Body):
    kind: DeployKind
    name: DeployName
    spec: FreeJson
    model_version: Annotated[str, StringConstraints(max_length=600)] | None = None


class DeployRemoveIn(_Body):
    kind: DeployKind
    name: DeployName


class DeployLockIn(_Body):
    owner: LockOwner
    ttl_s: Annotated[float, Interval(gt=0, le=3600)] = 120.0


class ReleaseBeginIn(_Body):
    owner: LockOwner
    spec_hash: Digest
    plan: FreeJson
    commit: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{7,64}$")] | None = None
    author: Annotated[str, StringConstraints(max_length=250)] | None = None
    kind: Literal["apply", "rollback"] = "apply"
    restores: BodyVersion | None = None
    put: list[DeployObjectIn] = Field(default_factory=list, max_length=MAX_RELEASE_OBJECTS)
    remove: list[DeployRemoveIn] = Field(default_factory=list, max_length=MAX_RELEASE_OBJECTS)


class ReleaseFinishIn(_Body):
    owner: LockOwner
    outcome: Literal["applied", "failed"]
    error: Annotated[str, StringConstraints(max_length=4000)] | None = None
    put: list[DeployObjectIn] = Field(default_factory=list, max_length=MAX_RELEASE_OBJECTS)
    remove: list[DeployRemoveIn] = Field(default_factory=list, max_length=MAX_RELEASE_OBJECTS)


# ---- sync status (shipyard sync; shipyard/server/routers/deploy.py) --------------------------------------
GitRevision = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{7,64}$")]


class SyncDriftIn(_Body):
    action: Literal["create", "update", "delete"]
    kind: DeployKind
    name: DeployName


class PromotionEvaluateIn(_Body):
    """What ``POST /deploy/{project}/{environment}/promotions/evaluate`` judges: promoting
    ``challenger`` into the environment's service ``service``. The prediction log is the server's
    own; no path is taken from the client."""

    service: Name
    challenger: Annotated[
        str,
        StringConstraints(min_length=1, max_length=2 * c.NAME_MAX, pattern=r"^[A-Za-z0-9_.:/@+-]+$"),
        Field(description="models:/NAME/VERSION, a deployment or the experiment's name"),
    ]


class SyncReportIn(_Body):
    status: Literal["synced", "out-of-sync", "degraded", "unknown"]
    reason: Annotated[str, StringConstraints(max_length=4000)] | None = None
    repo: Annotated[str, StringConstraints(max_length=600)] | None = None
    branch: Annotated[str, StringConstraints(max_length=250)] | None = None
    revision: GitRevision | None = None
    synced_revision: GitRevision | None = None
    release: BodyVersion | None = None
    running_commit: GitRevision | None = None
    drift: list[SyncDriftIn] = Field(default_factory=list, max_length=200)
    drifted: Count = 0
