"""Where a spec comes from: the working tree (``shipyard.yaml``) or a git ref of its repository
(``git show REF:PATH``), with the commit it was read at and that commit's author."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from shipyard.core.errors import InvalidInputError
from shipyard.deploy.spec.load import MAX_SPEC_BYTES, parse, validate
from shipyard.deploy.spec.models import Spec

_GIT_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class SpecSource:
    spec: Spec
    commit: str | None  # the full commit id, when read from git
    author: str | None  # the commit's author, when read from git


def _git(cwd: Path, *args: str) -> str:
    try:
        done = subprocess.run(
            ["git", *args],
            cwd=cwd,
            capture_output=True,
            timeout=_GIT_TIMEOUT_S,
            check=False,
        )
    except FileNotFoundError:
        raise InvalidInputError("git is not installed: --ref needs it") from None
    except subprocess.TimeoutExpired:
        raise InvalidInputError(f"git {args[0]} took over {_GIT_TIMEOUT_S:g} s in {cwd}") from None
    if done.returncode != 0:
        why = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise InvalidInputError(f"git {' '.join(args)}: {why[-1] if why else 'failed'}")
    return done.stdout.decode("utf-8", "replace")


def read_spec(path: Path, ref: str | None = None) -> SpecSource:
    """The validated spec at ``path``, or at git ``ref`` of the repository ``path`` is in."""
    if ref is None:
        from shipyard.deploy.spec.load import load_spec

        return SpecSource(load_spec(path), None, None)
    if ref.startswith("-") or not ref.strip():
        raise InvalidInputError(
            f"invalid git ref {ref!r}; name a branch, tag or commit such as main or HEAD~1"
        )
    folder = path.resolve().parent
    top = Path(_git(folder, "rev-parse", "--show-toplevel").strip())
    commit = _git(top, "rev-parse", "--verify", "--end-of-options", f"{ref}^{{commit}}").strip()
    relative = path.resolve().relative_to(top.resolve()).as_posix()
    text = _git(top, "show", f"{commit}:{relative}")
    if len(text.encode()) > MAX_SPEC_BYTES:
        raise InvalidInputError(f"{relative} at {ref} is over {MAX_SPEC_BYTES // 1024} KiB")
    author = _git(top, "show", "-s", "--format=%an <%ae>", commit).strip() or None
    return SpecSource(validate(parse(text, f"{relative}@{ref}")), commit, author)
