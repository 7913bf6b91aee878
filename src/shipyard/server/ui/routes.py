"""The web UI's router: every page, built per app (the Jinja environment lives in its closures)."""

from __future__ import annotations

from fastapi import APIRouter

from shipyard.server.permissions import PUBLIC, Rule
from shipyard.server.ui.artifact_pages import add_artifact_routes
from shipyard.server.ui.audit_pages import add_audit_routes
from shipyard.server.ui.card_pages import PERMISSIONS as CARD_PERMISSIONS
from shipyard.server.ui.card_pages import add_card_routes
from shipyard.server.ui.common import ROOT, STATIC
from shipyard.server.ui.dataset_pages import add_dataset_routes
from shipyard.server.ui.deploy_pages import PERMISSIONS as DEPLOY_PERMISSIONS
from shipyard.server.ui.deploy_pages import add_deploy_routes
from shipyard.server.ui.experiment_pages import PERMISSIONS as EXPERIMENT_PERMISSIONS
from shipyard.server.ui.experiment_pages import add_experiment_routes
from shipyard.server.ui.feature_pages import PERMISSIONS as FEATURE_PERMISSIONS
from shipyard.server.ui.feature_pages import add_feature_routes
from shipyard.server.ui.login import add_login_routes
from shipyard.server.ui.model_pages import add_model_routes
from shipyard.server.ui.monitoring_pages import PERMISSIONS as MONITORING_PERMISSIONS
from shipyard.server.ui.monitoring_pages import add_monitoring_routes
from shipyard.server.ui.oidc import add_oidc_routes
from shipyard.server.ui.runs_pages import add_run_routes
from shipyard.server.ui.session import add_session_routes
from shipyard.server.ui.templating import Pages

_R, _P, _M = Rule("run:read"), Rule(PUBLIC), Rule("model:read")
_RUN = Rule("run:read", "run")
_MODEL, _VERSION = Rule("model:read", "model"), Rule("model:read", "version")

#: the UI's rows of the server's permission table (merged by ``create_app``)
PERMISSIONS: dict[tuple[str, str], Rule] = {
    ("GET", "/"): _P,  # a browser is redirected to the UI; an API client gets a JSON index of paths
    ("GET", ROOT): _P,  # redirects to the login page or the runs list
    ("GET", f"{ROOT}/login"): _P,
    ("POST", f"{ROOT}/login"): _P,  # checks the token itself before setting the cookie
    ("POST", f"{ROOT}/login/password"): _P,  # same-origin only; checks the password itself (throttled)
    ("GET", f"{ROOT}/login/sso"): _P,  # starts single sign-on (a redirect to the issuer)
    ("GET", f"{ROOT}/login/sso/callback"): _P,  # verifies state, PKCE and the ID token itself
    ("POST", f"{ROOT}/logout"): _P,  # same-origin only; clears the cookie, revokes a UI session token
    ("GET", f"{STATIC}/{{path:path}}"): _P,  # CSS/JS of the login page; nothing secret
    ("GET", f"{ROOT}/runs"): _R,
    ("GET", f"{ROOT}/runs/{{run_id}}"): _RUN,
    ("GET", f"{ROOT}/runs/{{run_id}}/tasks/{{task_id}}/logs"): _RUN,
    ("GET", f"{ROOT}/runs/{{run_id}}/artifacts/{{artifact_id}}"): _RUN,
    ("GET", f"{ROOT}/runs/{{run_id}}/artifacts/{{artifact_id}}/image"): _RUN,
    ("GET", f"{ROOT}/runs/{{run_id}}/artifacts/{{artifact_id}}/download"): _RUN,
    ("GET", f"{ROOT}/compare"): _R,
    ("GET", f"{ROOT}/models"): _M,
    ("GET", f"{ROOT}/models/{{name}}"): _MODEL,  # a private project's model: 404 to outsiders
    ("GET", f"{ROOT}/models/{{name}}/versions/{{version}}"): _VERSION,
    ("GET", f"{ROOT}/datasets"): Rule("data:read"),
    ("GET", f"{ROOT}/datasets/{{name}}"): Rule("data:read", "dataset"),  # a private project's: 404
    ("GET", f"{ROOT}/audit"): Rule("audit:read"),
    **CARD_PERMISSIONS,
    **MONITORING_PERMISSIONS,
    **FEATURE_PERMISSIONS,
    **DEPLOY_PERMISSIONS,
    **EXPERIMENT_PERMISSIONS,
}


def build_router() -> APIRouter:
    router = APIRouter(include_in_schema=False)
    pages = Pages()
    add_session_routes(router, pages)
    add_login_routes(router)
    add_oidc_routes(router, pages)
    add_run_routes(router, pages)
    add_card_routes(router, pages)
    add_artifact_routes(router, pages)
    add_model_routes(router, pages)
    add_dataset_routes(router, pages)
    add_monitoring_routes(router, pages)
    add_feature_routes(router, pages)
    add_deploy_routes(router, pages)
    add_experiment_routes(router, pages)
    add_audit_routes(router, pages)
    return router
