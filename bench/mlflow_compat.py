"""The MLflow client against shipyard's MLflow API vs against ``mlflow server``, same machine, same run.

    .venv/bin/python bench/mlflow_compat.py [--quick]

The SAME client (MLflow, from ``bench/.venv-mlflow``, created by bench/tracking.py when missing)
talks to each server in turn (never both at once), both on SQLite:

- ``mlflow.log_metric`` loop (one HTTP request per call, 200 calls) and ``MlflowClient.log_batch``
  (10,000 metrics in batches of 1,000); best of 3 repetitions each;
- ``mlflow.search_runs`` over N runs (10,000; 2,000 with --quick) with a metric filter and a metric
  ordering, to a DataFrame; best of 3. Both databases are filled before their server starts:
  shipyard's through its store, MLflow's through its ``SqlAlchemyStore`` (both one run per
  transaction with one param and one metric).

``--baseline-src DIR`` also runs a second shipyard server from another source tree (for example
``git archive main src | tar -x -C /tmp/base``) on the same data, alternating with this tree's
(before, after, before, after; best of each), and prints after / before. This tree's server always
imports shipyard from this tree's ``src``.

Prints each figure, the ratio shipyard / MLflow (target: >= 10x), and the client's own ceiling for
each operation: the same client code against a stub server that answers at once (``{}`` for the
writes, a run for create/get, and for ``runs/search`` the very pages shipyard's server answered to
the client's requests, replayed from memory, paged with ``next_page_token`` as the client pages).
No server can do better through this client: "ceiling / MLflow" is the best ratio any server could
show, and where it is under 10x the target is out of reach through the client there.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from server import TOKEN, free_port, start_mlflow, start_ours, stop, wait_http  # noqa: E402
from tracking import mlflow_python  # noqa: E402

CLIENT = """
import json, sys, time, logging
logging.disable(logging.WARNING)
import mlflow
from mlflow import MlflowClient
from mlflow.entities import Metric
n_log, n_batch, repeat, n_runs = map(int, sys.argv[1:5])
FILTER, ORDER = sys.argv[5], json.loads(sys.argv[6])
client = MlflowClient()
out = {"version": mlflow.__version__}
with mlflow.start_run(experiment_id="0"):
    mlflow.log_metric("warm", 1.0)
rates = []
for _ in range(repeat):
    with mlflow.start_run(experiment_id="0"):
        t = time.perf_counter()
        for i in range(n_log):
            mlflow.log_metric("loss", 0.5, step=i)
        rates.append(n_log / (time.perf_counter() - t))
out["log_metric_s"] = max(rates)
rates = []
for _ in range(repeat):
    with mlflow.start_run(experiment_id="0") as run:
        now = int(time.time() * 1000)
        t = time.perf_counter()
        for b in range(n_batch // 1000):
            client.log_batch(run.info.run_id, metrics=[Metric(f"m{k}", 0.5, now, b) for k in range(1000)])
        rates.append(n_batch / (time.perf_counter() - t))
out["log_batch_s"] = max(rates)
times = []
for _ in range(repeat):
    t = time.perf_counter()
    frame = mlflow.search_runs(["0"], filter_string=FILTER, order_by=ORDER, max_results=n_runs)
    times.append(time.perf_counter() - t)
out["search_s"] = min(times)
out["search_rows"] = len(frame)
print(json.dumps(out))
"""

FILL_MLFLOW = """
import sys, time, logging
logging.disable(logging.WARNING)
from mlflow.entities import Metric, Param, RunStatus
from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore
store = SqlAlchemyStore(sys.argv[1], sys.argv[2])
now = int(time.time() * 1000)
for i in range(int(sys.argv[3])):
    run = store.create_run("0", "bench", now + i, [], f"r{i}")
    store.log_batch(run.info.run_id, metrics=[Metric("acc", (i % 100) / 100, now, 0)],
                    params=[Param("i", str(i))], tags=[])
    store.update_run_info(run.info.run_id, RunStatus.FINISHED, now + i + 1, None)
"""


STUB = """
import json, sys, uvicorn
RUN = (b'{"run": {"info": {"run_id": "RID", "run_uuid": "RID", "experiment_id": "0", "status": "RUNNING",'
       b' "lifecycle_stage": "active", "artifact_uri": "mlflow-artifacts:/0/RID/artifacts",'
       b' "start_time": 1}, "data": {}}}').replace(b"RID", b"0" * 32)
with open(sys.argv[2], encoding="utf-8") as f:  # [[page_token or null, body], ...] captured from shipyard
    PAGES = {token: body.encode() for token, body in json.load(f)}
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    parts = []
    while True:
        message = await receive()
        parts.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    path = scope["path"]
    if path.endswith(("/runs/create", "/runs/get")):
        body = RUN
    elif path.endswith("/runs/search"):
        body = PAGES[json.loads(b"".join(parts)).get("page_token") or None]
    else:
        body = b"{}"
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
"""

SEARCH_FILTER, SEARCH_ORDER = "metrics.acc > 0.5", ["metrics.acc DESC"]
CLIENT_PAGE = 10_000  # mlflow.search_runs asks for pages of NUM_RUNS_PER_PAGE_PANDAS runs


def capture_search(url: str, token: str, n_runs: int) -> list[tuple[str | None, str]]:
    """The response bodies of ``runs/search`` that the client's ``search_runs`` reads, in its order:
    pages of ``min(10,000, runs still wanted)`` following ``next_page_token`` until ``n_runs`` runs
    or no token (what ``mlflow.utils.get_results_from_paginated_fn`` does)."""
    import httpx

    pages: list[tuple[str | None, str]] = []
    page_token: str | None = None
    got = 0
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=600) as http:
        while got < n_runs:
            body: dict[str, Any] = {
                "experiment_ids": ["0"],
                "filter": SEARCH_FILTER,
                "run_view_type": "ACTIVE_ONLY",
                "max_results": min(CLIENT_PAGE, n_runs - got),
                "order_by": SEARCH_ORDER,
            }
            if page_token:
                body["page_token"] = page_token
            answer = http.post("/api/2.0/mlflow/runs/search", json=body)
            answer.raise_for_status()
            pages.append((page_token, answer.text))
            doc = answer.json()
            got += len(doc.get("runs", []))
            page_token = doc.get("next_page_token")
            if not page_token:
                break
    return pages


def client_ceiling(
    python: Path, args: list[int], pages: list[tuple[str | None, str]], workdir: Path
) -> dict[str, Any]:
    """The same client code against a stub that answers at once: ``{}`` for writes, a run for
    create/get, and shipyard's own captured ``runs/search`` pages (no server can do better)."""
    port = free_port()
    page_file = workdir / "search-pages.json"
    page_file.write_text(json.dumps(pages), encoding="utf-8")
    proc = subprocess.Popen([sys.executable, "-c", STUB, str(port), str(page_file)], cwd=workdir)
    try:
        wait_http(f"http://127.0.0.1:{port}/health")
        return client(python, f"http://127.0.0.1:{port}", None, args, workdir)
    finally:
        stop(proc)


def fill_ours(home: Path, n_runs: int) -> None:
    """Runs in the default experiment's namespace, written through shipyard's own store."""
    from datetime import UTC, datetime

    from shipyard.core.entities import ORCHESTRATOR_TAG, Metric, RunCreate, RunStatus
    from shipyard.core.ids import new_id
    from shipyard.metadata import open_metadata_store

    store = open_metadata_store(f"sqlite:///{home / 'shipyard.db'}")
    now = datetime.now(UTC)
    try:
        for i in range(n_runs):
            create = RunCreate(
                id=new_id(),
                name=f"r{i}",
                namespace="default",
                user="admin",
                start_time=now,
                params={"i": str(i)},
                tags={ORCHESTRATOR_TAG: "mlflow"},
            )
            run = store.create_run(create)
            store.log_metrics(run.id, [Metric("acc", (i % 100) / 100, 0, 0)])
            store.finish_run(run.id, RunStatus.SUCCEEDED, now)
    finally:
        store.close()


def client(python: Path, url: str, token: str | None, args: list[int], workdir: Path) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "SHIPYARD_"))}
    env.update(
        {"MLFLOW_TRACKING_URI": url, "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "GIT_PYTHON_REFRESH": "quiet"}
    )
    if token:
        env["MLFLOW_TRACKING_TOKEN"] = token
    cmd = [str(python), "-c", CLIENT, *map(str, args), SEARCH_FILTER, json.dumps(SEARCH_ORDER)]
    done = subprocess.run(
        cmd, env=env, cwd=workdir, capture_output=True, text=True, timeout=3600, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"the MLflow client failed against {url}:\n{done.stderr[-3000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def _best(held: dict[str, Any] | None, got: dict[str, Any]) -> dict[str, Any]:
    """The better of two client runs against the same tree, figure by figure."""
    if held is None:
        return got
    best = dict(got)
    for key in ("log_metric_s", "log_batch_s"):
        best[key] = max(held[key], got[key])
    best["search_s"] = min(held["search_s"], got["search_s"])
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="2,000 runs to search instead of 10,000")
    parser.add_argument(
        "--baseline-src", type=Path, help="a shipyard src folder to compare with this tree's (before/after)"
    )
    opts = parser.parse_args()
    n_runs = 2_000 if opts.quick else 10_000
    args = [200, 10_000, 3, n_runs]
    python = mlflow_python()
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "ours"
        home.mkdir()
        started = time.perf_counter()
        fill_ours(home, n_runs)
        print(f"filled shipyard with {n_runs} runs in {time.perf_counter() - started:.1f} s", file=sys.stderr)
        trees = [("shipyard", ROOT / "src")]
        if opts.baseline_src is not None:
            trees = [("before", opts.baseline_src), *trees] * 2  # alternated: load drifts
        pages: list[tuple[str | None, str]] = []
        for name, src in trees:
            port = free_port()
            proc = start_ours(home, port, src)
            try:
                wait_http(f"http://127.0.0.1:{port}/health")
                got = client(python, f"http://127.0.0.1:{port}", TOKEN, args, home)
                if name == "shipyard" and not pages:  # the body this tree's server answers
                    pages = capture_search(f"http://127.0.0.1:{port}", TOKEN, n_runs)
            finally:
                stop(proc)
            results[name] = _best(results.get(name), got)
        work = Path(tmp) / "mlflow"
        work.mkdir()
        started = time.perf_counter()
        fill = [
            str(python),
            "-c",
            FILL_MLFLOW,
            f"sqlite:///{work / 'mlflow.db'}",
            str(work / "mlartifacts"),
            str(n_runs),
        ]
        subprocess.run(fill, cwd=work, check=True, capture_output=True, timeout=3600)
        print(f"filled MLflow with {n_runs} runs in {time.perf_counter() - started:.1f} s", file=sys.stderr)
        port = free_port()
        proc = start_mlflow(python, work, port)
        try:
            wait_http(f"http://127.0.0.1:{port}/health")
            results["mlflow"] = client(python, f"http://127.0.0.1:{port}", None, args, work)
        finally:
            stop(proc)
        results["ceiling"] = client_ceiling(python, args, pages, work)
    report(results, n_runs, sum(len(body) for _, body in pages), len(pages))


def report(results: dict[str, dict[str, Any]], n_runs: int, page_bytes: int, n_pages: int) -> None:
    ours, peer, stub = results["shipyard"], results["mlflow"], results["ceiling"]
    print(f"MLflow client {peer['version']}, both servers on SQLite, same machine, same run")
    print(
        "ceiling: the same client code against a stub answering at once (runs/search: shipyard's own "
        f"{n_pages} page(s), {page_bytes:,} bytes, replayed); ceiling/mlflow is the best ratio any "
        "server could show through this client"
    )
    print(
        f"{'operation':30s} {'shipyard':>10s} {'mlflow':>10s} {'ratio':>7s} "
        f"{'ceiling':>10s} {'ceil/mlflow':>11s}"
    )
    for key, label in (("log_metric_s", "log_metric loop (req/s)"), ("log_batch_s", "log_batch (metrics/s)")):
        print(
            f"{label:30s} {ours[key]:10.1f} {peer[key]:10.1f} {ours[key] / peer[key]:6.1f}x "
            f"{stub[key]:10.1f} {stub[key] / peer[key]:10.1f}x"
        )
    label = f"search_runs {n_runs} runs (s)"
    print(
        f"{label:30s} {ours['search_s']:10.3f} {peer['search_s']:10.3f} "
        f"{peer['search_s'] / ours['search_s']:6.1f}x {stub['search_s']:10.3f} "
        f"{peer['search_s'] / stub['search_s']:10.1f}x"
    )
    print(f"rows: shipyard {ours['search_rows']}, mlflow {peer['search_rows']}, stub {stub['search_rows']}")
    if "before" in results:
        before = results["before"]
        for key in ("log_metric_s", "log_batch_s"):
            print(
                f"{key:30s} this tree {ours[key]:10.1f}  baseline {before[key]:10.1f}  "
                f"after/before {ours[key] / before[key]:5.2f}x"
            )
        print(
            f"{'search_s':30s} this tree {ours['search_s']:10.3f}  baseline {before['search_s']:10.3f}  "
            f"after/before {before['search_s'] / ours['search_s']:5.2f}x (speed)"
        )


if __name__ == "__main__":
    main()
