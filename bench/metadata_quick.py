"""Quick metadata-store timings (SQLite by default; pass a URL to time another backend).

.venv/bin/python bench/metadata_quick.py [URL]
"""

from __future__ import annotations

import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from shipyard.core.entities import Metric, RunCreate
from shipyard.core.ids import new_id
from shipyard.metadata import open_metadata_store


def main() -> None:
    tmp = tempfile.mkdtemp()
    url = sys.argv[1] if len(sys.argv) > 1 else f"sqlite:///{Path(tmp) / 'bench.db'}"
    store = open_metadata_store(url)
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    rng = random.Random(0)

    run = store.create_run(RunCreate(new_id(), "m", "user:bench", "bench", t0))
    batches = 20
    start = time.perf_counter()
    for b in range(batches):
        store.log_metrics(
            run.id, [Metric(f"k{i % 10}", rng.random(), b * 500 + i // 10, i) for i in range(5000)]
        )
    dt = time.perf_counter() - start
    print(f"log_metrics: {batches * 5000 / dt:,.0f} points/s ({dt / batches * 1000:.1f} ms per 5,000)")

    start = time.perf_counter()
    for i in range(1000):
        r = store.create_run(
            RunCreate(
                new_id(),
                f"r{i}",
                "user:bench",
                "bench",
                t0 + timedelta(seconds=i),
                params={f"p{j}": rng.random() for j in range(5)},
            )
        )
        store.log_metrics(
            r.id, [Metric(f"m{j}", rng.random()) for j in range(4)] + [Metric("acc", rng.random())]
        )
    print(f"1,000 runs with 5 params + 5 metrics: {time.perf_counter() - start:.2f} s")

    for i in range(9000):  # up to 10,000 runs, written faster through the same API
        r = store.create_run(
            RunCreate(
                new_id(),
                f"s{i}",
                "user:bench",
                "bench",
                t0 + timedelta(seconds=1000 + i),
                params={"model": rng.choice(["rf", "lr"])},
            )
        )
        store.log_metrics(r.id, [Metric("acc", rng.random())])
    store.close()
    store = open_metadata_store(url)  # cold-ish: a new engine
    for label, kwargs in [
        ("metrics.acc > 0.5", {"filter": "metrics.acc > 0.5"}),
        ("metrics.acc > 0.5 order by acc", {"filter": "metrics.acc > 0.5", "order_by": ["metrics.acc DESC"]}),
        (
            "params.model = 'rf' and metrics.acc > 0.9",
            {"filter": "params.model = 'rf' and metrics.acc > 0.9"},
        ),
        ("no filter, namespace", {"namespaces": ["user:bench"]}),
    ]:
        start = time.perf_counter()
        page = store.search_runs(max_results=100, **kwargs)  # type: ignore[arg-type]
        ms = (time.perf_counter() - start) * 1000
        print(f"search_runs({label}) over 10,000 runs: {ms:.1f} ms, {len(page.runs)} runs")
    start = time.perf_counter()
    n = store.count_runs(filter="metrics.acc > 0.5")
    print(f"count_runs(metrics.acc > 0.5): {(time.perf_counter() - start) * 1000:.1f} ms ({n})")
    start = time.perf_counter()
    for _ in range(100):
        store.get_run(run.id)
    print(f"get_run: {(time.perf_counter() - start) * 10:.2f} ms")
    store.close()


if __name__ == "__main__":
    main()
