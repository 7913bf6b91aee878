"""Server benchmark: shipyard's REST server vs ``mlflow server``, both on SQLite, in the same run.

    .venv/bin/python bench/server.py [--quick]

Both servers run as subprocesses on loopback, one after the other (never both at once: MLflow's
idle server still uses CPU). MLflow lives only in ``bench/.venv-mlflow`` (see bench/tracking.py,
which creates it). Measured:

- log_metric loop through the server: shipyard's fluent ``log_metric`` (batched writer, final flush
  included) with ``SHIPYARD_URI=http://...``; MLflow's ``mlflow.log_metric`` with
  ``MLFLOW_TRACKING_URI=http://...`` — on 200 calls only (it does one HTTP request per call);
- batch logging: 10,000 metrics in batches of 1,000 (shipyard ``log_metrics`` on the REST store,
  MLflow ``MlflowClient.log_batch``);
- every throughput is the best of 5 repetitions, for both systems (the machine is shared and noisy);
- the runs-list API (first page, 50 runs) with 100,000 runs in shipyard's database (populated in bulk
  through SQL before the server starts); median of 20 requests. No peer figure: the target is absolute.
Results are also written to ``bench/results/server.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
RESULTS = ROOT / "bench" / "results" / "server.json"
TOKEN = "shp_" + secrets.token_urlsafe(32)  # a fresh admin token per run (weak ones are refused)
N_MLFLOW_CALLS = 200
REPEAT = 5  # every throughput is the best of 5 repetitions, for both (the machine is shared)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(url: str, timeout: float = 120.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


def populate(db: Path, n_runs: int) -> float:
    """Insert ``n_runs`` runs (2 params, 1 tag, 1 latest metric each) straight through SQL."""
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import insert

    from shipyard.metadata.sql import SqlMetadataStore
    from shipyard.metadata.sql.schema import latest_metrics, params, runs, tags

    store = SqlMetadataStore(f"sqlite:///{db}")
    t0 = time.perf_counter()
    base = datetime(2025, 1, 1, tzinfo=UTC)
    chunk = 10_000
    with store._engine.begin() as conn:
        for start in range(0, n_runs, chunk):
            ids = [f"{i:032x}" for i in range(start, min(n_runs, start + chunk))]
            conn.execute(
                insert(runs),
                [
                    {
                        "id": rid,
                        "name": f"run-{i}",
                        "namespace": "user:bench",
                        "user": "bench",
                        "status": "succeeded",
                        "start_time": base + timedelta(seconds=start + i),
                        "end_time": base + timedelta(seconds=start + i + 5),
                        "heartbeat_at": None,
                        "flow_name": None,
                        "flow_spec": None,
                        "code_version": None,
                        "origin_run_id": None,
                        "error": None,
                    }
                    for i, rid in enumerate(ids)
                ],
            )
            conn.execute(
                insert(params),
                [
                    {"run_id": rid, "key": k, "value": v, "value_text": v, "value_num": float(v)}
                    for rid in ids
                    for k, v in (("lr", "0.1"), ("depth", "6"))
                ],
            )
            conn.execute(insert(tags), [{"run_id": rid, "key": "team", "value": "bench"} for rid in ids])
            conn.execute(
                insert(latest_metrics),
                [{"run_id": rid, "key": "acc", "value": 0.9, "step": 0, "timestamp": 0} for rid in ids],
            )
    store.close()
    return time.perf_counter() - t0


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()


def start_ours(home: Path, port: int, src: Path | None = None) -> subprocess.Popen[bytes]:
    """``shipyard server`` on ``home``; ``src``: import shipyard from that source tree (absolute:
    the server runs in ``home``, where a relative PYTHONPATH would name nothing)."""
    env = {**os.environ, "SHIPYARD_HOME": str(home), "SHIPYARD_ADMIN_TOKEN": TOKEN}
    if src is not None:
        env["PYTHONPATH"] = str(src.resolve())
    for key in ("SHIPYARD_URI", "SHIPYARD_ARTIFACTS", "SHIPYARD_TOKEN"):
        env.pop(key, None)
    cmd = [sys.executable, "-m", "shipyard.cli.main", "server", "--port", str(port), "--log-level", "warning"]
    return subprocess.Popen(cmd, env=env, cwd=home, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def start_mlflow(python: Path, workdir: Path, port: int) -> subprocess.Popen[bytes]:
    mlflow = python.parent / "mlflow"
    cmd = [
        str(mlflow),
        "server",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--backend-store-uri",
        f"sqlite:///{workdir / 'mlflow.db'}",
        "--default-artifact-root",
        str(workdir / "mlartifacts"),
        "--workers",
        "1",
    ]
    return subprocess.Popen(cmd, cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


OURS_CLIENT = """
import json, sys, time
import shipyard
from shipyard.core.entities import Metric
from shipyard.tracking.stores import open_stores
n_log, n_batch, REPEAT = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
out = {}
with shipyard.start_run(name="warm"):
    shipyard.log_metric("warm", 1.0)
rates = []
for _ in range(REPEAT):
    t = time.perf_counter()
    with shipyard.start_run(name="loop"):
        for i in range(n_log):
            shipyard.log_metric("loss", 0.5, step=i)
    rates.append(n_log / (time.perf_counter() - t))  # includes the final flush and end of run
out["log_metric_s"] = max(rates)
stores = open_stores()
rates = []
for _ in range(REPEAT):
    run = shipyard.start_run(name="batch"); shipyard.end_run()
    now = int(time.time() * 1000)
    t = time.perf_counter()
    for b in range(n_batch // 1000):
        stores.metadata.log_metrics(run.id, [Metric(f"m{k}", 0.5, b, now) for k in range(1000)])
    rates.append(n_batch / (time.perf_counter() - t))
out["log_batch_s"] = max(rates)
print(json.dumps(out))
"""

MLFLOW_CLIENT = """
import json, sys, time, logging
logging.disable(logging.WARNING)
import mlflow
from mlflow import MlflowClient
from mlflow.entities import Metric
n_log, n_batch, REPEAT = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
mlflow.set_experiment("bench")
client = MlflowClient()
out = {"version": mlflow.__version__}
with mlflow.start_run():
    mlflow.log_metric("warm", 1.0)
rates = []
for _ in range(REPEAT):
    with mlflow.start_run():
        t = time.perf_counter()
        for i in range(n_log):
            mlflow.log_metric("loss", 0.5, step=i)
        rates.append(n_log / (time.perf_counter() - t))
out["log_metric_s"] = max(rates)
rates = []
for _ in range(REPEAT):
    with mlflow.start_run() as run:
        now = int(time.time() * 1000)
        t = time.perf_counter()
        for b in range(n_batch // 1000):
            client.log_batch(run.info.run_id, metrics=[Metric(f"m{k}", 0.5, now, b) for k in range(1000)])
        rates.append(n_batch / (time.perf_counter() - t))
out["log_batch_s"] = max(rates)
print(json.dumps(out))
"""


def run_client(python: str, script: str, env: dict[str, str], *args: int) -> dict[str, Any]:
    cmd = [python, "-c", script, *map(str, args)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1800, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"benchmark client failed:\n{done.stderr[-3000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def time_runs_list(url: str, n: int = 20) -> tuple[float, int]:
    import httpx

    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60) as client:
        first = client.get("/api/v1/runs", params={"max_results": 50})
        first.raise_for_status()
        got = len(first.json()["runs"])
        times = []
        for _ in range(n):
            t = time.perf_counter()
            client.get("/api/v1/runs", params={"max_results": 50}).raise_for_status()
            times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000, got


def ui_runs_page(url: str) -> float | None:
    """Median ms of the web UI's runs page, when the UI is installed (GET /runs with the cookie)."""
    import httpx

    with httpx.Client(base_url=url, cookies={"shipyard_token": TOKEN}, timeout=60) as client:
        for path in ("/runs", "/ui/runs", "/"):
            first = client.get(path)
            if first.status_code == 200 and "html" in first.headers.get("content-type", ""):
                times = []
                for _ in range(10):
                    t = time.perf_counter()
                    client.get(path).raise_for_status()
                    times.append(time.perf_counter() - t)
                return statistics.median(times) * 1000
    return None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer points and runs")
    args = parser.parse_args()
    from tracking import mlflow_python  # bench/tracking.py: creates bench/.venv-mlflow when missing

    n_log = 20_000 if args.quick else 100_000
    n_runs = 10_000 if args.quick else 100_000
    n_batch = 10_000
    py = mlflow_python()
    with tempfile.TemporaryDirectory(prefix="shipyard-bench-server-") as tmp:
        root = Path(tmp)
        (root / "ours").mkdir()
        (root / "mlflow").mkdir()
        fill_s = populate(root / "ours" / "shipyard.db", n_runs)
        print(f"populated {n_runs:,} runs in {fill_s:.1f}s", file=sys.stderr)
        our_port, ml_port = free_port(), free_port()
        # one server at a time: neither competes with the other's idle work for the CPU
        our_url, ml_url = f"http://127.0.0.1:{our_port}", f"http://127.0.0.1:{ml_port}"
        ours = start_ours(root / "ours", our_port)
        try:
            wait_http(our_url + "/health")
            list_ms, got = time_runs_list(our_url)
            ui_ms = ui_runs_page(our_url)
            client_env = {
                **os.environ,
                "SHIPYARD_URI": our_url,
                "SHIPYARD_TOKEN": TOKEN,
                "SHIPYARD_HOME": str(root / "client"),
                "SHIPYARD_USER": "bench",
            }
            our = run_client(sys.executable, OURS_CLIENT, client_env, n_log, n_batch, REPEAT)
        finally:
            stop(ours)
        mlf = start_mlflow(py, root / "mlflow", ml_port)
        try:
            wait_http(ml_url + "/health")
            ml_env = {**os.environ, "MLFLOW_TRACKING_URI": ml_url}
            peer = run_client(str(py), MLFLOW_CLIENT, ml_env, N_MLFLOW_CALLS, n_batch, REPEAT)
        finally:
            stop(mlf)
    rows = [
        (
            "log_metric loop via server (metrics/s)",
            our["log_metric_s"],
            peer["log_metric_s"],
            1000.0,
            "ratio",
        ),
        ("batch logging via server (metrics/s)", our["log_batch_s"], peer["log_batch_s"], 5.0, "ratio"),
        (f"runs-list API, 50 of {n_runs:,} runs (ms)", list_ms, None, 300.0, "under"),
    ]
    if ui_ms is not None:
        rows.append((f"UI runs page, {n_runs:,} runs (ms)", ui_ms, None, 300.0, "under"))
    print(
        f"\nshipyard server vs mlflow server {peer['version']} (both SQLite, loopback); "
        f"MLflow log_metric on {N_MLFLOW_CALLS} calls, ours on {n_log:,}; batches: 10 x 1,000 metrics; "
        f"rates: best of {REPEAT} for both; list times: median of 20 requests"
    )
    print(f"{'measure':<42} {'ours':>12} {'mlflow':>10} {'ratio':>9} {'target':>9}  result")
    results = []
    for name, ours_v, peer_v, target, kind in rows:
        if kind == "ratio":
            ratio = ours_v / peer_v
            ok = ratio >= target
            goal = f">={target:,.0f}x"
            line = f"{name:<42} {ours_v:>12,.0f} {peer_v:>10,.1f} {ratio:>8,.0f}x {goal:>9}"
        else:
            ratio, ok = None, ours_v < target
            goal = f"<{target:,.0f}ms"
            line = f"{name:<42} {ours_v:>12,.1f} {'-':>10} {'-':>9} {goal:>9}"
        print(f"{line}  {'PASS' if ok else 'FAIL'}")
        results.append(
            {"measure": name, "ours": ours_v, "peer": peer_v, "ratio": ratio, "target": target, "pass": ok}
        )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps({"mlflow": peer["version"], "runs_listed": got, "results": results}, indent=2)
    )


if __name__ == "__main__":
    main()
