"""Reading a task's card back: its stored document (bounded before it is decoded), the page that
shows it with the default card, and the version a live view polls for.

Used by the UI's card frame and by ``shipyard card get``, with the same stores interface (a local
store or a server's REST store alike).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from shipyard.artifacts.store import ArtifactStore
from shipyard.cards.current import ARTIFACT_NAME
from shipyard.cards.default import task_document
from shipyard.cards.model import MAX_DOCUMENT_BYTES
from shipyard.cards.render import render_document
from shipyard.core.entities import ArtifactRecord, Run, Task
from shipyard.metadata.base import MetadataStore

MAX_STORED_BYTES = MAX_DOCUMENT_BYTES + (1 << 20)  # a stored card past this is not decoded
MAX_DEPTH = 64


@dataclass(frozen=True)
class TaskCard:
    run: Run
    task: Task
    records: list[ArtifactRecord]  # the task's own artifact records
    record: ArtifactRecord | None  # its card's record (None: only the default card)

    @property
    def version(self) -> str:
        """Changes whenever what the card page shows may change (the card's digest, the task's
        status and attempt)."""
        digest = self.record.digest[:16] if self.record is not None else "default"
        return f"{digest}-{self.task.status.value}-{self.task.attempts}"


def find_task_card(metadata: MetadataStore, run: Run, task: Task) -> TaskCard:
    """The task's records and card; a failed task's come from its last attempt (its own records
    moved to the attempt's history)."""
    records = metadata.list_artifacts(run.id, task.id)
    if not records and task.attempts and not task.status.ok:
        history = metadata.list_task_attempts(task.id)
        records = list(history[-1].artifacts) if history else []
    record = next((r for r in records if r.name == ARTIFACT_NAME), None)
    return TaskCard(run, task, records, record)


def _depth_ok(node: Any, depth: int = 0) -> bool:
    if depth > MAX_DEPTH:
        return False
    if isinstance(node, list):
        return all(_depth_ok(v, depth + 1) for v in node)
    if isinstance(node, dict):
        return all(_depth_ok(v, depth + 1) for v in node.values())
    return True


def read_document(artifacts: ArtifactStore, record: ArtifactRecord) -> dict[str, Any] | str:
    """The stored card document, or a one-line reason it cannot be shown."""
    if record.size > MAX_STORED_BYTES:
        return (
            f"the stored card is {record.size:,} bytes, over the {MAX_STORED_BYTES >> 20} MiB a card may be"
        )
    data = artifacts.get_bytes(record.digest, name=f"card of task {record.task_id}")
    if len(data) > MAX_STORED_BYTES:
        return "the stored card is too large to show"
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError):
        return "the stored card is not valid JSON"
    if not isinstance(doc, dict) or not _depth_ok(doc):
        return "the stored card is not a card document"
    return doc


def card_page(artifacts: ArtifactStore, found: TaskCard) -> str:
    """The whole HTML page of a task's card (its own card, then the default card)."""
    own: dict[str, Any] | None = None
    note = ""
    if found.record is not None:
        read = read_document(artifacts, found.record)
        if isinstance(read, str):
            note = read
        else:
            own = read
    doc = task_document(found.run, found.task, found.records, own)
    if note:
        doc["components"].insert(0, {"type": "text", "title": "Card", "text": note})
    return render_document(doc)
