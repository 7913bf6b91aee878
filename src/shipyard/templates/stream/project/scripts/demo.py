"""The deployment end to end on this machine, in one process: serve the `candidate` model with
token auth and feature lookup by `patient_id` (what `shipyard serve` / `shipyard apply` run), check
that a request without a token is refused, load-test it, and send late labels for the monitor.

    python scripts/demo.py          # after `shipyard run flows/train.py` (make run does both)
"""

from __future__ import annotations

import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[1] / "flows")]

from config import DATA_PATH, DEPLOYMENT, FEATURE_VIEW, MODEL_NAME  # noqa: E402
from loadtest import run_load  # noqa: E402

CLIENT = f"{DEPLOYMENT}-client"


def client_token(stores: object) -> str:
    """A one-hour token of a service account that may call the deployment (role viewer)."""
    from shipyard.core.errors import NotFoundError
    from shipyard.metadata.security import open_security_store
    from shipyard.server.accounts import add_user, issue_token

    security = open_security_store(stores.metadata)  # type: ignore[attr-defined]
    try:
        security.get_user(CLIENT)
    except NotFoundError:
        add_user(security, CLIENT, "viewer", by="scripts/demo.py")
    token, _ = issue_token(security, CLIENT, "demo load test", expires_in=timedelta(hours=1))
    return token


@contextmanager
def serving(app: object) -> Iterator[str]:
    import httpx
    import uvicorn

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))  # type: ignore[arg-type]
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/ready").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the deployment did not become ready in 60 s")
            time.sleep(0.05)
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def main(requests: int = 300) -> None:
    import httpx

    import shipyard
    from shipyard.monitoring.logs import default_log_dir, read_log
    from shipyard.serving import ServingConfig, create_serving_app
    from shipyard.tracking.fluent import get_stores

    stores = get_stores()
    log_dir = default_log_dir(stores.settings.home)
    config = ServingConfig(
        f"models:/{MODEL_NAME}@candidate",
        deployment=DEPLOYMENT,
        auth=True,
        features=(FEATURE_VIEW,),
        online_store=stores.settings.online_store_uri,
        log_dir=log_dir,
        log_flush_s=0.2,
    )
    token = client_token(stores)
    with serving(create_serving_app(config, stores=stores)) as url:
        refused = httpx.post(f"{url}/predict", json={"entities": [{"patient_id": 1}]})
        assert refused.status_code == 401, f"a request without a token got {refused.status_code}"
        answer = httpx.post(
            f"{url}/predict",
            json={"entities": [{"patient_id": 7}, {"patient_id": 8}]},
            headers={"Authorization": f"Bearer {token}"},
        )
        answer.raise_for_status()
        print(f"patients 7 and 8 -> {answer.json()['predictions']} (version {answer.json()['version']})")
        result = run_load(url, token, list(range(569)), requests=requests, concurrency=8)
        print(f"load test: {result.summary()}")
        if result.failures:
            raise SystemExit("the load test had failed requests")
    if DATA_PATH:
        return  # late labels below are scikit-learn's: send your own with shipyard.log_labels
    # late labels: the true diagnosis of the load test's patients, for the quality check
    from sklearn.datasets import load_breast_cancer

    labels = load_breast_cancer().target
    logged = read_log(log_dir, DEPLOYMENT).to_pandas()
    key = "patient_id" if "patient_id" in logged.columns else "entity_patient_id"
    done = shipyard.log_labels(
        logged["request_id"].tolist(),
        [int(labels[int(i)]) for i in logged[key]],
        deployment=DEPLOYMENT,
        log_dir=log_dir,
        rows=logged["row"].tolist(),
    )
    print(f"labels: {done.matched} joined to logged predictions")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 300)
