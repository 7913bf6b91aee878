"""Branches: parallel lines of work inside a project (Metaflow's ``@project`` / ``--branch``).

What a branch writes lives in the branch's namespace ``project:P/branch:B`` and never touches
production's objects (the project's own namespace ``project:P`` and its unqualified names):

- a run made on branch ``B`` of project ``P`` has the namespace ``project:P/branch:B``;
- a model or dataset named ``N`` made on the branch is stored as ``N:branch:B`` (its project is
  ``P``), so it is a separate object: production's ``N`` keeps its versions and aliases;
- a deployment applied to environment ``E`` with ``--branch B`` is recorded in the delivery slot
  ``E--B`` (:func:`slot_name`), next to the environment's own, and runs on its own addresses.

Branch names: 1-40 lower-case letters, digits, ``-`` and ``_``, starting with a letter or digit,
without ``--`` (the slot separator); ``main``, ``master`` and ``production`` name production
itself and are refused. ``auto`` is the current git branch, sanitized by :func:`sanitize` (on
``main``/``master`` it means no branch). Pure, apart from :func:`git_branch` reading
``.git/HEAD``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from shipyard.core.errors import InvalidInputError

if TYPE_CHECKING:
    from shipyard.core.settings import Settings

AUTO = "auto"
PRODUCTION_BRANCHES = ("main", "master", "production")
PRODUCTION_ENVIRONMENT = "production"
_BRANCH_RE = re.compile(r"^[a-z0-9][a-z0-9_\-]{0,39}$")
_MAX = 40
_NAME_MARK = ":branch:"
_SLOT_MARK = "--"
_HEAD_MAX = 4096
_SLOT_MAX = 63  # a slot is stored and scoped as an environment name


def validate_branch(name: object) -> str:
    """``name`` if it can name a branch; else a one-line error that suggests a valid spelling."""
    if not isinstance(name, str):
        raise InvalidInputError(f"branch name must be a string, got {type(name).__name__}")
    if name in PRODUCTION_BRANCHES:
        raise InvalidInputError(
            f"branch {name!r} is production itself; leave out --branch (production is written only "
            "through `shipyard apply -e production`)"
        )
    if _BRANCH_RE.fullmatch(name) and _SLOT_MARK not in name and not name.endswith("-"):
        return name
    fixed = sanitize(name)
    hint = f"; use {fixed!r}" if fixed and fixed not in PRODUCTION_BRANCHES else ""
    raise InvalidInputError(
        f"invalid branch name {name!r}: use 1-{_MAX} lower-case letters, digits, '-' and '_' "
        f"(starting with a letter or digit, no '--'){hint}"
    )


def sanitize(text: str) -> str:
    """A git branch name made into a branch name: lower case, every run of other characters
    (``/``, ``.``, spaces...) one ``-``, no ``--``, trimmed to the length limit; ``""`` if
    nothing is left."""
    lowered = re.sub(r"[^a-z0-9_]+", "-", text.strip().lower())
    lowered = re.sub(r"-{2,}", "-", lowered).strip("-_")
    return lowered[:_MAX].rstrip("-_")


def resolve_branch(value: str | None, start: Path | None = None) -> str | None:
    """The branch ``value`` names: None stays None, ``auto`` is the git branch (None on
    main/master), anything else must be valid (:func:`validate_branch`)."""
    if value is None or value == "":
        return None
    if value != AUTO:
        return validate_branch(value)
    head = git_branch(start)
    if head is None:
        raise InvalidInputError(
            "--branch auto: not on a git branch (no repository, or a detached HEAD); pass --branch NAME"
        )
    if head in PRODUCTION_BRANCHES:
        return None
    fixed = sanitize(head)
    if not fixed:
        raise InvalidInputError(f"--branch auto: git branch {head!r} has no usable name; pass --branch NAME")
    return validate_branch(fixed)


def git_branch(start: Path | None = None) -> str | None:
    """The checked-out branch of the git repository around ``start`` (None: none, or detached)."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        dot_git = folder / ".git"
        if dot_git.is_file():  # a worktree or submodule: "gitdir: PATH"
            text = dot_git.read_text(encoding="utf-8", errors="replace")[:_HEAD_MAX].strip()
            if not text.startswith("gitdir:"):
                return None
            git_dir = Path(text.removeprefix("gitdir:").strip())
            dot_git = git_dir if git_dir.is_absolute() else folder / git_dir
        if dot_git.is_dir():
            head = dot_git / "HEAD"
            if not head.is_file():
                return None
            ref = head.read_text(encoding="utf-8", errors="replace")[:_HEAD_MAX].strip()
            return ref.removeprefix("ref: refs/heads/") if ref.startswith("ref: refs/heads/") else None
    return None


# ---- namespaces, names and slots ------------------------------------------------------------------
def branch_namespace(project: str, branch: str) -> str:
    """``project:P/branch:B``: where a branch's runs live (and the scope it is decided at)."""
    return f"project:{project}/branch:{branch}"


def branch_of_namespace(namespace: str) -> tuple[str, str] | None:
    """(project, branch) of a branch namespace, else None."""
    project, sep, rest = namespace.partition("/branch:")
    if not sep or not project.startswith("project:") or "/" in rest:
        return None
    return project.removeprefix("project:"), rest


def branch_object_name(name: str, branch: str) -> str:
    """The stored name of a model or dataset ``name`` made on ``branch`` (``N:branch:B``);
    a name already on that branch is returned as it is."""
    if branch_of_name(name) == branch:
        return name
    return f"{name}{_NAME_MARK}{branch}"


def branch_of_name(name: str) -> str | None:
    """The branch a stored model or dataset name belongs to (None: production or no project)."""
    base, sep, branch = name.rpartition(_NAME_MARK)
    if not sep or not base or not _BRANCH_RE.fullmatch(branch):
        return None
    return branch


def base_name(name: str) -> str:
    """The name without its branch qualifier."""
    branch = branch_of_name(name)
    return name if branch is None else name[: -len(_NAME_MARK + branch)]


def slot_name(environment: str, branch: str | None) -> str:
    """The delivery slot of ``branch``'s deployments in ``environment`` (``E--B``); the
    environment's own without a branch."""
    if branch is None:
        return environment
    slot = f"{environment}{_SLOT_MARK}{branch}"
    if len(slot) > _SLOT_MAX:
        raise InvalidInputError(
            f"environment {environment!r} with branch {branch!r} makes a slot name longer than "
            f"{_SLOT_MAX} characters; use a shorter branch name"
        )
    return slot


def split_slot(slot: str) -> tuple[str, str | None]:
    """(environment, branch or None) of a delivery slot."""
    environment, sep, branch = slot.rpartition(_SLOT_MARK)
    if not sep or not environment or not _BRANCH_RE.fullmatch(branch):
        return slot, None
    return environment, branch


def refuse_production_apply(environment: str, branch: str | None) -> None:
    """A branch deploys next to an environment, never into production."""
    if branch is not None and environment == PRODUCTION_ENVIRONMENT:
        raise InvalidInputError(
            f"branch {branch!r} cannot be applied to {PRODUCTION_ENVIRONMENT}: production is written only by "
            "`shipyard apply -e production` without --branch; deploy the branch to staging"
        )


_PROJECT_RE = re.compile(r"^[a-z0-9][a-z0-9_\-]{0,62}$")  # security/policy.py's project names


def validate_project(project: object) -> str:
    """A project name as a branch's namespace needs it (security/policy.py's rule)."""
    if isinstance(project, str) and _PROJECT_RE.fullmatch(project):
        return project
    raise InvalidInputError(
        f"invalid project name {project!r}; use lower-case letters, digits, '-' and '_' "
        "(at most 63, starting with a letter or digit)"
    )


def validate_namespace(namespace: object, *, new: bool = False) -> str:
    """A run namespace: a flat name (``user:alice``, ``project:fraud``) or a branch's namespace
    ``project:P/branch:B`` (the only form with a ``/``)."""
    from shipyard.core.names import validate_name

    if isinstance(namespace, str) and "/" in namespace:
        found = branch_of_namespace(namespace)
        if found is None or not _PROJECT_RE.fullmatch(found[0]):
            raise InvalidInputError(
                f"namespace {namespace[:80]!r} is not valid: use a name without '/' (user:alice, "
                "project:fraud) or a branch's namespace project:PROJECT/branch:BRANCH"
            )
        validate_branch(found[1])
        return namespace
    return validate_name("namespace", namespace, new=new)


def branch_project(settings: Settings) -> str:
    """The project the settings' branch lives in; a one-line error when none is set."""
    if settings.project is None:
        raise InvalidInputError(
            f"branch {settings.branch!r} needs a project: set SHIPYARD_PROJECT or --project "
            "(a branch lives in project:PROJECT/branch:BRANCH)"
        )
    return settings.project


def check_branch_write(settings: Settings, namespace: str) -> None:
    """On a branch, a run is written only into the branch's own namespace."""
    if settings.branch is None:
        return
    own = branch_namespace(branch_project(settings), settings.branch)
    if namespace != own:
        raise InvalidInputError(
            f"on branch {settings.branch!r} runs are written only to {own!r}, not {namespace!r}; "
            "reading other namespaces is fine, writing them needs leaving out --branch"
        )


def check_branch_name_write(settings: Settings, name: str, what: str) -> str:
    """The stored name a model or dataset ``name`` is written under on the settings' branch
    (unchanged off a branch); a name of another branch is refused."""
    if settings.branch is None:
        return name
    branch_project(settings)
    other = branch_of_name(name)
    if other is not None and other != settings.branch:
        raise InvalidInputError(
            f"on branch {settings.branch!r} a {what} of branch {other!r} ({name!r}) cannot be written; "
            f"write {base_name(name)!r} (stored as {branch_object_name(base_name(name), settings.branch)!r})"
        )
    return branch_object_name(name, settings.branch)
