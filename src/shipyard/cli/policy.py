"""``shipyard policy create | list | show | delete``: data policies (column masks and row filters
on a dataset or feature view, bound to users, groups, roles or tokens).

    shipyard policy create eu-analysts --dataset tx --subject group:analysts \\
        --column email=mask:hash --column ssn=hide --rows "region = 'EU'"

Against a server this needs ``policy:manage`` (admins). A policy never changes: delete it and
create it again to change it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import typer

from shipyard.cli._output import console, fmt_time, plain, print_json
from shipyard.cli.main import state

if TYPE_CHECKING:
    from shipyard.metadata.policies import PolicyStore
    from shipyard.security.data_policy import DataPolicy

app = typer.Typer(help="Data policies: column masks and row filters.", no_args_is_help=True)
_JSON = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _store(ctx: typer.Context) -> PolicyStore:
    from shipyard.metadata.policies import open_policy_store

    return open_policy_store(state(ctx).stores.metadata)


def _say(text: str) -> None:
    console().print(plain(text), highlight=False)


def _summary(policy: DataPolicy) -> dict[str, object]:
    return {
        "name": policy.name,
        "target": f"{policy.target_kind}:{policy.target}",
        "subjects": list(policy.subjects),
        "columns": dict(policy.columns),
        "rows": policy.row_filter,
        "description": policy.description,
        "created_by": policy.created_by,
        "created_at": policy.created_at,
    }


@app.command("create")
def create(  # noqa: PLR0917
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The policy's name (lower-case, digits, '-', '_', '.').")],
    dataset: Annotated[str | None, typer.Option("--dataset", help="The dataset it governs.")] = None,
    feature_view: Annotated[
        str | None, typer.Option("--feature-view", help="The feature view it governs.")
    ] = None,
    subject: Annotated[
        list[str] | None,
        typer.Option("--subject", "-s", help="user:NAME, group:NAME, role:NAME or token:ID; repeatable."),
    ] = None,
    column: Annotated[
        list[str] | None,
        typer.Option(
            "--column", "-c", help="COLUMN=allow|hide|mask:hash|mask:redact|mask:partial; repeatable."
        ),
    ] = None,
    rows: Annotated[
        str | None, typer.Option("--rows", help="Row filter its subjects see, e.g. \"region = 'EU'\".")
    ] = None,
    description: Annotated[str, typer.Option("--description", "-d")] = "",
    as_json: _JSON = False,
) -> None:
    """Create a policy on one dataset or feature view."""
    from shipyard.core.errors import InvalidInputError
    from shipyard.data.rowfilter import parse_row_filter
    from shipyard.security.data_policy import DataPolicy, check_policy, parse_column_rules

    if (dataset is None) == (feature_view is None):
        raise InvalidInputError("name what the policy governs: --dataset NAME or --feature-view NAME")
    kind, target = ("dataset", dataset) if dataset is not None else ("feature_view", feature_view)
    assert target is not None
    policy = DataPolicy(
        name=name,
        target_kind=kind,
        target=target,
        subjects=tuple(subject or ()),
        columns=parse_column_rules(column or ()),
        row_filter=rows,
        description=description,
        created_by=state(ctx).settings.user,
        created_at=datetime.now(UTC),
    )
    check_policy(policy)
    if rows is not None:
        parse_row_filter(rows)
    created = _store(ctx).create_policy(policy)
    if as_json:
        print_json(_summary(created))
        return
    _say(f"created policy {created.name} on {created.target_kind} {created.target}")


@app.command("list")
def list_policies(
    ctx: typer.Context,
    dataset: Annotated[str | None, typer.Option("--dataset", help="Only this dataset's.")] = None,
    feature_view: Annotated[str | None, typer.Option("--feature-view", help="Only this view's.")] = None,
    as_json: _JSON = False,
) -> None:
    """The policies, by name."""
    from rich.table import Table

    kind = "dataset" if dataset is not None else "feature_view" if feature_view is not None else None
    found = _store(ctx).list_policies(target_kind=kind, target=dataset or feature_view)
    if as_json:
        print_json([_summary(p) for p in found])
        return
    if not found:
        _say("no data policies")
        return
    table = Table("policy", "target", "subjects", "columns", "rows", "created")
    for p in found:
        table.add_row(
            plain(p.name),
            plain(f"{p.target_kind}:{p.target}"),
            plain(", ".join(p.subjects)),
            plain(", ".join(f"{c}={a}" for c, a in sorted(p.columns.items()))),
            plain(p.row_filter or ""),
            fmt_time(p.created_at),
        )
    console().print(table)


@app.command("show")
def show(ctx: typer.Context, name: Annotated[str, typer.Argument()], as_json: _JSON = False) -> None:
    """One policy."""
    found = _store(ctx).get_policy(name)
    if as_json:
        print_json(_summary(found))
        return
    for key, value in _summary(found).items():
        shown = fmt_time(value) if isinstance(value, datetime) else value
        _say(f"{key}: {shown if shown not in (None, '', [], {}) else '-'}")


@app.command("delete")
def delete(ctx: typer.Context, name: Annotated[str, typer.Argument()]) -> None:
    """Delete a policy (reads it governed are no longer restricted by it)."""
    _store(ctx).delete_policy(name)
    _say(f"deleted policy {name}")
