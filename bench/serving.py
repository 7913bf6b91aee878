"""Serving benchmark: shipyard vs ``mlflow models serve`` (same model, same machine, same run),
and batch inference vs the model's own ``predict``.

    .venv/bin/python bench/serving.py [--duration 10] [--batch-rows 2000000] [--skip-online]

Online: a LogisticRegression on 20 float features (trained on the same generated data with the
same parameters on both sides), 1 row per request, POSTed by ``wrk`` (a Lua script sets the JSON
body) at 1, 16 and 64 connections on loopback. shipyard runs ``shipyard serve --no-auth`` with its
defaults (micro-batching, the prediction log on, 1 worker); MLflow runs ``mlflow models serve
--env-manager local`` (1 worker) from ``bench/.venv-mlflow`` with the body
``{"dataframe_records": [...]}``. Each side is warmed up for 2 s before it is measured.

Batch: ``batch_predict`` (Parquet in, one Parquet file out, its defaults: chunks of 100,000 rows, 1 worker,
model loaded beforehand) over ``--batch-rows`` x 20 floats, writing each row's prediction and model
version (``--keep none``), against the model's own ``predict`` called directly on the same data:
(a) read from the same Parquet file (``pq.read_table(...).to_pandas()``) then ``predict``, which is
what any job scoring that file must at least do, and what the target compares to; (b) on the rows
already in memory (reference: for the LogisticRegression, reading the file costs more than
``predict`` itself, so no job that reads the file can reach 80% of it). Also shown: ``--keep all``
(every input column copied to the output) against a naive ``pd.read_parquet -> predict ->
to_parquet`` script. Two models: the served LogisticRegression and a gradient-boosted model whose
``predict`` is the real cost, as in most production batch scoring (there (b) is the target too).
Each figure is the median of ``--batch-reps`` runs, the cases interleaved.

Overload (``--overload``, or ``--overload-only``): ``shipyard serve --no-auth`` with its defaults
(admission limit adapting between 64 and 320 requests in flight, serving/admission.py, checked in the
HTTP protocol, serving/protocol.py; refusals keep the connection open) under ``wrk`` at
64, 640 and 2,000 connections, clients that resend at once whatever the answer (as a retry storm
does). Capacity is the 200s per second at 64 connections. wrk counts the answers by status (a Lua
``response`` hook); a probe client in this process sends one request at a time on its own
connection throughout and records each answer's status and latency, which gives the p99 of admitted
requests and of refusals separately (wrk's own latency figures mix the two). Load generator, probe
and server run on the same cores (2 here): the figures say what one such machine does, and the
output says so. ``--src`` serves another checkout's ``src`` (e.g. main's, for the figures before a
change). The server's CPU time (``/proc``) gives the cores it got during each step and its CPU
microseconds per answer (200s and 503s together): on a shared machine these move less with the
neighbours' load than the rates do. Then the same steps through nginx in front of the server
(``limit_conn``: refusals by a C proxy, never reaching Python; skipped without ``nginx``), and
the floor: a one-loop C server that refuses everything (bench/serving_overload.py says how the
floor bounds what any server can do on these cores).

The machine is shared: the load average is printed with the figures. Results go to
``bench/results/serving.json`` (``serving-overload.json`` with ``--overload-only``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from serving_overload import floor, nginx_front, overload_step, report_floor, report_overload

from server import free_port

ROOT = Path(__file__).resolve().parents[1]
MLFLOW_VENV = ROOT / "bench" / ".venv-mlflow"
RESULTS = ROOT / "bench" / "results" / "serving.json"  # serving-wN.json with --workers N > 1
FEATURES = [f"f{i}" for i in range(20)]

TRAIN = r"""
import sys, numpy as np, pandas as pd
from sklearn.linear_model import LogisticRegression
data = np.load(sys.argv[1])
x = pd.DataFrame(data["x"], columns=[f"f{i}" for i in range(20)])
model = LogisticRegression(max_iter=500).fit(x, data["y"])
"""
MLFLOW_SAVE = (
    TRAIN
    + r"""
import mlflow.sklearn
mlflow.sklearn.save_model(model, sys.argv[2], input_example=x.head(5))
"""
)
REGISTER = (
    TRAIN
    + r"""
import shipyard
from shipyard.registry.api import get_registry
with shipyard.start_run(name="bench"):
    shipyard.log_model(model, "bench", input_example=x.head(5), register=True)
reg = get_registry()
reg.approve("bench", 1)
reg.set_alias("bench", "champion", 1)
"""
)


def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 180) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} not ready after {timeout} s")


def wrk(url: str, body: str, connections: int, duration: int, tmp: Path) -> dict[str, float]:
    (tmp / "body.json").write_text(body)
    script = tmp / "post.lua"
    script.write_text(
        'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
        f'local f = io.open("{tmp / "body.json"}", "r"); wrk.body = f:read("*a"); f:close()\n'
    )
    threads = min(2, connections)
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency", "-s", str(script), url]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:.*", out)

    def pct(p: str) -> float:
        m = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)", out)
        assert m, out
        value, unit = float(m.group(1)), m.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    return {
        "rps": rps,
        "p50_ms": pct("50"),
        "p99_ms": pct("99"),
        "non_2xx": float(non2xx.group(1)) if non2xx else 0.0,
        "socket_errors": 1.0 if errors else 0.0,
    }


def measure(url: str, body: str, duration: int, tmp: Path) -> dict[int, dict[str, float]]:
    wrk(url, body, 16, 2, tmp)  # warm-up
    return {c: wrk(url, body, c, duration, tmp) for c in (1, 16, 64)}


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def shipyard_online(
    tmp: Path, data: Path, row: dict[str, float], duration: int, workers: int = 1
) -> dict[int, dict[str, float]]:
    with shipyard_server(tmp, data, workers=workers) as (port, _):
        return measure(f"http://127.0.0.1:{port}/predict", json.dumps([row]), duration, tmp)


def mlflow_online(
    tmp: Path, data: Path, row: dict[str, float], duration: int, workers: int = 1
) -> dict[int, dict[str, float]] | None:
    python = MLFLOW_VENV / "bin" / "python"
    if not python.exists():
        print(
            "bench/.venv-mlflow missing: skipping MLflow (create it with bench/registry.py)", file=sys.stderr
        )
        return None
    model_dir = tmp / "mlflow-model"
    subprocess.run(
        [str(python), "-c", MLFLOW_SAVE, str(data), str(model_dir)], check=True, capture_output=True
    )
    port = free_port()
    cmd = [
        str(MLFLOW_VENV / "bin" / "mlflow"),
        "models",
        "serve",
        "-m",
        str(model_dir),
        "--env-manager",
        "local",
        "--host",
        "127.0.0.1",
        "-p",
        str(port),
        "-w",
        str(workers),
    ]
    env = {**os.environ, "PATH": f"{MLFLOW_VENV / 'bin'}:{os.environ['PATH']}"}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_ready(f"http://127.0.0.1:{port}/ping", proc)
        body = json.dumps({"dataframe_records": [row]})
        return measure(f"http://127.0.0.1:{port}/invocations", body, duration, tmp)
    finally:
        stop(proc)


def batch(tmp: Path, data: Path, rows: int, reps: int) -> dict[str, Any]:
    """Batch scoring of the served LogisticRegression, and of a compute-bound model (gradient
    boosting, 200 trees) where ``predict`` rather than Parquet I/O is the cost."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq
    from sklearn.ensemble import HistGradientBoostingClassifier

    import shipyard
    from shipyard.core.settings import load_settings
    from shipyard.registry.api import load_model
    from shipyard.tracking import fluent
    from shipyard.tracking.stores import open_stores

    train = np.load(data)
    x_train = pd.DataFrame(train["x"], columns=FEATURES)
    rng = np.random.default_rng(7)
    frame = pd.DataFrame(rng.normal(size=(rows, len(FEATURES))), columns=FEATURES)
    source = tmp / "batch-in.parquet"
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), source, row_group_size=250_000)
    stores = open_stores(load_settings(home=tmp / "shipyard-home"))
    out: dict[str, Any] = {"rows": rows}
    try:
        linear = load_model("models:/bench@champion", stores=stores)  # the served model
        out["linear"] = batch_case(tmp, source, frame, linear, stores, reps)
        boosted = HistGradientBoostingClassifier(max_iter=200, random_state=0).fit(x_train, train["y"])
        fluent.set_stores(stores)
        with shipyard.start_run("bench-boosted"):
            shipyard.log_model(boosted, "model", input_example=x_train.head(5), register="bench_boosted")
        fluent.reset()
        loaded = load_model("models:/bench_boosted/1", stores=stores)
        out["boosted"] = batch_case(tmp, source, frame, loaded, stores, 1)
    finally:
        stores.close()
    return out


def batch_case(tmp: Path, source: Path, frame: Any, loaded: Any, stores: Any, reps: int) -> dict[str, float]:
    import statistics

    import pandas as pd
    import pyarrow.parquet as pq

    from shipyard.serving.batch import batch_predict

    rows = len(frame)
    predict = loaded.model.predict  # the estimator itself: no signature check, no shipyard code
    expected = predict(frame)

    def in_memory() -> None:
        predict(frame)

    def read_then_predict() -> None:
        predict(pq.read_table(source).to_pandas())

    def naive_script() -> None:
        naive = pd.read_parquet(source)
        naive["prediction"] = predict(naive[FEATURES])
        naive.to_parquet(tmp / "naive-out.parquet", index=False)

    def ours(keep: str) -> Any:
        def job() -> None:
            target = tmp / f"batch-{keep}.parquet"
            target.unlink(missing_ok=True)
            batch_predict(
                loaded, str(source), str(target), chunk_rows=100_000, workers=1, stores=stores, keep=keep
            )

        return job

    cases = {
        "batch_keep_none": ours("none"),
        "read_then_predict": read_then_predict,
        "in_memory_predict": in_memory,
        "batch_keep_all": ours("all"),
        "naive_script": naive_script,
    }
    seconds: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(reps):  # interleaved, so every case sees the same machine
        for name, job in cases.items():
            started = time.perf_counter()
            job()
            seconds[name].append(time.perf_counter() - started)
    for keep in ("none", "all"):  # checked outside the timed runs
        check = pq.read_table(tmp / f"batch-{keep}.parquet", columns=["prediction"]).column(0).to_numpy()
        assert len(check) == rows and (check == expected).all(), "batch predictions differ"
    out = {f"{name}_rows_s": rows / statistics.median(v) for name, v in seconds.items()}
    return out


@contextmanager
def shipyard_server(
    tmp: Path, data: Path, src: Path | None = None, workers: int = 1
) -> Iterator[tuple[int, int]]:
    """``shipyard serve models:/bench@champion --no-auth`` (registered on first use); yields the
    port and the server's process id.
    ``src``: serve that checkout's sources instead of this one's."""
    home = tmp / "shipyard-home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
    env["SHIPYARD_HOME"] = str(home)
    env["PYTHONPATH"] = str(src or ROOT / "src")
    if not (home / "registered").exists():
        subprocess.run([sys.executable, "-c", REGISTER, str(data)], env=env, check=True)
        (home / "registered").write_text("")
    port = free_port()
    cmd = [sys.executable, "-m", "shipyard.cli.main", "serve", "models:/bench@champion", "--no-auth"]
    cmd += ["--port", str(port), "--workers", str(workers)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_ready(f"http://127.0.0.1:{port}/ready", proc)
        yield port, proc.pid
    finally:
        stop(proc)


def overload_row(results: dict[str, Any], tmp: Path, data: Path, row: dict[str, float], args: Any) -> None:
    """The overload steps against shipyard serve, through nginx in front of it (when installed),
    then against the C refusal floor."""
    body = json.dumps([row])
    with shipyard_server(tmp, data, args.src) as (port, pid):
        overload_step(port, pid, body, 16, 2, tmp)  # warm-up
        results["overload"] = {
            c: overload_step(port, pid, body, c, args.duration, tmp) for c in (64, 640, 2000)
        }
        results["overload_nginx"] = nginx_front(tmp, port, pid, body, args.duration)
    results["overload_floor"] = floor(tmp, body, args.duration)


def print_overload(results: dict[str, Any]) -> None:
    report_overload(results["overload"])
    if results["overload_nginx"]:
        print(
            "through nginx (limit_conn 24 in flight, refusals by nginx; the CPU figures are the "
            "server's; capacity: the server's own, above):"
        )
        report_overload(results["overload_nginx"], capacity=results["overload"][64]["admitted_rps"])
    report_floor(results["overload_floor"], results["overload"])


def main() -> None:
    import numpy as np

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--batch-rows", type=int, default=2_000_000)
    parser.add_argument("--batch-reps", type=int, default=5, help="runs per batch case (median)")
    parser.add_argument("--skip-online", action="store_true")
    parser.add_argument("--workers", type=int, default=1, help="server processes, both sides")
    parser.add_argument("--overload", action="store_true", help="also the overload row")
    parser.add_argument("--overload-only", action="store_true", help="only the overload row")
    parser.add_argument("--src", type=Path, help="serve this checkout's src folder (overload row)")
    args = parser.parse_args()
    if shutil.which("wrk") is None and not args.skip_online:
        sys.exit("wrk is missing: apt-get install -y wrk")
    tmp = Path(tempfile.mkdtemp(prefix="shipyard-bench-serving-"))
    rng = np.random.default_rng(0)
    x = rng.normal(size=(5000, len(FEATURES)))
    y = (x @ rng.normal(size=len(FEATURES)) > 0).astype("int64")
    data = tmp / "train.npz"
    np.savez(data, x=x, y=y)
    row = {f: float(v) for f, v in zip(FEATURES, rng.normal(size=len(FEATURES)), strict=True)}
    results: dict[str, Any] = {"load_before": os.getloadavg()}
    if args.overload_only:
        try:
            overload_row(results, tmp, data, row, args)
            results["load_after"] = os.getloadavg()
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        print_overload(results)
        print(f"load average before {results['load_before']}, after {results['load_after']} (shared machine)")
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.with_name("serving-overload.json").write_text(json.dumps(results, indent=2, default=str))
        return
    try:
        if args.overload:
            overload_row(results, tmp, data, row, args)
        if not args.skip_online:
            results["workers"] = args.workers
            results["shipyard"] = shipyard_online(tmp, data, row, args.duration, args.workers)
            results["load_mid"] = os.getloadavg()
            results["mlflow"] = mlflow_online(tmp, data, row, args.duration, args.workers)
        else:
            shipyard_online(tmp, data, row, 1)
        results["batch"] = batch(tmp, data, args.batch_rows, args.batch_reps)
        results["load_after"] = os.getloadavg()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    report(results)
    if "overload" in results:
        print_overload(results)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    where = RESULTS if args.workers == 1 else RESULTS.with_name(f"serving-w{args.workers}.json")
    where.write_text(json.dumps(results, indent=2, default=str))


def report(results: dict[str, Any]) -> None:
    rows = []
    ours, peer = results.get("shipyard"), results.get("mlflow")
    if ours:
        for c in (1, 16, 64):
            o = ours[c]
            p = peer[c] if peer else None
            ratio = o["rps"] / p["rps"] if p else float("nan")
            target = "-"
            verdict = ""
            if c == 64:
                target = ">= 3x req/s, p99 < 50 ms"
                verdict = "PASS" if ratio >= 3 and o["p99_ms"] < 50 else "FAIL"
            peer_text = f"{p['rps']:.0f}/s p50 {p['p50_ms']:.1f} p99 {p['p99_ms']:.1f}" if p else "skipped"
            rows.append(
                (
                    f"online c={c}",
                    f"{o['rps']:.0f}/s p50 {o['p50_ms']:.1f} p99 {o['p99_ms']:.1f}",
                    peer_text,
                    f"{ratio:.2f}x",
                    target,
                    verdict,
                )
            )
    for name, label in (("linear", "LogisticRegression"), ("boosted", "HistGradientBoosting, 200 trees")):
        b = results["batch"][name]
        ours_rps = b["batch_keep_none_rows_s"]
        compared = [
            ("predict on the file's data (read + predict)", "read_then_predict_rows_s", name == "linear"),
            ("predict on rows in memory", "in_memory_predict_rows_s", name == "boosted"),
        ]
        for what, key, is_target in compared:
            ratio = ours_rps / b[key]
            rows.append(
                (
                    f"batch --keep none vs {what}, {label}",
                    f"{ours_rps:,.0f} rows/s",
                    f"{b[key]:,.0f} rows/s",
                    f"{ratio:.2f}",
                    ">= 0.80" if is_target else "(reference)",
                    ("PASS" if ratio >= 0.8 else "FAIL") if is_target else "",
                )
            )
        rows.append(
            (
                f"  batch --keep all vs naive read->predict->to_parquet, {label}",
                f"{b['batch_keep_all_rows_s']:,.0f} rows/s",
                f"{b['naive_script_rows_s']:,.0f} rows/s",
                f"{b['batch_keep_all_rows_s'] / b['naive_script_rows_s']:.2f}",
                "-",
                "",
            )
        )
    header = ("case", "shipyard", "peer (MLflow / raw)", "ratio", "target", "")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(6)]
    for r in [header, *rows]:
        print("  ".join(str(v).ljust(w) for v, w in zip(r, widths, strict=True)))
    print(
        f"load average before {results['load_before']}, after {results.get('load_after')} (2 cores, shared)"
    )
    for side in ("shipyard", "mlflow"):
        for c, v in (results.get(side) or {}).items():
            if v["non_2xx"] or v["socket_errors"]:
                print(
                    f"warning: {side} c={c}: {v['non_2xx']:.0f} non-2xx, socket errors {v['socket_errors']}"
                )


if __name__ == "__main__":
    main()
