"""Write a synthetic prediction log (the layout of :mod:`shipyard.serving.predlog`) for tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq


def write_log(
    log_dir: Path,
    deployment: str,
    *,
    ts_us: np.ndarray,
    arm: np.ndarray,
    prediction: np.ndarray,
    latency_ms: np.ndarray,
    version: tuple[int, int] = (1, 2),
    role: np.ndarray | None = None,
    part: int = 0,
) -> list[str]:
    """One segment per day; returns the request ids (``r-<part>-<i>``)."""
    n = len(ts_us)
    ids = np.char.add(f"r-{part}-", np.arange(n).astype(str)).astype(object)
    table = pa.table(
        {
            "request_id": pa.array(ids, pa.string()),
            "ts": pa.array(ts_us.astype("datetime64[us]"), pa.timestamp("us", tz="UTC")),
            "deployment": pa.array([deployment] * n, pa.string()),
            "model": pa.array(["fraud"] * n, pa.string()),
            "version": pa.array(np.where(arm == 1, version[1], version[0]), pa.int64()),
            "role": pa.array(role if role is not None else np.full(n, "primary", dtype=object), pa.string()),
            "latency_ms": pa.array(latency_ms, pa.float64()),
            "row": pa.array(np.zeros(n, dtype=np.int32)),
            "arm": pa.array(np.where(arm == 1, "challenger", "control").astype(object), pa.string()),
            "prediction": pa.array(prediction),
        }
    )
    days = ts_us.astype("datetime64[us]").astype("datetime64[D]")
    for day in np.unique(days):
        folder = log_dir / deployment / str(day)
        folder.mkdir(parents=True, exist_ok=True)
        pq.write_table(table.filter(pa.array(days == day)), folder / f"000000-{part}-000001.parquet")
    return [str(i) for i in ids]
