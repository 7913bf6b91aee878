"""The workflow ``shipyard ci init`` writes for a project folder: its options read from the project
(``shipyard.yaml``, the git remote, a lock) and the files' text. ``shipyard init`` writes the same
file into a new project (one generator for both)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from shipyard.core.errors import InvalidInputError
from shipyard.deploy.ci.workflows import (
    CiOptions,
    dump_yaml,
    github_trust_rules,
    github_workflow,
    gitlab_pipeline,
    lock_install,
)

TARGETS = {"github": Path(".github/workflows/shipyard.yml"), "gitlab": Path(".gitlab-ci.yml")}
TRUST = Path(".github/shipyard-ci-trust.yaml")
LOCK = "requirements.lock"
HEADER = "Written by `shipyard ci init`: every step is a plain shipyard command."


def git_repo(root: Path) -> str | None:
    """owner/name of the ``origin`` remote (https or ssh form), or None."""
    try:
        url = subprocess.run(
            ["git", "-C", str(root), "remote", "get-url", "origin"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    found = re.search(r"[:/]([^/:]+/[^/]+?)(?:\.git)?$", url)
    return found.group(1) if found else None


def _default_flow(root: Path, spec_flows: list[str]) -> str:
    if spec_flows:
        return spec_flows[0]
    for candidate in ("flow.py", "flows/train.py"):
        if (root / candidate).is_file():
            return candidate
    found = (
        sorted(p.relative_to(root).as_posix() for p in (root / "flows").glob("*.py"))
        if (root / "flows").is_dir()
        else []
    )
    return found[0] if found else "flow.py"


def _default_service(services: list[str]) -> str | None:
    """The one service deployed to production; None when there is none (no experiment: the
    production job applies the release)."""
    if len(services) <= 1:
        return services[0] if services else None
    raise InvalidInputError(
        f"which service do experiments and promotion act on (shipyard.yaml deploys {', '.join(services)} "
        "to production)? pass --service NAME"
    )


def check_provider(provider: str) -> str:
    if provider not in TARGETS:
        raise InvalidInputError(f"unknown CI {provider!r}; use github or gitlab")
    return provider


def project_options(
    root: Path,
    *,
    project: str | None = None,
    repo: str | None = None,
    flow: str | None = None,
    service: str | None = None,
    main_branch: str = "main",
    audience: str = "shipyard",
    service_account: str = "ci",
) -> CiOptions:
    """The options of the project at ``root``: what is not given is read from its
    ``shipyard.yaml`` (project, flow, the production service) and ``git remote get-url origin``
    (repo; None when there is no remote). A ``requirements.lock`` makes the jobs install from it."""
    from shipyard.security.policy import check_project_name

    spec_flows: list[str] = []
    services: list[str] = []
    spec_file = root / "shipyard.yaml"
    if spec_file.is_file():
        from shipyard.deploy.spec.load import load_spec

        spec = load_spec(spec_file)
        project = project or spec.project.name
        spec_flows = [f.file for f in spec.flows.values()]
        services = [
            name
            for name, d in spec.deployments.items()
            if d.kind == "service" and (d.environments is None or "production" in d.environments)
        ]
    if project is None:
        raise InvalidInputError("no shipyard.yaml here to name the project; pass --project NAME")
    check_project_name(project)
    defaults = CiOptions(project=project, repo=None, flow="", service=None)
    return CiOptions(
        project=project,
        service=service or _default_service(services),
        repo=repo or git_repo(root),
        flow=flow or _default_flow(root, spec_flows),
        main_branch=main_branch,
        audience=audience,
        service_account=service_account,
        install=lock_install(LOCK) if (root / LOCK).is_file() else defaults.install,
    )


def workflow_text(provider: str, options: CiOptions) -> str:
    """The text of ``provider``'s workflow file (``TARGETS[provider]``)."""
    check_provider(provider)
    data = github_workflow(options) if provider == "github" else gitlab_pipeline(options)
    return dump_yaml(data, HEADER)


def trust_text(options: CiOptions) -> str:
    """The server's ``--ci-trust`` rules of the GitHub workflow (they name the repository)."""
    header = (
        "The shipyard server's trust rules for this workflow: shipyard server --ci-trust FILE\n"
        f"(service account {options.service_account!r} needs roles in project:{options.project}, "
        "e.g. maintainer)."
    )
    return dump_yaml(github_trust_rules(options), header)


def write_workflow(root: Path, provider: str, options: CiOptions, *, force: bool = False) -> Path:
    """Write the workflow file of ``provider`` under ``root``; an existing one only with ``force``."""
    target = root / TARGETS[check_provider(provider)]
    if target.exists() and not force:
        raise InvalidInputError(f"{target} exists; pass --force to overwrite it")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(workflow_text(provider, options), encoding="utf-8")
    return target
