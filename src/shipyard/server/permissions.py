"""Authorization as data: every route (method + path template) maps to the :class:`Rule` it needs.

A rule names a permission from the catalog (:data:`shipyard.security.policy.PERMISSIONS`), or
``public`` (no token) or ``authenticated`` (any valid token: who am I, one's own tokens). A rule
with a ``resource`` also says which object of the path the request acts on; the guard then checks
the permission *at the object's scope* and the ownership rules (:mod:`shipyard.server.access`).

A route that is not in the table is refused (deny by default); ``tests/server/test_routes_auth.py``
enumerates ``app.routes`` and fails when one is missing. Keep the ``public`` list short.
"""

from __future__ import annotations

from dataclasses import dataclass

RouteKey = tuple[str, str]  # (HTTP method, path template as FastAPI declares it)
PUBLIC = "public"  # no token at all
AUTHENTICATED = "authenticated"  # any valid token


@dataclass(frozen=True)
class Rule:
    permission: str
    # "run" | "task" | "artifact" | "model" | "version" | "alias" | "profile" | "secret" | "dataset"
    # | "environment" | "branch"
    resource: str | None = None


API = "/api/v1"
_M = f"{API}/models/{{name}}"
_V = f"{_M}/versions/{{version}}"
_MP = f"{API}/monitoring/profiles/{{model}}/{{version}}"
_RUN = f"{API}/runs/{{run_id}}"
_SECRET = f"{API}/secrets/{{project}}/{{environment}}/{{name}}"
_D = f"{API}/datasets/{{name}}"
_ENV = f"{API}/deploy/{{project}}/{{environment}}"
_DV = f"{_D}/versions/{{version}}"


def _r(permission: str, resource: str | None = None) -> Rule:
    return Rule(permission, resource)


_RR, _RW = _r("run:read"), _r("run:write")
_RUN_R, _TASK_R, _ART_R = _r("run:read", "run"), _r("run:read", "task"), _r("run:read", "artifact")
_RUN_W = _r("run:write", "run")
_MR = _r("model:read")
# a private project's model answers 404 to outsiders on every route that names it, reads included
_MR_M, _MR_V = _r("model:read", "model"), _r("model:read", "version")
_MONR, _MONW = _r("monitor:read"), _r("monitor:write")

_TABLE: dict[RouteKey, Rule] = {
    ("GET", "/health"): _r(PUBLIC),
    # the OpenAPI schema and its viewer describe the API: they need a token like the API
    ("GET", "/openapi.json"): _r(AUTHENTICATED),
    ("GET", "/docs"): _r(AUTHENTICATED),
    ("GET", "/docs/oauth2-redirect"): _r(AUTHENTICATED),
    # runs (creating one checks the namespace in the route: see access.check_namespace)
    ("POST", f"{API}/runs"): _RW,
    ("GET", f"{API}/runs"): _RR,
    ("GET", f"{API}/runs-count"): _RR,
    ("GET", f"{API}/run-ids"): _RR,
    ("POST", f"{API}/runs-fail-stale"): _r("run:write:any"),
    ("GET", _RUN): _RUN_R,
    ("POST", f"{_RUN}/finish"): _RUN_W,
    ("POST", f"{_RUN}/heartbeat"): _RUN_W,
    ("DELETE", _RUN): _r("run:delete", "run"),
    # params, metrics, tags
    ("POST", f"{_RUN}/params"): _RUN_W,
    ("POST", f"{_RUN}/metrics"): _RUN_W,
    ("GET", f"{_RUN}/metric-history"): _RUN_R,
    ("POST", f"{_RUN}/tags"): _RUN_W,
    ("DELETE", f"{_RUN}/tags"): _RUN_W,
    # artifacts and their bytes (recording an artifact checks its run in the route)
    ("POST", f"{API}/artifacts"): _RW,
    ("GET", f"{API}/artifacts/{{artifact_id}}"): _ART_R,
    ("GET", f"{_RUN}/artifacts"): _RUN_R,
    ("GET", f"{_RUN}/artifact"): _RUN_R,
    ("PUT", f"{API}/blobs/sha256/{{digest}}"): _RW,  # content-addressed: no owner, bytes verified
    ("GET", f"{API}/blobs/sha256/{{digest}}"): _RR,
    ("HEAD", f"{API}/blobs/sha256/{{digest}}"): _RR,
    ("PUT", f"{API}/blobs/blake3/{{digest}}"): _RW,  # large dataset files' blobs, the same way
    ("GET", f"{API}/blobs/blake3/{{digest}}"): _RR,
    ("HEAD", f"{API}/blobs/blake3/{{digest}}"): _RR,
    # tasks and lineage (creating tasks and lineage checks their run in the route)
    ("POST", f"{API}/tasks"): _RW,
    ("GET", f"{API}/cached-task"): _RR,
    ("GET", f"{API}/tasks/{{task_id}}"): _TASK_R,
    ("PATCH", f"{API}/tasks/{{task_id}}"): _r("run:write", "task"),
    ("GET", f"{_RUN}/tasks"): _RUN_R,
    ("POST", f"{API}/lineage"): _RW,
    ("GET", f"{API}/tasks/{{task_id}}/inputs"): _TASK_R,
    ("GET", f"{API}/tasks/{{task_id}}/attempts"): _TASK_R,
    ("GET", f"{API}/artifacts/{{artifact_id}}/consumers"): _ART_R,
    # model registry
    # creating a model (or a first version) in a project checks model:write there in the route
    ("POST", f"{API}/models"): _r("model:write"),
    ("GET", f"{API}/models"): _MR,
    ("GET", f"{API}/model-versions"): _MR,
    ("GET", f"{_RUN}/model-versions"): _r("model:read", "run"),
    ("GET", _M): _MR_M,
    ("PATCH", _M): _r("model:write", "model"),
    ("POST", f"{_M}/tags"): _r("model:write", "model"),
    ("DELETE", f"{_M}/tags"): _r("model:write", "model"),
    # the new name needs model:write where it will live too (checked in the route)
    ("POST", f"{_M}/rename"): _r("model:write", "model"),
    ("DELETE", _M): _r("model:delete", "model"),
    # anyone with model:write at the model's scope registers versions (checked in the route)
    ("POST", f"{_M}/versions"): _r("model:write"),
    ("GET", f"{_M}/versions"): _MR_M,
    ("GET", _V): _MR_V,
    ("DELETE", _V): _r("model:delete", "version"),
    ("POST", f"{_V}/tags"): _r("model:write", "version"),
    ("DELETE", f"{_V}/tags"): _r("model:write", "version"),
    ("POST", f"{_V}/approval"): _r("model:approve", "version"),  # never one's own version
    ("GET", f"{_V}/lineage"): _MR_V,
    ("PUT", f"{_M}/aliases/{{alias}}"): _r("alias:set", "alias"),
    ("POST", f"{_M}/aliases/{{alias}}/delete"): _r("alias:set", "alias"),
    ("POST", f"{_M}/aliases/{{alias}}/protection"): _r("alias:protect", "model"),
    ("GET", f"{_M}/aliases/{{alias}}"): _MR_M,
    ("GET", f"{_M}/alias-history"): _MR_M,
    # feature views: data:write / data:read at the view's project, checked in the route
    ("POST", f"{API}/features/views/{{name}}"): _r("data:write"),
    ("GET", f"{API}/features/views/{{name}}"): _r("data:read"),
    ("GET", f"{API}/features/views/{{name}}/versions"): _r("data:read"),
    ("GET", f"{API}/features/views/{{name}}/access"): _r("data:read"),
    ("GET", f"{API}/features/views"): _r("data:read"),
    # datasets: a private project's dataset answers 404 to outsiders on every route that names it;
    # a new version checks data:write at the dataset's scope in the route, recording a use also
    # run:write on the run (in the route)
    ("GET", f"{API}/datasets"): _r("data:read"),
    ("GET", _D): _r("data:read", "dataset"),
    ("POST", f"{_D}/versions"): _r("data:write"),
    ("GET", f"{_D}/versions"): _r("data:read", "dataset"),
    ("GET", _DV): _r("data:read", "dataset"),
    ("DELETE", _DV): _r("data:write", "dataset"),
    ("GET", f"{_DV}/files"): _r("data:read", "dataset"),
    ("GET", f"{_DV}/uses"): _r("data:read", "dataset"),
    ("POST", f"{_DV}/uses"): _r("data:read", "dataset"),
    ("PUT", f"{_D}/aliases/{{alias}}"): _r("data:write", "dataset"),
    ("DELETE", f"{_D}/aliases/{{alias}}"): _r("data:write", "dataset"),
    ("GET", f"{_D}/aliases/{{alias}}"): _r("data:read", "dataset"),
    ("GET", f"{_RUN}/dataset-uses"): _r("data:read", "run"),
    # a version's rows and what the caller may see of them: the data policies applied in the route
    ("GET", f"{_DV}/access"): _r("data:read", "dataset"),
    ("GET", f"{_DV}/data"): _r("data:read", "dataset"),
    # data policies: admins only (whoever manages them can grant themselves any column)
    ("POST", f"{API}/policies"): _r("policy:manage"),
    ("GET", f"{API}/policies"): _r("policy:manage"),
    ("GET", f"{API}/policies/{{name}}"): _r("policy:manage"),
    ("DELETE", f"{API}/policies/{{name}}"): _r("policy:manage"),
    # monitoring records: reference profiles, monitors, results, alerts
    # a model's profile is decided at the model's scope (a private project's: 404 to outsiders)
    ("PUT", f"{_MP}"): _r("monitor:write", "profile"),
    ("GET", f"{_MP}"): _r("monitor:read", "profile"),
    ("PUT", f"{_MP}/importance"): _r("monitor:write", "profile"),
    ("PUT", f"{API}/monitoring/monitors/{{name}}"): _MONW,
    ("GET", f"{API}/monitoring/monitors/{{name}}"): _MONR,
    ("GET", f"{API}/monitoring/monitors"): _MONR,
    ("POST", f"{API}/monitoring/results"): _MONW,
    ("GET", f"{API}/monitoring/results"): _MONR,
    ("GET", f"{API}/monitoring/open-alert"): _MONR,
    ("POST", f"{API}/monitoring/alerts"): _MONW,
    ("PATCH", f"{API}/monitoring/alerts/{{alert_id}}"): _MONW,
    ("GET", f"{API}/monitoring/alerts"): _MONR,
    ("GET", f"{API}/monitoring/open-alert-counts"): _MONR,
    # the platform's own state: Prometheus scrapes /metrics with a token that has metrics:read
    # (platform-wide counts and flow/step names of every project: not part of any role but admin)
    ("GET", "/metrics"): _r("metrics:read"),
    ("GET", f"{API}/status-summary"): _RR,  # private projects the caller may not read left out
    # who am I, tokens (self-service: the routes check ownership)
    ("GET", f"{API}/whoami"): _r(AUTHENTICATED),
    ("POST", f"{API}/tokens"): _r("token:create"),
    ("GET", f"{API}/tokens"): _r(AUTHENTICATED),
    ("DELETE", f"{API}/tokens/{{token_id}}"): _r(AUTHENTICATED),
    # a CI job's OIDC ID token for a short-lived machine token: the ID token is the credential
    # (verified against the trust rules' issuers; every outcome audited by the route)
    ("POST", f"{API}/auth/oidc/exchange"): _r(PUBLIC),
    # principals, roles, bindings, audit
    ("POST", f"{API}/users"): _r("user:manage"),
    ("GET", f"{API}/users"): _r("user:manage"),
    ("PATCH", f"{API}/users/{{name}}"): _r("user:manage"),
    # anyone's with user:manage; one's own with the current password (checked in the route)
    ("PUT", f"{API}/users/{{name}}/password"): _r(AUTHENTICATED),
    ("POST", f"{API}/groups"): _r("user:manage"),
    ("GET", f"{API}/groups"): _r("user:manage"),
    ("DELETE", f"{API}/groups/{{name}}"): _r("user:manage"),
    ("PUT", f"{API}/groups/{{name}}/members/{{member}}"): _r("user:manage"),
    ("DELETE", f"{API}/groups/{{name}}/members/{{member}}"): _r("user:manage"),
    ("GET", f"{API}/roles"): _r(AUTHENTICATED),
    ("POST", f"{API}/roles"): _r("user:manage"),
    ("DELETE", f"{API}/roles/{{name}}"): _r("user:manage"),
    ("GET", f"{API}/bindings"): _r("user:manage"),
    ("POST", f"{API}/bindings"): _r("user:manage"),
    ("DELETE", f"{API}/bindings/{{binding_id}}"): _r("user:manage"),
    ("POST", f"{API}/projects"): _r("user:manage"),
    ("GET", f"{API}/projects"): _r(AUTHENTICATED),
    ("PATCH", f"{API}/projects/{{name}}"): _r("user:manage"),
    ("GET", f"{API}/audit"): _r("audit:read"),
    ("GET", f"{API}/audit/verify"): _r("audit:read"),
    # secrets: checked at project:{project}/env:{environment} (see access.check_secret); reading a
    # value is audited by its route, listing shows metadata only
    ("PUT", _SECRET): _r("secret:write", "secret"),
    ("GET", _SECRET): _r("secret:read", "secret"),
    ("DELETE", _SECRET): _r("secret:write", "secret"),
    ("GET", f"{API}/secrets/{{project}}/{{environment}}"): _r("secret:read", "secret"),
    # delivery state: decided at project:{project}/env:{environment} (access.check_environment);
    # deploy:plan reads the state and what a plan asks (who applies, which secret names exist)
    ("GET", f"{API}/deploy/environments"): _r("deploy:plan"),  # those the caller may plan, only
    ("GET", f"{_ENV}/objects"): _r("deploy:plan", "environment"),
    ("GET", f"{_ENV}/releases"): _r("deploy:plan", "environment"),
    ("GET", f"{_ENV}/releases/{{number}}"): _r("deploy:plan", "environment"),
    ("GET", f"{_ENV}/lock"): _r("deploy:plan", "environment"),
    ("GET", f"{_ENV}/applier"): _r("deploy:plan", "environment"),
    ("GET", f"{_ENV}/roles/{{principal}}"): _r("deploy:plan", "environment"),
    ("GET", f"{_ENV}/secret-names"): _r("deploy:plan", "environment"),
    ("POST", f"{_ENV}/lock"): _r("deploy:apply", "environment"),
    ("DELETE", f"{_ENV}/lock"): _r("deploy:apply", "environment"),
    ("POST", f"{_ENV}/releases"): _r("deploy:apply", "environment"),
    ("POST", f"{_ENV}/releases/{{number}}/finish"): _r("deploy:apply", "environment"),
    # judging a promotion's gates: what promoting needs (the promote action grants it)
    ("POST", f"{_ENV}/promotions/evaluate"): _r("deploy:apply", "environment"),
    # an experiment's analysis over the server's prediction log: what reading the experiment (an
    # object of the environment's state) needs
    ("GET", f"{_ENV}/experiments/{{name}}/analysis"): _r("deploy:plan", "environment"),
    # branches: listed by whoever reads runs; recorded (run:write) and deleted (run:delete) at the
    # branch's scope project:P/branch:B (deleting marks it; the client removes its objects' ways)
    ("GET", f"{API}/branches"): _RR,
    ("GET", f"{API}/branches/{{project}}/{{branch}}"): _r("run:read", "branch"),
    ("PUT", f"{API}/branches/{{project}}/{{branch}}"): _r("run:write", "branch"),
    ("DELETE", f"{API}/branches/{{project}}/{{branch}}"): _r("run:delete", "branch"),
    # sync status: read with deploy:plan, written by the sync loop (an applier); the webhook that
    # wakes the loop needs deploy:sync only, so a token given to a git host can do nothing else
    ("GET", f"{API}/deploy/sync"): _r("deploy:plan"),  # those the caller may plan, only
    ("GET", f"{_ENV}/sync"): _r("deploy:plan", "environment"),
    ("PUT", f"{_ENV}/sync"): _r("deploy:apply", "environment"),
    ("POST", f"{_ENV}/sync/hook"): _r("deploy:sync", "environment"),
}


# MLflow's REST API (server/mlflow/), under /api/2.0 and /ajax-api/2.0 alike. Runs and experiments
# are named in query strings and bodies, so the routes check the object (server/mlflow/common.py:
# ownership and private projects through server/access.py); creating a run or changing an
# experiment also checks run:write at the experiment's namespace (access.check_namespace).
MLFLOW_RULES: dict[RouteKey, Rule] = {
    ("POST", "/mlflow/experiments/create"): _RW,
    ("GET", "/mlflow/experiments/get"): _RR,
    ("GET", "/mlflow/experiments/get-by-name"): _RR,
    ("POST", "/mlflow/experiments/search"): _RR,
    ("POST", "/mlflow/experiments/update"): _RW,
    ("POST", "/mlflow/experiments/delete"): _RW,
    ("POST", "/mlflow/experiments/restore"): _RW,
    ("POST", "/mlflow/experiments/set-experiment-tag"): _RW,
    ("POST", "/mlflow/experiments/delete-experiment-tag"): _RW,
    ("POST", "/mlflow/runs/create"): _RW,
    ("GET", "/mlflow/runs/get"): _RR,
    ("POST", "/mlflow/runs/update"): _RW,
    ("POST", "/mlflow/runs/delete"): _r("run:delete"),
    ("POST", "/mlflow/runs/restore"): _r("run:delete"),
    ("POST", "/mlflow/runs/search"): _RR,
    ("POST", "/mlflow/runs/log-metric"): _RW,
    ("POST", "/mlflow/runs/log-parameter"): _RW,
    ("POST", "/mlflow/runs/set-tag"): _RW,
    ("POST", "/mlflow/runs/delete-tag"): _RW,
    ("POST", "/mlflow/runs/log-batch"): _RW,
    ("POST", "/mlflow/runs/log-inputs"): _RW,
    ("POST", "/mlflow/runs/log-model"): _RW,
    ("POST", "/mlflow/runs/outputs"): _RW,
    ("GET", "/mlflow/metrics/get-history"): _RR,
    ("GET", "/mlflow/metrics/get-history-bulk-interval"): _RR,
    ("GET", "/mlflow/artifacts/list"): _RR,
    # MLflow 3's logged models: their files are their source run's artifacts (checked in the route)
    ("POST", "/mlflow/logged-models"): _RW,
    ("POST", "/mlflow/logged-models/search"): _RR,
    ("GET", "/mlflow/logged-models/{model_id}"): _RR,
    ("PATCH", "/mlflow/logged-models/{model_id}"): _RW,
    ("PATCH", "/mlflow/logged-models/{model_id}/tags"): _RW,
    ("DELETE", "/mlflow/logged-models/{model_id}/tags/{tag_key}"): _RW,
    ("POST", "/mlflow/logged-models/{model_id}/params"): _RW,
    # the model registry: names come in bodies and query strings, so the routes make the
    # per-object decisions of the native routes (access.check_model/_version/_alias/_new_version)
    ("POST", "/mlflow/registered-models/create"): _r("model:write"),
    ("GET", "/mlflow/registered-models/get"): _MR,
    ("POST", "/mlflow/registered-models/rename"): _r("model:write"),
    ("PATCH", "/mlflow/registered-models/update"): _r("model:write"),
    ("DELETE", "/mlflow/registered-models/delete"): _r("model:delete"),
    ("GET", "/mlflow/registered-models/search"): _MR,
    ("POST", "/mlflow/registered-models/set-tag"): _r("model:write"),
    ("DELETE", "/mlflow/registered-models/delete-tag"): _r("model:write"),
    ("POST", "/mlflow/registered-models/alias"): _r("alias:set"),
    ("DELETE", "/mlflow/registered-models/alias"): _r("alias:set"),
    ("GET", "/mlflow/registered-models/alias"): _MR,
    ("POST", "/mlflow/registered-models/get-latest-versions"): _MR,
    ("POST", "/mlflow/model-versions/create"): _r("model:write"),
    ("GET", "/mlflow/model-versions/get"): _MR,
    ("DELETE", "/mlflow/model-versions/delete"): _r("model:delete"),
    ("GET", "/mlflow/model-versions/search"): _MR,
    ("POST", "/mlflow/model-versions/set-tag"): _r("model:write"),
    ("DELETE", "/mlflow/model-versions/delete-tag"): _r("model:write"),
    ("POST", "/mlflow/model-versions/transition-stage"): _r("alias:set"),
    ("GET", "/mlflow/model-versions/get-download-uri"): _MR,
    # the artifact proxy: the run is the path's second segment (checked in the route)
    ("GET", "/mlflow-artifacts/artifacts"): _RR,
    ("GET", "/mlflow-artifacts/artifacts/{artifact_path:path}"): _RR,
    ("PUT", "/mlflow-artifacts/artifacts/{artifact_path:path}"): _RW,
}
MLFLOW_PREFIXES = ("/api/2.0", "/ajax-api/2.0")
#: POST routes that only read (MLflow sends its searches as POSTs): not audited, like the GET reads
QUERY_POSTS = frozenset(
    prefix + path
    for prefix in MLFLOW_PREFIXES
    for path in (
        "/mlflow/experiments/search",
        "/mlflow/runs/search",
        "/mlflow/logged-models/search",
        "/mlflow/registered-models/get-latest-versions",
    )
)


def api_permissions() -> dict[RouteKey, Rule]:
    """The table for the REST API (a copy: the app adds the UI's entries to its own)."""
    table = dict(_TABLE)
    for prefix in MLFLOW_PREFIXES:
        table.update({(method, prefix + path): rule for (method, path), rule in MLFLOW_RULES.items()})
    return table


def required_rule(table: dict[RouteKey, Rule], method: str, path: str) -> Rule | None:
    found = table.get((method, path))
    if found is None and method == "HEAD":
        found = table.get(("GET", path))
    return found
