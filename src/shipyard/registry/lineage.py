"""Lineage of a model package: the artifacts its source task consumed, and, transitively, what the
tasks that produced those artifacts consumed (depth 1 = direct input of the source task)."""

from __future__ import annotations

from shipyard.core.errors import NotFoundError
from shipyard.metadata.base import MetadataStore
from shipyard.metadata.model_registry import LineageRecord

MAX_DEPTH = 64


def collect_lineage(metadata: MetadataStore, task_id: str | None) -> list[LineageRecord]:
    """Upstream artifacts of ``task_id``, nearest first (breadth-first; each artifact once)."""
    if task_id is None:
        return []
    records: list[LineageRecord] = []
    seen_artifacts: set[str] = set()
    seen_tasks = {task_id}
    frontier = [task_id]
    steps: dict[str, str | None] = {}
    depth = 1
    while frontier and depth <= MAX_DEPTH:
        next_frontier: list[str] = []
        for current in frontier:
            for edge in metadata.task_inputs(current):
                if edge.artifact_id in seen_artifacts:
                    continue
                seen_artifacts.add(edge.artifact_id)
                try:
                    art = metadata.get_artifact(edge.artifact_id)
                except NotFoundError:
                    continue  # deleted since: lineage keeps what still exists
                producer = art.task_id
                if producer and producer not in steps:
                    try:
                        steps[producer] = metadata.get_task(producer).step
                    except NotFoundError:
                        steps[producer] = None
                records.append(
                    LineageRecord(
                        artifact_id=art.id,
                        name=art.name,
                        digest=art.digest,
                        run_id=art.run_id,
                        task_id=producer,
                        serializer=art.serializer,
                        depth=depth,
                        producer_step=steps.get(producer) if producer else None,
                    )
                )
                if producer and producer not in seen_tasks:
                    seen_tasks.add(producer)
                    next_frontier.append(producer)
        frontier = next_frontier
        depth += 1
    return records
