"""A flow whose steps ask for retries, resources and a GPU: what the exporters turn into task
settings (retries with backoff, pools and queues, container resources)."""

from shipyard import flow, step


@step(retries=3, retry_delay=2.0, timeout=30, resources={"cpu": 2.5, "memory": "2GB"})
def prepare(n: int) -> list[int]:
    return list(range(n))


@step(resources={"gpu": 1, "cpu": 1})
def train(x: int) -> int:
    return x * x


@step
def report(xs: list[int]) -> int:
    return sum(xs)


@flow
def options(n: int = 3):
    return report(train.map(prepare(n)))
