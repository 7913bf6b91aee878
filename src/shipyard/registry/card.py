"""Model cards: what a version is, where it came from and how to use it, as data and as Markdown.

A card gathers the version's description (else the model's), its intended use (the version tag
``intended_use``, else the model tag of that name), the metrics and params of the source run, the
signature, the lineage, approval and aliases. ``shipyard models show`` renders it with Rich and
``--markdown`` / ``-o card.md`` export :func:`card_markdown`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from shipyard.core.errors import NotFoundError
from shipyard.metadata.model_registry import LineageRecord, ModelVersion, RegisteredModel
from shipyard.registry.service import ModelRegistry

INTENDED_USE_TAG = "intended_use"
_UNSAFE_NOTE = " (pickle-based: unsafe to load from untrusted sources)"


@dataclass(frozen=True)
class ModelCard:
    model: RegisteredModel
    version: ModelVersion
    description: str
    intended_use: str
    run_name: str | None
    run_status: str | None
    metrics: dict[str, float] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    lineage: list[LineageRecord] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        v = self.version
        return {
            "model": v.model_name,
            "version": v.version,
            "uri": v.uri,
            "description": self.description,
            "intended_use": self.intended_use,
            "flavor": v.flavor,
            "unsafe": v.unsafe,
            "package_digest": v.package_digest,
            "package_size": v.package_size,
            "approved": v.approved,
            "approved_by": v.approved_by,
            "approved_at": v.approved_at,
            "aliases": list(v.aliases),
            "tags": dict(v.tags),
            "created_by": v.created_by,
            "created_at": v.created_at,
            "source": {
                "run_id": v.run_id,
                "run_name": self.run_name,
                "run_status": self.run_status,
                "task_id": v.task_id,
                "artifact": v.artifact_name,
            },
            "metrics": dict(self.metrics),
            "params": dict(self.params),
            "signature": dict(v.signature),
            "lineage": [
                {
                    "artifact": r.name,
                    "artifact_id": r.artifact_id,
                    "digest": r.digest,
                    "run_id": r.run_id,
                    "step": r.producer_step,
                    "depth": r.depth,
                    "serializer": r.serializer,
                }
                for r in self.lineage
            ],
        }


def build_card(registry: ModelRegistry, version: ModelVersion) -> ModelCard:
    model = registry.store.get_model(version.model_name)
    run_name = run_status = None
    metrics: dict[str, float] = {}
    params: dict[str, Any] = {}
    if version.run_id:
        try:
            run = registry.stores.metadata.get_run(version.run_id)
            run_name, run_status = run.name, run.status.value
            metrics, params = dict(run.metrics), dict(run.params)
        except NotFoundError:
            run_status = "deleted"
    intended = version.tags.get(INTENDED_USE_TAG) or model.tags.get(INTENDED_USE_TAG) or ""
    return ModelCard(
        model=model,
        version=version,
        description=version.description or model.description,
        intended_use=intended,
        run_name=run_name,
        run_status=run_status,
        metrics=metrics,
        params=params,
        lineage=registry.store.version_lineage(version.model_name, version.version),
    )


def _md_escape(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _signature_rows(signature: dict[str, Any]) -> list[str]:
    rows = ["| column | type | shape |", "|---|---|---|"]
    for col in signature.get("inputs", []):
        shape = col.get("shape")
        rows.append(f"| {_md_escape(col['name'])} | {col['type']} | {shape if shape else '-'} |")
    return rows


def card_markdown(card: ModelCard) -> str:
    """The card as a Markdown document."""
    d = card.to_dict()
    v = card.version
    approved = f"yes (by {v.approved_by}, {v.approved_at:%Y-%m-%d %H:%M} UTC)" if v.approved_at else "no"
    lines = [
        f"# Model card: {v.model_name} v{v.version}",
        "",
        f"- **URI**: `{v.uri}`",
        f"- **Flavor**: {v.flavor}{_UNSAFE_NOTE if v.unsafe else ''}",
        f"- **Package sha256**: `{v.package_digest}` ({v.package_size} bytes)",
        f"- **Aliases**: {', '.join('@' + a for a in v.aliases) or '-'}",
        f"- **Approved**: {approved}",
        f"- **Registered**: {v.created_at:%Y-%m-%d %H:%M} UTC by {v.created_by}",
        "",
        "## Description",
        "",
        card.description or "_No description._",
        "",
        "## Intended use",
        "",
        card.intended_use or "_Not stated. Set the version tag `intended_use`._",
        "",
        "## Source",
        "",
        f"- Run: `{v.run_id or '-'}`" + (f" ({card.run_name}, {card.run_status})" if card.run_name else ""),
        f"- Task: `{v.task_id or '-'}`",
        f"- Artifact: `{v.artifact_name or '-'}`",
        "",
        "## Metrics",
        "",
    ]
    if card.metrics:
        lines += ["| metric | value |", "|---|---|"]
        lines += [f"| {_md_escape(k)} | {val:.6g} |" for k, val in sorted(card.metrics.items())]
    else:
        lines.append("_None recorded._")
    lines += ["", "## Parameters", ""]
    if card.params:
        lines += ["| param | value |", "|---|---|"]
        lines += [f"| {_md_escape(k)} | {_md_escape(val)} |" for k, val in sorted(card.params.items())]
    else:
        lines.append("_None recorded._")
    lines += ["", "## Signature", "", *_signature_rows(d["signature"])]
    outputs = d["signature"].get("outputs") or {}
    if outputs:
        lines += [
            "",
            f"Output: {outputs.get('kind', '?')} {outputs.get('type', '')} shape {outputs.get('shape', '')}",
        ]
    lines += ["", "## Lineage", ""]
    if card.lineage:
        lines += ["| depth | artifact | step | run | sha256 |", "|---|---|---|---|---|"]
        lines += [
            f"| {r.depth} | {_md_escape(r.name)} | {r.producer_step or '-'} "
            f"| `{r.run_id[:12]}` | `{r.digest[:12]}` |"
            for r in card.lineage
        ]
    else:
        lines.append("_No recorded inputs (logged outside a flow step)._")
    if v.tags:
        lines += ["", "## Tags", "", *[f"- `{k}`: {_md_escape(val)}" for k, val in sorted(v.tags.items())]]
    return "\n".join(lines) + "\n"
