"""Every route (REST and UI) x every built-in role x an object of one's own and of someone else:
the answer is a 403 exactly when the policy says no.

The guard decides before a request body is validated, so an empty body is enough to tell a
refusal (403) from an admitted request (any other answer: 2xx, 404, 422...). Roles are walked from
the weakest to the strongest so a destructive route a stronger role may use cannot remove an
object before a weaker role's refusal is checked.
"""

from __future__ import annotations

import re

import httpx

from shipyard.security.policy import BUILTIN_ROLES, SERVER_SCOPE, Access, Grant, may_change
from shipyard.server.permissions import AUTHENTICATED, PUBLIC, Rule
from tests.server.access_helpers import NOW, client_for, make_user, model_of, run_of, task_of
from tests.server.live import LiveServer

ROLES = ["viewer", "developer", "maintainer", "admin"]


def _expected_denied(role: str, rule: Rule, own: bool) -> bool:
    if rule.permission in (PUBLIC, AUTHENTICATED):
        return False
    user = "me"
    access = Access(user, (Grant(SERVER_SCOPE, BUILTIN_ROLES[role]),))
    if not access.can(rule.permission):
        return True
    if rule.resource is None:
        return False
    if rule.permission == "model:approve":
        return own  # four eyes
    owner = None if rule.resource == "branch" else (user if own else "owner")  # a branch has no owner
    return may_change(access, rule.permission, SERVER_SCOPE, owner) is not None


def _deletes_last(item: tuple[tuple[str, str], Rule]) -> tuple[bool, str, str]:
    (method, template), _ = item
    return method == "DELETE", template, method


def _path(template: str, values: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: values.get(m.group(1), "x"), template)


def test_every_route_every_role_own_and_other(server: LiveServer, admin: httpx.Client) -> None:
    owner_token = make_user(admin, "owner", "developer")
    tokens = {role: make_user(admin, f"u-{role}", role) for role in ROLES}
    objects: dict[tuple[str, bool], dict[str, str]] = {}
    with client_for(server, owner_token) as owner:
        for role in ROLES:
            other_model = model_of(owner, "owner", f"other-{role}")
            other_run = run_of(owner, "owner")
            task = task_of(owner, other_run)
            objects[(role, False)] = {"run_id": other_run, "name": other_model, "task_id": task}
    for role in ROLES:
        # an object of the role's own: made by an admin on the user's behalf (admins record as anyone)
        own_model = model_of(admin, f"u-{role}", f"own-{role}")
        own_run = run_of(admin, f"u-{role}")
        task = task_of(admin, own_run)
        objects[(role, True)] = {"run_id": own_run, "name": own_model, "task_id": task}
    table: dict[tuple[str, str], Rule] = server.app.state.permissions
    checked = 0
    for role in ROLES:
        with client_for(server, tokens[role]) as client:
            for own in (False, True):
                values = {**objects[(role, own)], "version": "1", "alias": "candidate", "digest": "0" * 64}
                for (method, template), rule in sorted(table.items(), key=_deletes_last):
                    if (rule.resource is None and own) or template.startswith(("/ui/login", "/ui/logout")):
                        continue  # nothing object-specific; login/logout refuse by their own CSRF rules
                    body = {} if method in ("POST", "PUT", "PATCH") else None
                    if template.endswith("/approval"):
                        body = {"approved": True, "at": NOW}
                    response = client.request(method, _path(template, values), json=body)
                    denied = response.status_code == 403
                    expected = _expected_denied(role, rule, own)
                    assert denied == expected, (
                        f"{role} {'own' if own else 'other'} {method} {template}: "
                        f"{response.status_code} {response.text[:200]}"
                    )
                    checked += 1
    assert checked > 4 * 100
