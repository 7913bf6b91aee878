"""The rich notebook displays (``_repr_html_``) of the SDK's records: runs, tasks, model versions,
registered models, datasets and their versions. Pure functions of the record (read by attribute,
so this module imports no layer above core); every value is escaped (:mod:`shipyard.core.html`).
Displays that need the stores (a run's metric charts, a flow run's tasks) are built where the
stores are: :mod:`shipyard.notebook`, :mod:`shipyard.runtime.reprs`.
"""

from __future__ import annotations

import json
from typing import Any

from shipyard.core.html import esc, grid, kv_table, mapping_rows, repr_block, section, status


def _json(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)


def run_body(run: Any) -> str:
    duration = run.duration_s
    facts = [
        ("id", run.id),
        ("status", status(run.status)),
        ("namespace", run.namespace),
        ("user", run.user),
        ("flow", run.flow_name or ""),
        ("started", run.start_time),
        ("duration", f"{duration:.1f} s" if duration is not None else ""),
    ]
    body = kv_table(facts, raw=("status",))
    body += section("Parameters", kv_table((k, _json(v)) for k, v in mapping_rows(run.params)))
    body += section("Metrics (latest)", kv_table(mapping_rows(run.metrics)))
    body += section("Tags", kv_table(mapping_rows(run.tags)))
    if run.error:
        body += section("Error", f"<pre>{esc(str(run.error)[-2000:])}</pre>")
    return body


def run_html(run: Any, extra: str = "") -> str:
    """A run: status, parameters, latest metrics, tags, error (``extra``: more built HTML)."""
    return repr_block(f"Run {run.name}", run_body(run) + extra)


def tasks_grid(tasks: Any) -> str:
    rows = [
        [
            t.key,
            status(t.status),
            t.attempts,
            f"{t.duration_s:.2f} s" if t.duration_s is not None else "",
            t.node or "",
        ]
        for t in tasks
    ]
    return grid(["task", "status", "attempts", "duration", "node"], rows, raw_columns=(1,))


def task_html(task: Any) -> str:
    facts = [
        ("step", task.step),
        ("status", status(task.status)),
        ("attempts", task.attempts),
        ("started", task.started_at),
        ("ended", task.ended_at),
        ("node", task.node or ""),
    ]
    body = kv_table(facts, raw=("status",))
    if task.error:
        body += section("Error", f"<pre>{esc(str(task.error)[-2000:])}</pre>")
    return repr_block(f"Task {task.key}", body)


def model_version_html(version: Any) -> str:
    facts = [
        ("uri", version.uri),
        ("flavor", version.flavor),
        ("aliases", ", ".join(version.aliases)),
        ("approved", f"yes, by {version.approved_by}" if version.approved else "no"),
        ("run", version.run_id or ""),
        ("created", version.created_at),
        ("created by", version.created_by),
        ("package", f"{version.package_digest[:12]}, {version.package_size:,} bytes"),
        ("unsafe to load", "yes" if version.unsafe else "no"),
    ]
    body = kv_table(facts)
    if version.description:
        body += section("Description", f"<p>{esc(version.description[:2000])}</p>")
    signature = version.signature if isinstance(version.signature, dict) else {}
    inputs = signature.get("inputs") if isinstance(signature.get("inputs"), list) else []
    if inputs:
        cols = [[c.get("name", ""), c.get("type", "")] for c in inputs if isinstance(c, dict)]
        body += section("Signature: inputs", grid(["column", "type"], cols))
    body += section("Tags", kv_table(mapping_rows(version.tags)))
    return repr_block(f"Model version {version.model_name} v{version.version}", body)


def registered_model_html(model: Any) -> str:
    facts = [
        ("latest version", model.latest_version),
        ("aliases", ", ".join(f"@{a} → v{v}" for a, v in sorted(model.aliases.items()))),
        ("project", model.project or ""),
        ("created", model.created_at),
    ]
    body = kv_table(facts)
    if model.description:
        body += section("Description", f"<p>{esc(model.description[:2000])}</p>")
    return repr_block(f"Model {model.name}", body)


def dataset_html(dataset: Any) -> str:
    facts = [
        ("latest version", dataset.latest_version),
        ("aliases", ", ".join(f"@{a} → v{v}" for a, v in sorted(dataset.aliases.items()))),
        ("project", dataset.project or ""),
        ("created by", dataset.created_by),
        ("updated", dataset.updated_at),
    ]
    return repr_block(f"Dataset {dataset.name}", kv_table(facts))


def dataset_version_html(version: Any) -> str:
    facts = [
        ("uri", version.uri),
        ("rows", version.num_rows),
        ("files", version.num_files),
        ("size", f"{version.size:,} bytes"),
        ("kind", f"{version.kind} (from {version.source_format})"),
        ("aliases", ", ".join(version.aliases)),
        ("run", version.run_id or ""),
        ("created", version.created_at),
    ]
    body = kv_table(facts)
    rows = []
    for column in version.columns:
        if not isinstance(column, dict):
            continue
        name = str(column.get("name", ""))
        stats = version.stats.get(name, {}) if isinstance(version.stats, dict) else {}
        stats = stats if isinstance(stats, dict) else {}
        tags: list[Any] = column["tags"] if isinstance(column.get("tags"), list) else []
        nulls = stats.get("nulls", stats.get("null_count"))
        kind = column.get("type", "")
        rows.append(
            [
                name,
                kind,
                ", ".join(map(str, tags)),
                nulls,
                stats.get("min"),
                stats.get("max"),
                stats.get("mean"),
            ]
        )
    if rows:
        body += section("Columns", grid(["column", "type", "tags", "nulls", "min", "max", "mean"], rows))
    return repr_block(f"Dataset {version.dataset_name} v{version.version}", body)
