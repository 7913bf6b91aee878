"""Flows whose steps carry every option an exported workflow maps (tests/exporters/test_argo.py)."""

import os
from pathlib import Path

from shipyard import flow, step


@step(retries=2, retry_delay=0.5)
def flaky(marker: str) -> int:
    """Fails its first attempt (it leaves ``marker`` behind), succeeds on the next."""
    path = Path(marker)
    if not path.exists():
        path.write_text("tried")
        raise RuntimeError("first attempt fails")
    return 7


@step(
    timeout=30,
    resources={"cpu": 0.5, "memory": "2GB", "gpu": 1},
    secrets=["db_password"],
    kubernetes={
        "node_selector": {"pool": "gpu"},
        "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
    },
)
def train(x: int) -> dict[str, object]:
    return {"x": x, "saw_secret": len(os.environ.get("DB_PASSWORD", ""))}


@step(resources={"cpu": 2})
def report(result: dict[str, object]) -> dict[str, object]:
    return {**result, "report_sees_secret": "DB_PASSWORD" in os.environ}


@flow
def options(marker: str = ""):
    return report(train(flaky(marker)))
