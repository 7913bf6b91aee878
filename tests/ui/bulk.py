"""Fill a SQL store with many runs fast: the store's own tables and row codecs, one multi-row
insert per table per batch of thousands of runs (one transaction per run would take minutes)."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

from shipyard.core.clock import utcnow
from shipyard.core.ids import new_id
from shipyard.metadata.base import MetadataStore

FLOWS = ("train_flow", "etl_flow", "eval_flow", None)
NAMESPACES = ("user:alice", "user:bob", "team:vision", "team:nlp")
STATUSES = ("succeeded", "succeeded", "succeeded", "failed", "running")


def populate(metadata: MetadataStore, count: int, batch: int = 10_000, seed: int = 7) -> None:
    from shipyard.metadata.sql import codec, schema
    from shipyard.metadata.sql.metric_chunks import chunks_of
    from shipyard.metadata.sql.store import SqlMetadataStore

    assert isinstance(metadata, SqlMetadataStore)
    rng = random.Random(seed)
    start = utcnow() - timedelta(days=30)
    for first in range(0, count, batch):
        runs: list[dict[str, Any]] = []
        params: list[dict[str, Any]] = []
        tags: list[dict[str, Any]] = []
        chunks: list[dict[str, Any]] = []
        latest: list[dict[str, Any]] = []
        for i in range(first, min(first + batch, count)):
            run_id = new_id()
            began = start + timedelta(seconds=i * 20)
            status = STATUSES[i % len(STATUSES)]
            ended = None if status == "running" else began + timedelta(seconds=rng.randint(5, 900))
            runs.append(
                {
                    "id": run_id, "name": f"run-{i}", "namespace": NAMESPACES[i % len(NAMESPACES)],
                    "user": "alice", "status": status, "start_time": began,
                    "end_time": ended,
                    "heartbeat_at": None, "flow_name": FLOWS[i % len(FLOWS)], "flow_spec": None,
                    "code_version": None, "origin_run_id": None, "error": None,
                }
            )  # fmt: skip
            params += [
                codec.param_row(run_id, "lr", rng.choice((0.1, 0.01, 0.001))),
                codec.param_row(run_id, "epochs", rng.randint(1, 50)),
            ]
            tags.append({"run_id": run_id, "key": "team", "value": rng.choice(("vision", "nlp"))})
            for key in ("loss", "acc"):
                value = rng.random()
                columns = codec.MetricColumns([key], [value], [0], [0])
                chunks += [{k: v for k, v in c.items() if k[0] != "_"} for c in chunks_of(run_id, columns)]
                latest.append({"run_id": run_id, "key": key, "value": value, "step": 0, "timestamp": 0})
        with metadata._write() as conn:  # one transaction per batch
            for table, rows in (
                (schema.runs, runs),
                (schema.params, params),
                (schema.tags, tags),
                (schema.metric_chunks, chunks),
                (schema.latest_metrics, latest),
            ):
                conn.execute(table.insert(), rows)
