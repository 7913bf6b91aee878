"""A flow that scores a Parquet file with batch inference (used by test_batch)."""

from __future__ import annotations

from shipyard.flows import flow, step
from shipyard.serving import batch_predict


@step
def score(source: str, target: str) -> int:
    return batch_predict("models:/fraud@champion", source, target, chunk_rows=1_000).rows


@flow
def scoring(source: str, target: str) -> int:
    return score(source, target)  # type: ignore[return-value]
