"""Load-test the deployment: POST /predict by entity key with a bearer token, N requests at a
given concurrency; prints throughput and latency percentiles, exits 1 on any failed request.

    python scripts/loadtest.py --url http://127.0.0.1:8000 --token "$SHIPYARD_TOKEN" -n 2000 -c 16
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import time
from dataclasses import dataclass, field


@dataclass
class LoadResult:
    requests: int
    failures: int
    seconds: float
    latencies_ms: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)

    def percentile(self, q: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]

    def summary(self) -> str:
        rate = self.requests / self.seconds if self.seconds else 0.0
        mean = statistics.fmean(self.latencies_ms) if self.latencies_ms else float("nan")
        return (
            f"{self.requests} requests in {self.seconds:.2f} s ({rate:,.0f}/s), {self.failures} failed; "
            f"latency ms mean {mean:.1f} p50 {self.percentile(50):.1f} p95 {self.percentile(95):.1f} "
            f"p99 {self.percentile(99):.1f}; statuses {dict(sorted(self.statuses.items()))}"
        )


def entity_body(ids: list[int], rng: random.Random, per_request: int) -> dict[str, object]:
    return {"entities": [{"patient_id": rng.choice(ids)} for _ in range(per_request)]}


async def _run(
    url: str, token: str, ids: list[int], requests: int, concurrency: int, per_request: int
) -> LoadResult:
    import httpx

    result = LoadResult(requests, 0, 0.0)
    rng = random.Random(0)
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(requests):
        queue.put_nowait(i)
    headers = {"Authorization": f"Bearer {token}"}

    async def worker(client: httpx.AsyncClient) -> None:
        while not queue.empty():
            i = queue.get_nowait()
            started = time.perf_counter()
            try:
                answer = await client.post(
                    "/predict",
                    json=entity_body(ids, rng, per_request),
                    headers={**headers, "X-Request-ID": f"load-{i}"},
                )
                status = answer.status_code
            except httpx.HTTPError:
                status = 0
            result.latencies_ms.append((time.perf_counter() - started) * 1000)
            result.statuses[status] = result.statuses.get(status, 0) + 1
            if status != 200:
                result.failures += 1

    started = time.perf_counter()
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
    result.seconds = time.perf_counter() - started
    return result


def run_load(
    url: str, token: str, ids: list[int], requests: int = 500, concurrency: int = 8, per_request: int = 1
) -> LoadResult:
    return asyncio.run(_run(url, token, ids, requests, concurrency, per_request))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=os.environ.get("SERVING_URL", "http://127.0.0.1:8000"))
    parser.add_argument("--token", default=os.environ.get("SHIPYARD_TOKEN", ""))
    parser.add_argument("-n", "--requests", type=int, default=1000)
    parser.add_argument("-c", "--concurrency", type=int, default=8)
    parser.add_argument("--rows", type=int, default=1, help="entities per request")
    parser.add_argument("--max-id", type=int, default=568, help="patient ids 0..max-id")
    args = parser.parse_args(argv)
    if not args.token:
        parser.error("give --token or set SHIPYARD_TOKEN (shipyard tokens create)")
    result = run_load(
        args.url, args.token, list(range(args.max_id + 1)), args.requests, args.concurrency, args.rows
    )
    print(result.summary())
    return 1 if result.failures else 0


if __name__ == "__main__":
    sys.exit(main())
