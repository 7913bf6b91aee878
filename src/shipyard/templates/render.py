"""Rendering and updating projects from Copier templates.

``init_project`` renders a template into ``<parent>/<name>`` and makes the result a git repository
with one commit, so ``update_project`` (``shipyard init --update``, Copier's three-way merge of the
template's changes with the project's own edits) works from the start.

Copier updates need the template under git, at a tag: a local folder or URL that is a git
repository works as is. The built-in templates ship inside the package, so they are mirrored into a
git repository under the template cache (``SHIPYARD_TEMPLATE_CACHE``, default
``$XDG_CACHE_HOME/shipyard/templates``), one commit and tag (``<shipyard version>.postN``) per
change of the shipped files: after upgrading shipyard, ``shipyard init --update`` in a project merges
what changed in its template since the project was rendered (or last updated).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shipyard.core.errors import InvalidInputError, NotFoundError, ShipyardError

BUILTIN: dict[str, str] = {
    "training": "data -> features -> fan-out hyper-parameter search -> evaluation -> registered model "
    "with a card",
    "batch": "a scheduled flow scoring a dataset with the registered model into a versioned dataset",
    "stream": "an online deployment with feature lookup, token auth, a load test and a drift monitor",
    "explainability": "a Streamlit dashboard: F1 per time window, feature drift, importance, predictions",
}
ORCHESTRATORS = ("local", "argo", "airflow")
ANSWERS_FILE = ".copier-answers.yml"
_NAME = re.compile(r"^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$")
_REMOTE = ("gh:", "gl:", "https://", "http://", "git@", "git+", "ssh://")
_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache", ".shipyard", ".ruff_cache")
_GIT_IDENTITY = (
    "-c",
    "user.name=shipyard",
    "-c",
    "user.email=shipyard@localhost",
    "-c",
    "commit.gpgsign=false",
)


@dataclass(frozen=True)
class TemplateInfo:
    name: str
    description: str
    path: Path


def templates_root() -> Path:
    """The folder of the built-in templates (inside the installed package)."""
    return Path(__file__).resolve().parent


def list_templates() -> list[TemplateInfo]:
    root = templates_root()
    return [TemplateInfo(name, text, root / name) for name, text in BUILTIN.items()]


def default_cache_dir() -> Path:
    """Where the built-in templates' git mirrors live: ``SHIPYARD_TEMPLATE_CACHE``, else the user cache."""
    explicit = os.environ.get("SHIPYARD_TEMPLATE_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "shipyard" / "templates"


def _git(folder: Path, *args: str, identity: bool = False) -> str:
    """Run git in ``folder``; its stdout. A failure is a ShipyardError with git's own message."""
    if shutil.which("git") is None:
        raise ShipyardError("git is not installed: project templates need git (https://git-scm.com)")
    command = ["git", *(_GIT_IDENTITY if identity else ()), *args]
    done = subprocess.run(command, cwd=folder, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        detail = " ".join((done.stderr or done.stdout).split())[:300]
        raise ShipyardError(f"git {args[0]} failed in {folder}: {detail}")
    return done.stdout.strip()


def builtin_source(name: str, cache_dir: Path) -> tuple[str, str]:
    """The git mirror of built-in template ``name`` (created or brought up to date with the files
    this shipyard ships) and its newest tag."""
    import shipyard

    source = templates_root() / name
    repo = cache_dir / name
    repo.mkdir(parents=True, exist_ok=True)
    if not (repo / ".git").exists():
        _git(repo, "init", "-q")
    for child in repo.iterdir():
        if child.name == ".git":
            continue
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()
    shutil.copytree(source, repo, ignore=_IGNORE, dirs_exist_ok=True)
    _git(repo, "add", "-A")
    if _git(repo, "status", "--porcelain"):
        _git(repo, "commit", "-q", "-m", f"shipyard {shipyard.__version__}: template {name}", identity=True)
        count = _git(repo, "rev-list", "--count", "HEAD")
        _git(repo, "tag", f"{shipyard.__version__}.post{count}")
    return str(repo), _git(repo, "describe", "--tags", "--abbrev=0")


def resolve_source(template: str, cache_dir: Path) -> tuple[str, str | None]:
    """Copier's source and git ref of ``template``: a built-in name, a git URL or a local folder."""
    if template in BUILTIN:
        return builtin_source(template, cache_dir)
    if template.startswith(_REMOTE):
        return template, None
    folder = Path(template).expanduser()
    if folder.is_dir() and any((folder / f).is_file() for f in ("copier.yml", "copier.yaml")):
        return str(folder.resolve()), None
    if folder.is_dir():
        raise InvalidInputError(f"template folder {template} has no copier.yml: it is not a Copier template")
    raise NotFoundError(
        f"unknown template {template!r}: use one of {', '.join(BUILTIN)}, a folder with a copier.yml, "
        "or a git URL like gh:org/repo"
    )


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise InvalidInputError(
            f"project name {name!r}: use lower-case letters, digits and '-', starting with a letter "
            "(it names the project in shipyard.yaml), e.g. fraud-model"
        )
    return name


def _copier_error(exc: Exception) -> ShipyardError:
    message = " ".join(str(exc).split()) or type(exc).__name__
    return ShipyardError(f"copier: {message[:400]}")


def _commit_all(folder: Path, message: str) -> None:
    configured = subprocess.run(
        ["git", "config", "user.email"], cwd=folder, capture_output=True, text=True, check=False
    )
    _git(folder, "add", "-A")
    _git(folder, "commit", "-q", "-m", message, identity=not configured.stdout.strip())


def init_project(
    name: str,
    parent: Path,
    template: str,
    *,
    orchestrator: str = "local",
    data: str | None = None,
    cache_dir: Path | None = None,
    git: bool = True,
    finish: Callable[[Path], object] | None = None,
) -> Path:
    """Render ``template`` into ``parent/name``; ``finish(project)`` adds what the template does not
    hold (``shipyard init`` writes the CI workflow with ``shipyard ci init``'s generator); with
    ``git``, make it a repository with one commit (a folder already inside a repository is left to it)."""
    import copier
    from copier.errors import CopierError

    check_name(name)
    if orchestrator not in ORCHESTRATORS:
        raise InvalidInputError(f"orchestrator {orchestrator!r}: use one of {', '.join(ORCHESTRATORS)}")
    dest = parent / name
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise InvalidInputError(f"{dest} already exists and is not empty: pick another NAME or remove it")
    source, ref = resolve_source(template, cache_dir or default_cache_dir())
    answers: dict[str, Any] = {"project_name": name, "orchestrator": orchestrator, "data_path": data or ""}
    # a team's copy of a built-in template keeps its question: mark the project as not built-in
    answers["shipyard_template"] = template if template in BUILTIN else ""
    try:
        copier.run_copy(source, dest, data=answers, vcs_ref=ref, defaults=True, quiet=True, unsafe=False)
    except (CopierError, ValueError) as exc:
        raise _copier_error(exc) from None
    if finish is not None:
        finish(dest)
    if git and shutil.which("git") is not None:
        inside = subprocess.run(
            ["git", "rev-parse", "--show-toplevel"], cwd=dest, capture_output=True, text=True, check=False
        )
        if inside.returncode != 0:
            _git(dest, "init", "-q")
            _commit_all(dest, f"shipyard init {name} --template {template}")
    return dest


def _answers(project: Path) -> dict[str, Any]:
    import yaml

    path = project / ANSWERS_FILE
    if not path.is_file():
        raise InvalidInputError(
            f"{project} has no {ANSWERS_FILE}: --update works in a project made by shipyard init "
            "(or copier copy); run it from the project's root"
        )
    loaded = yaml.safe_load(path.read_text()[:1_000_000]) or {}
    if not isinstance(loaded, dict):
        raise InvalidInputError(f"{path} is not a mapping of answers")
    return loaded


def update_project(project: Path, *, cache_dir: Path | None = None, conflict: str = "inline") -> str:
    """``copier update`` of the project at ``project``: the template's changes since the project's
    recorded version merged with its own edits (conflicts marked inline). Returns what changed."""
    import copier
    from copier.errors import CopierError

    answers = _answers(project)
    if shutil.which("git") is None:
        raise ShipyardError("git is not installed: an update merges through git (https://git-scm.com)")
    inside = subprocess.run(
        ["git", "rev-parse", "--show-toplevel"], cwd=project, capture_output=True, text=True, check=False
    )
    if inside.returncode != 0:
        raise InvalidInputError(
            f"{project} is not a git repository: an update merges the template's changes with yours "
            "through git; run `git init && git add -A && git commit -m init` first"
        )
    if _git(project, "status", "--porcelain"):
        raise InvalidInputError(
            f"{project} has uncommitted changes: commit or stash them first, so the update can be reviewed "
            "(git diff) and undone"
        )
    builtin = answers.get("shipyard_template")
    old = str(answers.get("_commit") or "?")
    recorded = str(answers.get("_src_path") or "")
    reachable = recorded.startswith(_REMOTE) or Path(recorded).is_dir()
    if isinstance(builtin, str) and builtin in BUILTIN:
        cache = cache_dir or default_cache_dir()
        if recorded == str(cache / builtin) or not reachable:
            source, _ = builtin_source(builtin, cache)
            if recorded != source:
                raise InvalidInputError(
                    f"the project was rendered from the template cache {recorded}, which is not on this "
                    f"machine: set SHIPYARD_TEMPLATE_CACHE to its parent folder, or set _src_path in "
                    f"{ANSWERS_FILE} to {source}"
                )
    if not answers.get("_commit"):
        raise InvalidInputError(
            f"{ANSWERS_FILE} records no template version (_commit): the template was not a git "
            "repository with tags when the project was rendered, so there is nothing to merge from"
        )
    try:
        copier.run_update(
            project,
            defaults=True,
            overwrite=True,
            skip_answered=True,
            quiet=True,
            unsafe=False,
            conflict="rej" if conflict == "rej" else "inline",
        )
    except (CopierError, ValueError) as exc:
        raise _copier_error(exc) from None
    new = str(_answers(project).get("_commit") or "?")
    if new == old:
        return f"already at the template's newest version {new}"
    return f"updated from template version {old} to {new}"
