"""Branch names, ``auto``, namespaces, qualified names, slots, and the policy's branch rule (pure)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from shipyard.core.branches import (
    base_name,
    branch_namespace,
    branch_object_name,
    branch_of_name,
    branch_of_namespace,
    resolve_branch,
    sanitize,
    slot_name,
    split_slot,
    validate_branch,
    validate_namespace,
)
from shipyard.core.errors import ConfigurationError, InvalidInputError
from shipyard.core.settings import load_settings
from shipyard.security.policy import PERMISSIONS, Access, Grant, check_scope, may_change, scope_of_namespace


@pytest.mark.parametrize(
    ("bad", "hint"),
    [
        ("Feature/X", "use 'feature-x'"),
        ("a--b", "use 'a-b'"),
        ("-x", "use 'x'"),
        ("x-", "use 'x'"),
        ("x" * 41, "1-40"),
        ("", "1-40"),
        ("main", "production itself"),
        ("production", "production itself"),
    ],
)
def test_bad_branch_names_are_one_line_refusals_with_a_fix(bad: str, hint: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        validate_branch(bad)
    assert hint in caught.value.message and "\n" not in caught.value.message


def test_sanitize_makes_git_branches_valid() -> None:
    assert sanitize("Feature/JIRA-12_fix.parser") == "feature-jira-12_fix-parser"
    assert sanitize("dependabot/pip/numpy--2.0") == "dependabot-pip-numpy-2-0"
    assert validate_branch(sanitize("x" * 80)) == "x" * 40
    assert sanitize("///") == ""


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


def test_auto_is_the_git_branch_sanitized_and_main_means_production(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    assert resolve_branch("auto", repo) is None  # on main: no branch (production's own line)
    _git(repo, "checkout", "-q", "-b", "Feature/Better-Model")
    (repo / "sub").mkdir()
    assert resolve_branch("auto", repo / "sub") == "feature-better-model"
    assert resolve_branch("fix-1", repo) == "fix-1" and resolve_branch(None) is None
    with pytest.raises(InvalidInputError, match="not on a git branch"):
        resolve_branch("auto", tmp_path)


def test_settings_branch_is_validated_and_sets_where_runs_go() -> None:
    on = load_settings(project="fraud", branch="feature-x", user="alice")
    assert on.write_namespace == "project:fraud/branch:feature-x" == on.read_namespace
    off = load_settings(project="fraud", user="alice")
    assert off.write_namespace == "user:alice"
    with pytest.raises(
        ConfigurationError, match=r"SHIPYARD_BRANCH: invalid branch name 'Feature/X'.*'feature-x'"
    ):
        load_settings(branch="Feature/X")
    with pytest.raises(InvalidInputError, match="needs a project"):
        _ = load_settings(branch="x", project=None).write_namespace


def test_namespaces_names_and_slots_round_trip() -> None:
    ns = branch_namespace("fraud", "feature-x")
    assert validate_namespace(ns) == ns and branch_of_namespace(ns) == ("fraud", "feature-x")
    assert validate_namespace("user:alice") == "user:alice" and branch_of_namespace("user:alice") is None
    for bad in ("project:fraud/env:x", "project:Fraud/branch:x", "project:fraud/branch:main", "a/b"):
        with pytest.raises(InvalidInputError):
            validate_namespace(bad)
    stored = branch_object_name("fraud", "feature-x")
    assert stored == "fraud:branch:feature-x" and branch_object_name(stored, "feature-x") == stored
    assert branch_of_name(stored) == "feature-x" and base_name(stored) == "fraud"
    assert branch_of_name("fraud") is None and base_name("fraud") == "fraud"
    assert slot_name("staging", "feature-x") == "staging--feature-x"
    assert split_slot("staging--feature-x") == ("staging", "feature-x") and split_slot("staging") == (
        "staging",
        None,
    )
    assert slot_name("staging", None) == "staging"
    with pytest.raises(InvalidInputError, match="shorter branch"):
        slot_name("s" * 40, "b" * 30)


def test_scopes_and_the_branch_rule_of_access() -> None:
    assert check_scope("project:fraud/branch:feature-x") == "project:fraud/branch:feature-x"
    assert scope_of_namespace("project:fraud/branch:feature-x") == "project:fraud/branch:feature-x"
    assert scope_of_namespace("project:fraud") == "project:fraud"
    maintainer = Access("bob", (Grant("project:fraud", frozenset(PERMISSIONS)),))
    on = Access("bob", maintainer.grants, branch="feature-x")
    # a project binding reaches the branch; on the branch, writes reach only the branch
    assert maintainer.can("run:write", "project:fraud/branch:feature-x")
    assert on.can("run:write", "project:fraud/branch:feature-x")
    assert on.can("deploy:apply", "project:fraud/env:staging--feature-x")
    for scope in ("project:fraud", "project:fraud/env:production", "project:fraud/branch:other"):
        assert not on.can("model:write", scope) and maintainer.can("model:write", scope)
    assert not on.can("deploy:apply", "project:fraud/env:staging--other")
    # reading production from a branch is fine
    assert on.can("run:read", "project:fraud") and on.can("model:read", "project:fraud")
    why = may_change(on, "alias:set", "project:fraud", "bob")
    assert why is not None and "on branch 'feature-x'" in why and "production" in why
