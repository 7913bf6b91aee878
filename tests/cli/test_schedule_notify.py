"""A flow's triggers on Argo: `shipyard export argo --events-out` writes a webhook EventSource and a
Sensor (checked with hera's Argo Events models), and `shipyard schedule run --notify URL` reports a
new dataset version to that webhook — once, with the fields the Sensor filters on — instead of
running the flow here."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cli.test_schedule_cli import FLOW, _log_version


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A stand-in for the EventSource's HTTP endpoint: records each JSON body it is sent."""
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            received.append(json.loads(self.rfile.read(length)))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/shipyard", received
    server.shutdown()
    server.server_close()


def _fires(sensor: dict[str, Any], body: dict[str, Any]) -> bool:
    """Argo Events' data filters, as the Sensor states them: any dependency whose every filter holds."""
    for dep in sensor["spec"]["dependencies"]:
        filters = dep["filters"]["data"]
        if all(body.get(f["path"].removeprefix("body.")) in f["value"] for f in filters):
            return True
    return False


def _export(cli: Any, tmp_path: Path) -> tuple[Path, dict[str, Any], dict[str, Any]]:
    flow = tmp_path / "refresh.py"
    flow.write_text(FLOW)
    events = tmp_path / "events.yaml"
    done = cli(
        "export", "argo", str(flow), "--image", "registry.example/x:1", "-o", str(tmp_path / "wf.yaml"),
        "--events-out", str(events),
    )  # fmt: skip
    assert done.code == 0, done.err
    source, sensor = list(yaml.safe_load_all(events.read_text()))
    return flow, source, sensor


def test_the_exported_event_source_and_sensor_are_argo_events_objects(cli: Any, tmp_path: Path) -> None:
    from hera.events.models import EventSource, Sensor, WebhookContext

    _, source, sensor = _export(cli, tmp_path)
    for doc, model in ((source, EventSource), (sensor, Sensor)):
        assert doc["apiVersion"] == "argoproj.io/v1alpha1" and doc["kind"] == model.__name__
        body = {k: v for k, v in doc.items() if k not in ("apiVersion", "kind")}
        if model is EventSource:  # Argo Events inlines a webhook's context; hera's model nests it
            hooks = body["spec"]["webhook"]
            for hook in hooks.values():
                context = WebhookContext.model_validate(hook)
                assert context.model_dump(by_alias=True, exclude_none=True, mode="json") == hook
            body = {
                **body,
                "spec": {**body["spec"], "webhook": {k: {"webhookContext": v} for k, v in hooks.items()}},
            }
        if model is Sensor:  # a trigger's resource is free-form (any Kubernetes object): checked below
            trigger = body["spec"]["triggers"][0]["template"]["argoWorkflow"]
            body = json.loads(json.dumps(body).replace(json.dumps(trigger["source"]["resource"]), "{}"))
        parsed = model.model_validate(body)  # hera's models of Argo Events' CRDs
        assert (
            parsed.model_dump(by_alias=True, exclude_none=True, mode="json") == body
        )  # nothing unknown dropped
    assert source["spec"]["webhook"]["shipyard"]["endpoint"] == "/shipyard"
    template = yaml.safe_load((tmp_path / "wf.yaml").read_text())["metadata"]["name"]
    workflow = sensor["spec"]["triggers"][0]["template"]["argoWorkflow"]["source"]["resource"]
    assert workflow["spec"]["workflowTemplateRef"]["name"] == template
    assert _fires(sensor, {"flow": "refresh", "source": "dataset:transactions"})
    assert not _fires(sensor, {"flow": "other", "source": "dataset:transactions"})
    assert not _fires(sensor, {"flow": "refresh", "source": "dataset:other"})


def test_a_new_dataset_version_is_reported_once_to_the_webhook_not_run_here(
    cli: Any, tmp_path: Path, webhook: tuple[str, list[dict[str, Any]]]
) -> None:
    url, received = webhook
    flow, _, sensor = _export(cli, tmp_path)
    assert cli("schedule", "run", str(flow), "--once", "--notify", url).code == 0  # starts watching
    assert received == []
    assert _log_version() == 1
    fired = cli("schedule", "run", str(flow), "--once", "--notify", url)
    assert fired.code == 0, fired.err
    assert len(received) == 1
    body = received[0]
    assert body["flow"] == "refresh" and body["source"] == "dataset:transactions"
    assert body["event"] == "dataset:transactions@1"
    assert _fires(sensor, body)  # the exported Sensor submits the workflow for this report
    assert cli("runs", "list", "--json").json() == []  # nothing ran here
    assert cli("schedule", "run", str(flow), "--once", "--notify", url).code == 0
    assert len(received) == 1  # claimed once


def test_an_unreachable_webhook_is_one_line_and_a_bad_url_is_refused(cli: Any, tmp_path: Path) -> None:
    flow, _, _ = _export(cli, tmp_path)
    closed = "http://127.0.0.1:9/shipyard"
    assert cli("schedule", "run", str(flow), "--once", "--notify", closed).code == 0
    _log_version()
    failed = cli("schedule", "run", str(flow), "--once", "--notify", closed)
    assert failed.code == 1 and "cannot notify http://127.0.0.1:9/shipyard" in failed.out
    bad = cli("schedule", "run", str(flow), "--once", "--notify", "ftp://x")
    assert bad.code == 1 and "is not an http(s) URL" in bad.err and len(bad.err.strip().splitlines()) == 1


def test_events_out_for_a_flow_without_triggers_is_refused(cli: Any, tmp_path: Path) -> None:
    flow = tmp_path / "plain.py"
    flow.write_text(FLOW.replace(', trigger=on_dataset("transactions")', ""))
    done = cli("export", "argo", str(flow), "--image", "x:1", "--events-out", str(tmp_path / "e.yaml"))
    assert done.code == 1 and "has no trigger" in done.err
