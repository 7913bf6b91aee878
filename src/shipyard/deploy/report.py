"""A plan as text, Terraform-style: one block per change (``+`` create, ``~`` update, ``-``
delete) with its field changes, the policy verdicts, and a summary line."""

from __future__ import annotations

import json
from typing import Any

from shipyard.deploy.plan import Plan

_SIGNS = {"create": "+", "update": "~", "delete": "-"}


def _value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def plan_text(plan: Plan, *, passing: bool = False) -> str:
    """The plan as lines of text; ``passing`` lists the verdicts that pass too (else only a count)."""
    where = f"{plan.project}/{plan.environment}"
    commit = f", commit {plan.commit[:12]}" if plan.commit else ""
    lines = [f"Plan for {where} (spec {plan.spec_hash[:12]}{commit}):", ""]
    if not plan.changes:
        lines.append("  No changes: the environment matches the spec.")
    for change in plan.changes:
        lines.append(f"  {_SIGNS[change.action]} {change.kind} {change.name}")
        for f in change.fields:
            if change.action == "create":
                lines.append(f"      {f.path}: {_value(f.new)}")
            elif change.action == "update":
                lines.append(f"      {f.path}: {_value(f.old)} -> {_value(f.new)}")
        if change.requires:
            lines.append(f"      requires: {', '.join(change.requires)}")
    refusals = plan.refusals
    if plan.verdicts:
        lines += ["", "Policy verdicts:"]
        shown = plan.verdicts if passing else refusals
        for verdict in shown:
            mark = {True: "ok  ", False: "FAIL", None: "??  "}[verdict.ok]
            lines.append(f"  {mark} {verdict.text if verdict.ok is not True else verdict.message}")
        hidden = len(plan.verdicts) - len(shown)
        if hidden:
            lines.append(f"  ok   {hidden} verdict(s) pass")
    counts = plan.counts()
    summary = (
        f"Plan: {counts['create']} to create, {counts['update']} to update, {counts['delete']} to delete, "
        f"{plan.unchanged} unchanged."
    )
    if refusals:
        summary += f" Refused by {len(refusals)} verdict(s): apply will not proceed."
    return "\n".join([*lines, "", summary])
