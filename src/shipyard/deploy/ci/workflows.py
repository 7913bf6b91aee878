"""``shipyard ci init github|gitlab``: the CI workflow that delivers a project through shipyard.

On a pull (merge) request: the flow's tests, a small run on dev, a plan of staging (commented on
the request), the branch deployed to staging next to the environment's own, and the A/B experiment
against production's service started (named after the branch; its challenger is the version the
branch's deployment serves: ``--from-branch``). On a merge to the main branch: apply to staging. Promotion to
production: a manual job through the environment's gates (``shipyard promote SERVICE --from
BRANCH``; the experiment gate reads the prediction log at ``$SHIPYARD_HOME/predictions`` on the
runner, or ``--log-dir``). Every step is a
plain ``shipyard`` command (plus the test runner and the CI's own comment call).

Authentication: on GitHub, each job exchanges the job's OIDC ID token for a short-lived machine
token (``shipyard ci login --rule R``, one trust rule per scope; :func:`github_trust_rules` writes
the rules for the server's ``--ci-trust`` file); on GitLab, masked CI variables hold machine tokens
(``SHIPYARD_TOKEN_DEV`` / ``_STAGING`` / ``_EXPERIMENT`` / ``_PRODUCTION``;
:func:`gitlab_token_commands` says how to make them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
PROVIDERS = ("github", "gitlab")


@dataclass(frozen=True)
class CiOptions:
    project: str
    # owner/name (GitHub) or group/name (GitLab): the OIDC subject's repository (the trust rules
    # name it; the workflow itself does not, so None writes the workflow alone)
    repo: str | None
    flow: str  # the flow file the small dev run runs
    # the production service the experiment runs against and promotion moves; None: the project
    # deploys no service (batch scoring, training only): no experiment, production is applied
    service: str | None
    main_branch: str = "main"
    audience: str = "shipyard"
    service_account: str = "ci"
    python: str = "3.12"
    install: str = "pip install shipyard pytest"


def _env(options: CiOptions) -> dict[str, str]:
    return {
        "SHIPYARD_USER": options.service_account,  # runs are recorded as the machine account
        "SHIPYARD_RUN_NAMESPACE": f"project:{options.project}",  # ... in the project's namespace
    }


def _login(options: CiOptions, rule: str) -> dict[str, Any]:
    return {
        "name": f"Sign in to shipyard ({rule})",
        "run": f"shipyard ci login --rule {rule} --audience {options.audience} --github-env",
    }


def github_rule_names(options: CiOptions) -> dict[str, str]:
    return {
        "pr-dev": f"{options.project}-pr-dev",
        "pr-staging": f"{options.project}-pr-staging",
        "pr-experiment": f"{options.project}-pr-experiment",
        "main-staging": f"{options.project}-main-staging",
        "production": f"{options.project}-production",
    }


def experiment_start(options: CiOptions, branch: str) -> str:
    """Start the experiment named after the branch: production's service against the model
    version the branch's deployment of it serves on staging (``--from-branch``)."""
    return (
        f'shipyard experiment start "{branch}" --deployment {options.service} '
        f'--from-branch "{branch}" --branch-env staging --env production'
    )


def promote_command(options: CiOptions, source: str) -> str:
    """Promote the experiment (named after the branch) into production's service; without a
    service, apply the project's release to production (through the environment's gates)."""
    if options.service is None:
        return "shipyard apply -e production"
    return f'shipyard promote {options.service} --from "{source}" --to production'


def lock_install(lock: str = "requirements.lock", declared: str = "requirements.txt") -> str:
    """Install a project from its lock: every package as pinned, each file checked against the
    lock's hashes; then what the lock leaves out (shipyard itself), without dependencies (they are
    all in the lock); ``pip check`` fails the job when the lock misses one."""
    return (
        f"pip install --require-hashes --no-deps -r {lock} && pip install --no-deps -r {declared} "
        "&& pip check"
    )


def github_workflow(options: CiOptions) -> dict[str, Any]:
    """The workflow as data (``yaml.safe_dump`` writes it; valid against GitHub's schema)."""
    rules = github_rule_names(options)

    def setup() -> list[dict[str, Any]]:  # fresh per job: no YAML anchors in the file
        return [
            {"uses": "actions/checkout@v4"},
            {"uses": "actions/setup-python@v5", "with": {"python-version": options.python}},
            {"name": "Install shipyard", "run": options.install},
        ]

    pull_request = [
        *setup(),
        {"name": "Test the flow", "run": "python -m pytest -q"},
        _login(options, rules["pr-dev"]),
        {"name": "Small run on dev", "run": f"shipyard run {options.flow}"},
        _login(options, rules["pr-staging"]),
        {"name": "Plan staging", "run": "shipyard plan -e staging | tee plan.txt"},
        {"name": "Deploy the branch to staging", "run": 'shipyard apply -e staging --branch "$BRANCH"'},
        *(
            [
                _login(options, rules["pr-experiment"]),
                {
                    "name": "Start the A/B experiment against production",
                    "run": experiment_start(options, "$BRANCH"),
                },
            ]
            if options.service is not None
            else []
        ),
        {
            "name": "Comment the plan",
            "env": {"GH_TOKEN": "${{ github.token }}", "PR": "${{ github.event.pull_request.number }}"},
            "run": 'gh pr comment "$PR" --body-file plan.txt',
        },
    ]
    merged = [
        *setup(),
        _login(options, rules["main-staging"]),
        {"name": "Apply to staging", "run": "shipyard apply -e staging"},
    ]
    promote = [
        *setup(),
        _login(options, rules["production"]),
        {
            "name": "Promote to production (through its gates)"
            if options.service is not None
            else "Apply to production (through its gates)",
            "run": promote_command(options, "$FROM"),
        },
    ]
    dispatch: dict[str, Any] = {}  # no service: a manual run applies production's release
    production_env: dict[str, Any] = {}
    if options.service is not None:
        dispatch = {
            "inputs": {
                "promote_from": {
                    "description": "Promote this branch's challenger to production",
                    "required": True,
                    "type": "string",
                }
            }
        }
        production_env = {"env": {"FROM": "${{ inputs.promote_from }}"}}
    return {
        "name": "shipyard",
        "on": {
            "pull_request": {"branches": [options.main_branch]},
            "push": {"branches": [options.main_branch]},
            "workflow_dispatch": dispatch,
        },
        "permissions": {"contents": "read", "id-token": "write", "pull-requests": "write"},
        "concurrency": {"group": "shipyard-${{ github.ref }}", "cancel-in-progress": False},
        "env": {"SHIPYARD_URI": "${{ vars.SHIPYARD_URI }}", **_env(options)},
        "defaults": {"run": {"shell": "bash"}},
        "jobs": {
            "pull-request": {
                "if": "github.event_name == 'pull_request'",
                "runs-on": "ubuntu-latest",
                "env": {"BRANCH": "${{ github.head_ref }}"},
                "steps": pull_request,
            },
            "staging": {
                "if": "github.event_name == 'push'",
                "runs-on": "ubuntu-latest",
                "steps": merged,
            },
            "production": {
                "if": "github.event_name == 'workflow_dispatch'",
                "runs-on": "ubuntu-latest",
                "environment": "production",
                **production_env,
                "steps": promote,
            },
        },
    }


def github_trust_rules(options: CiOptions) -> dict[str, Any]:
    """The server's ``--ci-trust`` rules this workflow signs in with (one per scope)."""
    names = github_rule_names(options)
    pr = f"repo:{options.repo}:pull_request"
    main = f"repo:{options.repo}:ref:refs/heads/{options.main_branch}"
    if options.repo is None:
        raise ValueError("trust rules name the repository: CiOptions.repo is needed")
    production = f"repo:{options.repo}:environment:production"
    shapes = [
        (names["pr-dev"], pr, "dev", ["run"]),
        (names["pr-staging"], pr, "staging", ["apply"]),
        (names["pr-experiment"], pr, "production", ["experiment"]),
        (names["main-staging"], main, "staging", ["apply"]),
        (names["production"], production, "production", ["promote"]),
    ]
    if options.service is None:  # no experiment; the manual job applies production
        shapes = [*shapes[:2], shapes[3], (names["production"], production, "production", ["apply"])]
    return {
        "rules": [
            {
                "name": name,
                "issuer": GITHUB_ISSUER,
                "audience": options.audience,
                "subject": subject,
                "service_account": options.service_account,
                "project": options.project,
                "environment": environment,
                "actions": actions,
                "ttl": "15m",
            }
            for name, subject, environment, actions in shapes
        ]
    }


def gitlab_pipeline(options: CiOptions) -> dict[str, Any]:
    """The ``.gitlab-ci.yml`` as data (valid against GitLab's schema)."""

    def on_mr() -> list[dict[str, str]]:  # fresh per job: no YAML anchors in the file
        return [{"if": '$CI_PIPELINE_SOURCE == "merge_request_event"'}]

    def on_main() -> list[dict[str, str]]:
        return [{"if": "$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH"}]

    branch = "$CI_MERGE_REQUEST_SOURCE_BRANCH_NAME"
    note = (
        'curl --fail --silent --header "PRIVATE-TOKEN: $GITLAB_NOTE_TOKEN" --data-urlencode "body@plan.txt" '
        '"$CI_API_V4_URL/projects/$CI_PROJECT_ID/merge_requests/$CI_MERGE_REQUEST_IID/notes"'
    )
    pipeline: dict[str, Any] = {
        "stages": ["test", "dev", "staging", "production"],
        "variables": _env(options),
        "default": {"image": f"python:{options.python}", "before_script": [options.install]},
        "test": {"stage": "test", "rules": on_mr(), "script": ["python -m pytest -q"]},
        "dev-run": {
            "stage": "dev",
            "rules": on_mr(),
            "variables": {"SHIPYARD_TOKEN": "$SHIPYARD_TOKEN_DEV"},
            "script": [f"shipyard run {options.flow}"],
        },
        "staging-branch": {
            "stage": "staging",
            "rules": on_mr(),
            "variables": {"SHIPYARD_TOKEN": "$SHIPYARD_TOKEN_STAGING", "BRANCH": branch},
            "script": [
                "set -o pipefail; shipyard plan -e staging | tee plan.txt",
                'shipyard apply -e staging --branch "$BRANCH"',
                note,
            ],
            "artifacts": {"paths": ["plan.txt"]},
        },
        "experiment": {
            "stage": "production",
            "rules": on_mr(),
            "needs": ["staging-branch"],
            "variables": {"SHIPYARD_TOKEN": "$SHIPYARD_TOKEN_EXPERIMENT", "BRANCH": branch},
            "script": [experiment_start(options, "$BRANCH")],
        },
        "staging": {
            "stage": "staging",
            "rules": on_main(),
            "variables": {"SHIPYARD_TOKEN": "$SHIPYARD_TOKEN_STAGING"},
            "script": ["shipyard apply -e staging"],
        },
        "production": {
            "stage": "production",
            "rules": [{"if": "$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH", "when": "manual"}],
            "environment": {"name": "production"},
            "variables": {"SHIPYARD_TOKEN": "$SHIPYARD_TOKEN_PRODUCTION", "FROM": "$PROMOTE_FROM"},
            "script": [promote_command(options, "$FROM")],
        },
    }
    if options.service is None:  # no service: no experiment; the manual job applies production
        del pipeline["experiment"]
        pipeline["production"]["variables"] = {"SHIPYARD_TOKEN": "$SHIPYARD_TOKEN_PRODUCTION"}
    return pipeline


def gitlab_token_commands(options: CiOptions) -> list[str]:
    """How an admin makes the machine tokens the pipeline's variables hold."""
    made = []
    tokens = [
        ("SHIPYARD_TOKEN_DEV", "dev", "run"),
        ("SHIPYARD_TOKEN_STAGING", "staging", "apply"),
        ("SHIPYARD_TOKEN_EXPERIMENT", "production", "experiment"),
        ("SHIPYARD_TOKEN_PRODUCTION", "production", "promote"),
    ]
    if options.service is None:
        tokens = [*tokens[:2], ("SHIPYARD_TOKEN_PRODUCTION", "production", "apply")]
    for variable, env, action in tokens:
        made.append(
            f"shipyard tokens create --service-account {options.service_account} --project {options.project} "
            f"--env {env} --action {action} --expires-in 30d --name gitlab-{env}-{action}   # -> {variable}"
        )
    return made


def dump_yaml(data: dict[str, Any], header: str) -> str:
    """YAML text of ``data`` (keys in order, long scripts kept on one line) under a comment header."""
    import yaml

    body = yaml.safe_dump(data, sort_keys=False, width=1000, default_flow_style=False)
    return "".join(f"# {line}\n" if line else "#\n" for line in header.splitlines()) + body
