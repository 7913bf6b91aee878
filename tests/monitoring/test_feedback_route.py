"""POST /feedback on a live serving app: labels join logged predictions by request id; then drift and
quality of that deployment come out of the same log."""

from __future__ import annotations

import time
from datetime import timedelta

import httpx

from shipyard.core.clock import utcnow
from shipyard.monitoring.quality import quality_over_time
from shipyard.serving import ServingConfig, create_serving_app
from tests.serving.conftest import Env, auth, env, live, rows  # noqa: F401 (env: the fixture)


def test_feedback_joins_labels_and_counts_unknown_ids(env: Env) -> None:  # noqa: F811
    log_dir = str(env.root / "log-feedback")
    config = ServingConfig("models:/fraud@champion", deployment="fb", log_dir=log_dir, log_flush_s=0.1)
    data = rows(20, 4)
    with live(create_serving_app(config, stores=env.stores)) as url:
        answers = [
            httpx.post(f"{url}/predict", json=[r], headers={**auth(env), "X-Request-ID": f"fb-{i}"}).json()
            for i, r in enumerate(data)
        ]
        time.sleep(0.5)  # the log flushes every 0.1 s
        labels = [{"request_id": a["request_id"], "label": a["predictions"][0]} for a in answers[:15]]
        labels.append({"request_id": "who-is-this", "label": 1})
        reply = httpx.post(f"{url}/feedback", json={"labels": labels}, headers=auth(env))
        assert reply.status_code == 200, reply.text
        assert (reply.json()["matched"], reply.json()["unknown"]) == (15, 1)
        no_token = httpx.post(f"{url}/feedback", json={"labels": labels})
        assert no_token.status_code == 401
    now = utcnow()
    window = quality_over_time(log_dir, "fb", now - timedelta(hours=1), now, None)[0]
    assert (window.predictions, window.labelled) == (20, 15)
    assert window.metrics["accuracy"] == 1.0  # labelled with the model's own answers
