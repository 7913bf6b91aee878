"""``shipyard models``: registered models, versions, aliases, approval, tags and model cards."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from shipyard.cli._output import console, fmt_size, fmt_time, line, plain, print_json, printable
from shipyard.cli.main import state

if TYPE_CHECKING:
    from shipyard.metadata.model_registry import ModelVersion, RegisteredModel
    from shipyard.registry.card import ModelCard
    from shipyard.registry.service import ModelRegistry

app = typer.Typer(help="Registered models: versions, aliases, approval, model cards.", no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _registry(ctx: typer.Context) -> ModelRegistry:
    from shipyard.registry.service import ModelRegistry

    return ModelRegistry(state(ctx).stores)


def _version_arg(text: str) -> int:
    from shipyard.registry.uri import parse_version

    return parse_version(text)


def _model_json(model: RegisteredModel) -> dict[str, object]:
    from shipyard.cli._output import to_jsonable

    return dict(to_jsonable(model))


def _version_row(v: ModelVersion) -> list[str]:
    return [
        str(v.version),
        ", ".join("@" + a for a in v.aliases) or "-",
        "yes" if v.approved else "no",
        v.flavor + (" (unsafe)" if v.unsafe else ""),
        (v.run_id or "-")[:12],
        v.package_digest[:12],
        fmt_size(v.package_size),
        fmt_time(v.created_at),
    ]


@app.command("list")
def list_models(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Every registered model with its latest version and aliases."""
    models = _registry(ctx).list_models()
    if as_json:
        print_json([_model_json(m) for m in models])
        return
    from rich.table import Table

    out = console()
    if not models:
        out.print("no registered models yet: shipyard.log_model(..., register=True) creates one", style="dim")
        return
    table = Table(title="registered models", title_justify="left", box=None, pad_edge=False)
    for column in ("NAME", "LATEST", "ALIASES", "DESCRIPTION", "UPDATED (UTC)"):
        table.add_column(column)
    for m in models:
        aliases = ", ".join(f"@{a}={v}" for a, v in sorted(m.aliases.items())) or "-"
        latest = str(m.latest_version) if m.latest_version is not None else "-"
        table.add_row(m.name, latest, aliases, m.description[:60] or "-", fmt_time(m.updated_at))
    out.print(table)


@app.command("show")
def show(
    ctx: typer.Context,
    spec: Annotated[str, typer.Argument(help="NAME, NAME/VERSION, NAME@ALIAS or NAME/latest.")],
    as_json: JsonOpt = False,
    markdown: Annotated[bool, typer.Option("--markdown", help="Print the model card as Markdown.")] = False,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the Markdown card here.")
    ] = None,
) -> None:
    """A model's versions (NAME), or one version's model card (NAME/VERSION, NAME@ALIAS)."""
    from shipyard.registry.card import build_card, card_markdown
    from shipyard.registry.uri import parse_model_spec

    registry = _registry(ctx)
    ref = parse_model_spec(spec)
    if ref.name is None:
        from shipyard.core.errors import InvalidInputError

        raise InvalidInputError(
            f"{spec!r} is a run's package; register it first (`shipyard models register`)"
        )
    whole_model = ref.latest and "/" not in spec
    if whole_model and not (markdown or output):
        model = registry.get_model(ref.name)
        versions = registry.list_versions(ref.name)
        if as_json:
            print_json({**_model_json(model), "versions": versions})
            return
        _print_model(model, versions)
        return
    card = build_card(registry, registry.resolve(ref))
    if output is not None:
        output.write_text(card_markdown(card), encoding="utf-8")
        console().print(f"wrote the model card of {card.version.uri} to {output}", markup=False)
        return
    if markdown:
        typer.echo(printable(card_markdown(card), multiline=True), nl=False)
        return
    if as_json:
        print_json(card.to_dict())
        return
    _print_card(card)


def _print_card(card: ModelCard) -> None:
    from rich.panel import Panel
    from rich.table import Table

    out = console()
    v = card.version
    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold")
    head.add_column()
    approved = f"yes, by {v.approved_by} at {fmt_time(v.approved_at)}" if v.approved else "no"
    rows = [
        ("uri", v.uri),
        ("flavor", v.flavor + ("  (pickle-based: unsafe)" if v.unsafe else "")),
        ("package sha256", f"{v.package_digest} ({fmt_size(v.package_size)})"),
        ("aliases", ", ".join("@" + a for a in v.aliases) or "-"),
        ("approved", approved),
        ("registered", f"{fmt_time(v.created_at)} by {v.created_by}"),
        (
            "source run",
            f"{v.run_id or '-'}" + (f" ({card.run_name}, {card.run_status})" if card.run_name else ""),
        ),
        ("source task", v.task_id or "-"),
    ]
    for key, value in rows:
        head.add_row(key, plain(value))
    head.add_row("description", plain(card.description or "-", multiline=True))
    head.add_row(
        "intended use", plain(card.intended_use or "- (set the version tag intended_use)", multiline=True)
    )
    title = plain(f"model card: {v.model_name} v{v.version}")  # a str title would be read as markup
    out.print(Panel(head, title=title, title_align="left", expand=False))
    if card.metrics or card.params:
        table = Table(title="run metrics and params", title_justify="left", box=None, pad_edge=False)
        table.add_column("KEY")
        table.add_column("VALUE")
        for key, val in sorted(card.metrics.items()):
            table.add_row(f"metrics.{key}", f"{val:.6g}")
        for key, p in sorted(card.params.items()):
            table.add_row(f"params.{key}", str(p))
        out.print(table)
    sig = Table(title="signature", title_justify="left", box=None, pad_edge=False)
    for column in ("COLUMN", "TYPE", "SHAPE"):
        sig.add_column(column)
    for col in v.signature.get("inputs", []):
        sig.add_row(str(col["name"]), str(col["type"]), str(col.get("shape") or "-"))
    out.print(sig)
    if card.lineage:
        lin = Table(title="lineage (what fed this version)", title_justify="left", box=None, pad_edge=False)
        for column in ("DEPTH", "ARTIFACT", "STEP", "RUN", "SHA256"):
            lin.add_column(column)
        for r in card.lineage:
            lin.add_row(str(r.depth), r.name, r.producer_step or "-", r.run_id[:12], r.digest[:12])
        out.print(lin)


def _print_model(model: RegisteredModel, versions: list[ModelVersion]) -> None:
    from rich.table import Table

    out = console()
    out.print(line((model.name, "bold"), "  ", model.description or ""))
    if model.tags:
        out.print("tags: " + ", ".join(f"{k}={v}" for k, v in sorted(model.tags.items())), markup=False)
    protected = ", ".join("@" + a for a in model.protected_aliases) or "-"
    out.print(f"protected aliases (approved versions only): {protected}", markup=False)
    table = Table(box=None, pad_edge=False)
    for column in ("VERSION", "ALIASES", "APPROVED", "FLAVOR", "RUN", "SHA256", "SIZE", "CREATED (UTC)"):
        table.add_column(column)
    for v in versions:
        table.add_row(*_version_row(v))
    out.print(table)


@app.command("register")
def register(
    ctx: typer.Context,
    source: Annotated[str, typer.Argument(help="RUN_ID/ARTIFACT (or runs:/RUN_ID/ARTIFACT).")],
    name: Annotated[str, typer.Option("--name", "-n", help="The registered model's name.")],
    description: Annotated[str, typer.Option("--description", "-d", help="The version's description.")] = "",
    as_json: JsonOpt = False,
) -> None:
    """Register a logged model package as the next version of a model."""
    from shipyard.core.errors import InvalidInputError

    text = source[len("runs:/") :] if source.startswith("runs:/") else source
    run_id, sep, artifact = text.partition("/")
    if not sep or not run_id or not artifact:
        raise InvalidInputError(f"register needs RUN_ID/ARTIFACT (e.g. 0193ab.../model), got {source!r}")
    version = _registry(ctx).register(run_id, artifact, name, description=description)
    if as_json:
        print_json(version)
        return
    console().print(f"registered {version.uri} (sha256 {version.package_digest[:12]})", markup=False)


@app.command("alias")
def alias(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Model name.")],
    version: Annotated[str, typer.Argument(help="Version number.")],
    alias_name: Annotated[str, typer.Argument(metavar="ALIAS", help="Alias, e.g. champion or candidate.")],
    as_json: JsonOpt = False,
) -> None:
    """Point ALIAS at VERSION (creating or moving it); the move is recorded with who and when."""
    event = _registry(ctx).set_alias(name, alias_name, _version_arg(version))
    if as_json:
        print_json(event)
        return
    moved = f" (was {event.old_version})" if event.old_version is not None else ""
    console().print(f"models:/{name}@{alias_name} -> version {event.new_version}{moved}", markup=False)


@app.command("unalias")
def unalias(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Model name.")],
    alias_name: Annotated[str, typer.Argument(metavar="ALIAS")],
    as_json: JsonOpt = False,
) -> None:
    """Remove an alias (a protected alias keeps its protection)."""
    event = _registry(ctx).delete_alias(name, alias_name)
    if as_json:
        print_json(event)
        return
    console().print(f"removed models:/{name}@{alias_name} (was version {event.old_version})", markup=False)


@app.command("protect")
def protect(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Model name.")],
    alias_name: Annotated[str, typer.Argument(metavar="ALIAS")],
    off: Annotated[bool, typer.Option("--off", help="Remove the protection.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Protect an alias: it may then only point at approved versions."""
    event = _registry(ctx).protect_alias(name, alias_name, not off)
    if as_json:
        print_json(event)
        return
    console().print(f"@{alias_name} of {name} is {'not ' if off else ''}protected", markup=False)


@app.command("approve")
def approve(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Model name.")],
    version: Annotated[str, typer.Argument(help="Version number.")],
    revoke: Annotated[bool, typer.Option("--revoke", help="Withdraw the approval.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Approve a version (needed before a protected alias such as @champion may point at it)."""
    v = _registry(ctx).approve(name, _version_arg(version), not revoke)
    if as_json:
        print_json(v)
        return
    console().print(
        f"{v.uri} {'approved by ' + str(v.approved_by) if v.approved else 'is not approved'}", markup=False
    )


@app.command("tag")
def tag(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Model name.")],
    version: Annotated[str, typer.Argument(help="Version number.")],
    pairs: Annotated[list[str], typer.Argument(metavar="KEY=VALUE...", help="Tags to set.")],
    as_json: JsonOpt = False,
) -> None:
    """Set tags on a version (intended_use=... shows up in the model card)."""
    from shipyard.core.errors import InvalidInputError

    tags: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise InvalidInputError(f"tag {pair!r} must look like KEY=VALUE")
        tags[key] = value
    v = _registry(ctx).tag_version(name, _version_arg(version), tags)
    if as_json:
        print_json(v)
        return
    console().print(
        f"{v.uri} tags: " + ", ".join(f"{k}={val}" for k, val in sorted(v.tags.items())), markup=False
    )


@app.command("delete-version")
def delete_version(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Model name.")],
    version: Annotated[str, typer.Argument(help="Version number.")],
    as_json: JsonOpt = False,
) -> None:
    """Delete a version (refused while an alias points at it; its number is never reused)."""
    number = _version_arg(version)
    _registry(ctx).delete_version(name, number)
    if as_json:
        print_json({"model": name, "version": number, "deleted": True})
        return
    console().print(f"deleted models:/{name}/{number}", markup=False)


@app.command("history")
def history(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Model name.")],
    alias_name: Annotated[str | None, typer.Argument(metavar="[ALIAS]")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Who moved which alias, when, from which version to which."""
    registry = _registry(ctx)
    events = registry.store.alias_history(registry.get_model(name).name, alias_name)
    if as_json:
        print_json(events)
        return
    from rich.table import Table

    table = Table(box=None, pad_edge=False)
    for column in ("WHEN (UTC)", "ALIAS", "ACTION", "FROM", "TO", "BY"):
        table.add_column(column)
    for e in events:
        old = str(e.old_version) if e.old_version is not None else "-"
        new = str(e.new_version) if e.new_version is not None else "-"
        table.add_row(fmt_time(e.at), "@" + e.alias, e.action, old, new, e.user)
    console().print(table)
