"""What routing costs an MLflow request on the shipyard server: prefix dispatch vs the router's walk.

    PYTHONPATH=src .venv/bin/python bench/mlflow_route_cost.py [--requests 500] [--rounds 3]

In one process, the same app (SQLite store, auth off so the guard's token check is not timed)
answers MLflow requests through httpx's ASGI transport (no sockets, no client ceiling), with the
router's entry alternating between the prefix dispatch ``create_app`` installs
(``server/prefix_dispatch.py``) and the router's own walk over every route (what it replaced),
round after round. Prints ms per request of each, the ratio and the load average.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from pathlib import Path
from typing import Any


async def _time_requests(client: Any, run_id: str, n: int) -> dict[str, float]:
    out: dict[str, float] = {}
    started = time.perf_counter()
    for _ in range(n):
        await client.get("/api/2.0/mlflow/experiments/get", params={"experiment_id": "0"})
    out["experiments/get"] = (time.perf_counter() - started) / n * 1000
    started = time.perf_counter()
    for i in range(n):
        body = {"run_id": run_id, "key": "loss", "value": 0.5, "timestamp": 1, "step": i}
        answer = await client.post("/api/2.0/mlflow/runs/log-metric", json=body)
        assert answer.status_code == 200, answer.text
    out["runs/log-metric"] = (time.perf_counter() - started) / n * 1000
    return out


async def _bench(app: Any, requests: int, rounds: int) -> dict[str, dict[str, float]]:
    import httpx

    entries = {"dispatch": app.router.middleware_stack, "walk": app.router.app}
    best: dict[str, dict[str, float]] = {name: {} for name in entries}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        run = {"experiment_id": "0", "start_time": 1}
        created = await client.post("/api/2.0/mlflow/runs/create", json=run)
        run_id = created.json()["run"]["info"]["run_id"]
        await _time_requests(client, run_id, 50)  # warm up
        for _ in range(rounds):
            for name, entry in entries.items():
                app.router.middleware_stack = entry
                for key, ms in (await _time_requests(client, run_id, requests)).items():
                    best[name][key] = min(ms, best[name].get(key, ms))
        app.router.middleware_stack = entries["dispatch"]
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    from shipyard.core.settings import load_settings
    from shipyard.server.app import ServerConfig, create_app
    from shipyard.server.prefix_dispatch import PrefixDispatch
    from shipyard.tracking.stores import open_stores

    with tempfile.TemporaryDirectory(prefix="shipyard-bench-routes-") as tmp:
        stores = open_stores(load_settings(home=Path(tmp)))
        try:
            app = create_app(stores.settings, stores, config=ServerConfig(auth=False))
            assert isinstance(app.router.middleware_stack, PrefixDispatch)
            best = asyncio.run(_bench(app, args.requests, args.rounds))
        finally:
            stores.close()
    print(f"{len(app.routes)} routes; best of {args.rounds} rounds of {args.requests} requests each")
    for key in best["dispatch"]:
        ours, walk = best["dispatch"][key], best["walk"][key]
        print(
            f"{key:18s} prefix dispatch {ours:7.3f} ms  router walk {walk:7.3f} ms  "
            f"saved {walk - ours:6.3f} ms/request  ratio {walk / ours:5.2f}x"
        )
    print("load average: " + " ".join(f"{x:.2f}" for x in os.getloadavg()))


if __name__ == "__main__":
    main()
