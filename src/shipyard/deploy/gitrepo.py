"""The git repository a sync loop follows: a local path or a URL, fetched with plain ``git`` into
a bare mirror under ``<home>/sync/<hash of the repository>/``; the spec is read at the branch's
head commit with ``git show`` (nothing is checked out, no hook or filter runs).

Git runs without a terminal prompt (``GIT_TERMINAL_PROMPT=0``: a repository that needs
credentials fails instead of hanging), with a timeout, and every argument a user gives is checked
before git sees it (a repository or branch starting with ``-`` is refused). Credentials in an
``https://user:token@host`` URL are used to fetch but never shown: :attr:`GitMirror.display` and
every error name the repository without them.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from shipyard.core.errors import InvalidInputError

FETCH_TIMEOUT_S = 120.0
READ_TIMEOUT_S = 30.0
_URL = re.compile(r"^(?:[a-z][a-z0-9+.-]*://|[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:)")
_SAFE_SCHEMES = ("https", "http", "ssh", "git", "file")
_TRACKING = "refs/shipyard-sync/head"


def shown_repo(repo: str) -> str:
    """``repo`` without the user and password of a URL."""
    if "://" not in repo:
        return repo
    parts = urlsplit(repo)
    if parts.username is None and parts.password is None:
        return repo
    host = parts.hostname or ""
    netloc = host + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _source(repo: str) -> str:
    """The repository as git fetches it: an absolute local path, or a URL of a known scheme."""
    text = repo.strip()
    if not text or text.startswith("-") or "\n" in text:
        raise InvalidInputError(f"invalid repository {repo!r}; give a local path or a git URL")
    if _URL.match(text):
        scheme = text.split("://", 1)[0].lower() if "://" in text else "ssh"
        if scheme not in _SAFE_SCHEMES:
            raise InvalidInputError(
                f"unsupported repository scheme {scheme!r}; use one of {', '.join(_SAFE_SCHEMES)}"
            )
        return text
    path = Path(text).expanduser()
    if not path.is_dir():
        raise InvalidInputError(f"no git repository at {path}: give a local path or a git URL")
    return str(path.resolve())


def check_branch(branch: str) -> str:
    """``branch`` if git accepts it as a branch name; else a one-line error."""
    bad = not branch or branch.startswith("-") or ".." in branch or "@{" in branch
    if bad or not re.fullmatch(r"[A-Za-z0-9._/\-]{1,200}", branch) or branch.endswith((".lock", "/", ".")):
        raise InvalidInputError(f"invalid branch {branch!r}; name a branch such as main or release/1.2")
    return branch


@dataclass(frozen=True)
class Head:
    commit: str  # the full commit id
    author: str | None  # "Name <email>"


class GitMirror:
    """A bare mirror of one branch of ``repo`` under ``home/sync/``."""

    def __init__(self, repo: str, branch: str, home: Path) -> None:
        self.source = _source(repo)
        self.branch = check_branch(branch)
        self.display = shown_repo(self.source)
        key = hashlib.sha256(self.source.encode()).hexdigest()[:16]
        self.path = home / "sync" / key

    def _git(self, *args: str, timeout: float = READ_TIMEOUT_S) -> str:
        env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "", "LC_ALL": "C"}
        try:
            done = subprocess.run(
                ["git", "-c", "protocol.ext.allow=never", *args],
                cwd=self.path,
                capture_output=True,
                timeout=timeout,
                check=False,
                env=env,
            )
        except FileNotFoundError:
            raise InvalidInputError("git is not installed: shipyard sync needs it") from None
        except subprocess.TimeoutExpired:
            raise InvalidInputError(f"git {args[0]} of {self.display} took over {timeout:g} s") from None
        if done.returncode != 0:
            lines = done.stderr.decode("utf-8", "replace").strip().splitlines()
            why = (lines[-1] if lines else "failed").replace(self.source, self.display)
            raise InvalidInputError(f"git {args[0]} of {self.display}: {why}")
        return done.stdout.decode("utf-8", "replace")

    def fetch(self) -> Head:
        """Fetch the branch; its head commit and author."""
        if not (self.path / "HEAD").exists():
            self.path.mkdir(parents=True, exist_ok=True)
            self._git("init", "--bare", "--quiet")
        refspec = f"+refs/heads/{self.branch}:{_TRACKING}"
        self._git(
            "fetch", "--quiet", "--no-tags", "--end-of-options", self.source, refspec, timeout=FETCH_TIMEOUT_S
        )
        commit = self._git("rev-parse", "--verify", f"{_TRACKING}^{{commit}}").strip()
        author = self._git("show", "-s", "--format=%an <%ae>", commit).strip() or None
        return Head(commit, author)

    def show(self, commit: str, path: str, *, max_bytes: int) -> str:
        """The text of ``path`` at ``commit`` (InvalidInputError when missing or over ``max_bytes``)."""
        relative = path.strip().lstrip("/")
        if not relative or relative.startswith("-") or ".." in Path(relative).parts:
            raise InvalidInputError(f"invalid spec path {path!r}; give a path inside the repository")
        size = self._git("cat-file", "-s", f"{commit}:{relative}").strip()
        if int(size or 0) > max_bytes:
            raise InvalidInputError(f"{relative} at {commit[:12]} is over {max_bytes // 1024} KiB")
        return self._git("show", f"{commit}:{relative}")
