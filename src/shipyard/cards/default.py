"""The default card every task has with no code: what ran (step, attempt, node, times, duration),
the resources it asked for, the run's parameters, its inputs and its outputs.

Built when it is shown, from the records the run already keeps (the task row, its spec and its
artifact records), so it costs the run nothing; and joined after a step's own card, if it wrote
one (:func:`task_document`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from shipyard.core.entities import ArtifactRecord, Run, Task

HIDDEN = frozenset({"logs/stdout", "logs/stderr", "card"})
MAX_INPUT_TEXT = 200


def _size(num: int) -> str:
    value = float(num)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{num} B"  # pragma: no cover


def _artifact_summary(art: Mapping[str, Any]) -> tuple[str, str]:
    meta: Mapping[str, Any] = art["meta"] if isinstance(art.get("meta"), Mapping) else {}
    kind = str(meta.get("python_type") or art.get("serializer") or "")
    shape = meta.get("shape") or meta.get("rows")
    if shape is not None:
        kind += f" {shape}"
    size = art.get("size")
    return kind, _size(size) if isinstance(size, int) else ""


def _count_refs(entry: Any) -> tuple[int, int]:
    """(artifacts, total bytes) of a gathered input (nested lists of refs)."""
    if isinstance(entry, Mapping):
        art = entry.get("art")
        if isinstance(art, Mapping):
            art_size = art.get("size")
            return 1, art_size if isinstance(art_size, int) else 0
        entry = entry.get("gather") or entry.get("items") or []
    if isinstance(entry, list):
        counts = [_count_refs(e) for e in entry]
        return sum(c for c, _ in counts), sum(s for _, s in counts)
    return 0, 0


def input_rows(inputs: Mapping[str, Any]) -> list[list[Any]]:
    rows: list[list[Any]] = []
    for name, entry in sorted(inputs.items()):
        if isinstance(entry, Mapping) and "const" in entry:
            value = json.dumps(entry["const"], ensure_ascii=False, default=str)
            shown = value if len(value) <= MAX_INPUT_TEXT else value[: MAX_INPUT_TEXT - 1] + "…"
            rows.append([name, "constant", shown, ""])
        elif isinstance(entry, Mapping) and isinstance(entry.get("art"), Mapping):
            kind, size_text = _artifact_summary(entry["art"])
            rows.append([name, "artifact", kind, size_text])
        else:
            count, total = _count_refs(entry)
            rows.append([name, "gathered", f"{count:,} artifacts", _size(total)])
    return rows


def output_rows(records: Sequence[ArtifactRecord]) -> list[list[Any]]:
    rows = []
    for rec in records:
        if rec.name in HIDDEN:
            continue
        kind, size = _artifact_summary({"meta": rec.meta, "serializer": rec.serializer, "size": rec.size})
        rows.append([rec.name, kind, rec.serializer, size])
    return rows


def _when(value: Any) -> str:
    return "" if value is None else value.strftime("%Y-%m-%d %H:%M:%S UTC")


def _table(title: str, columns: list[str], rows: list[list[Any]]) -> dict[str, Any]:
    return {
        "type": "table",
        "title": title,
        "columns": columns,
        "rows": rows,
        "total_rows": len(rows),
        "total_columns": len(columns),
    }


def default_components(run: Run, task: Task, records: Sequence[ArtifactRecord]) -> list[dict[str, Any]]:
    """The default card's components for ``task`` of ``run`` (``records``: the task's artifacts)."""
    spec: Mapping[str, Any] = task.spec or {}
    opts: Mapping[str, Any] = spec["opts"] if isinstance(spec.get("opts"), Mapping) else {}
    duration = task.duration_s
    summary = [
        ["step", task.step],
        ["task", task.key],
        ["status", task.status.value],
        [
            "attempt",
            f"{task.attempts}"
            + (f" (retries allowed: {opts.get('retries')})" if opts.get("retries") else ""),
        ],
        ["node", task.node or ""],
        ["started", _when(task.started_at)],
        ["ended", _when(task.ended_at)],
        ["duration", f"{duration:.3f} s" if duration is not None else ""],
    ]
    if task.reused_from:
        summary.append(["reused from task", task.reused_from])
    components = [_table("Task", ["", ""], summary)]
    resources: Mapping[str, Any] = opts["resources"] if isinstance(opts.get("resources"), Mapping) else {}
    asked = [[k, v] for k, v in sorted(resources.items()) if v]
    if opts.get("timeout"):
        asked.append(["timeout_s", opts["timeout"]])
    components.append(_table("Resources", ["resource", "requested"], asked))
    params = [[k, json.dumps(v, ensure_ascii=False, default=str)] for k, v in sorted(run.params.items())]
    components.append(_table("Parameters (of the run)", ["name", "value"], params))
    inputs: Mapping[str, Any] = spec["inputs"] if isinstance(spec.get("inputs"), Mapping) else {}
    components.append(_table("Inputs", ["name", "from", "value or type", "size"], input_rows(inputs)))
    components.append(_table("Outputs", ["name", "type", "stored as", "size"], output_rows(records)))
    if task.error:
        components.append({"type": "text", "title": "Error", "text": task.error[-4000:]})
    return components


def task_document(
    run: Run, task: Task, records: Sequence[ArtifactRecord], own: Mapping[str, Any] | None
) -> dict[str, Any]:
    """What a task's card page shows: the step's own card (``own``, a stored document) if it wrote
    one, then the default card."""
    components: list[Any] = []
    title = f"{task.key} · {run.name}"
    if isinstance(own, Mapping):
        own_components = own.get("components")
        if isinstance(own_components, list):
            components.extend(own_components)
        if isinstance(own.get("title"), str) and own["title"]:
            title = own["title"]
        components.append({"type": "markdown", "text": "---\n\n## Task details", "cut": False})
    components.extend(default_components(run, task, records))
    return {"version": 1, "title": title, "components": components}
