"""The overload row of bench/serving.py: ``wrk`` at 64, 640 and 2,000 connections, a probe client
beside it, and the floor any server could reach on this machine.

Every step runs ``wrk`` (2 threads, a Lua ``response`` hook counting answers by status) for the
given connections, with a :class:`Probe` (one request at a time on its own connection) that gives
the p99 of admitted requests and of refusals separately. Each step also records the CPU the
server got (``/proc/<pid>/stat``) and the CPU the whole machine spent (``/proc/stat``: every core,
wrk and the kernel's network work included) per answer.

The floor (:func:`floor`): ``bench/refusal_floor.c``, a one-loop C server that answers every
request with one prebuilt 503 write (no parsing beyond the header end, no model, nothing admitted:
no server can refuse for less), compiled with ``cc`` and put under the same steps. wrk's clients
resend at once whatever the answer (a closed loop), so answering each of ``c`` connections within
50 ms takes at least ``c / 0.05`` answers a second (Little's law: 40,000/s at 2,000); the floor's
machine CPU per answer times that rate is what refusing alone costs this machine, before anything
is admitted. :func:`report_floor` prints it beside the cores the admitted target needs (80% of
the server's CPU at capacity).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from server import free_port  # bench/server.py (this folder is on sys.path for bench scripts)

FLOOR_SOURCE = Path(__file__).resolve().with_name("refusal_floor.c")
WITHIN_S = 0.05  # every answer, admitted or refused, is due within 50 ms


OVERLOAD_LUA = r"""
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = io.open("BODY", "r"); wrk.body = f:read("*a"); f:close()
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) ok = 0; refused = 0; other = 0 end
function response(status, headers, body)
  if status == 200 then ok = ok + 1 elseif status == 503 then refused = refused + 1 else other = other + 1 end
end
function done(summary, latency, requests)
  local o, r, x = 0, 0, 0
  for _, t in ipairs(threads) do o = o + t:get("ok"); r = r + t:get("refused"); x = x + t:get("other") end
  io.write(string.format("STATUS ok=%d refused=%d other=%d\n", o, r, x))
end
"""


class Probe:
    """One request at a time on its own keep-alive connection, every ``gap_s``: (status, seconds)."""

    def __init__(self, port: int, body: str, gap_s: float = 0.004) -> None:
        self.port = port
        self.body = body.encode()
        self.gap_s = gap_s
        self.samples: list[tuple[int, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="probe", daemon=True)

    def __enter__(self) -> Probe:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        import http.client

        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        headers = {"Content-Type": "application/json"}
        while not self._stop.is_set():
            started = time.perf_counter()
            try:
                conn.request("POST", "/predict", self.body, headers)
                response = conn.getresponse()
                response.read()
                self.samples.append((response.status, time.perf_counter() - started))
            except (OSError, http.client.HTTPException):
                self.samples.append((0, time.perf_counter() - started))
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
            time.sleep(self.gap_s)
        conn.close()


def p99_ms(values: list[float]) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return 1000 * ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]


def machine_busy_seconds() -> float:
    """Seconds every core spent outside idle and iowait so far (Linux ``/proc/stat``)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` and its threads so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def overload_step(
    port: int, pid: int, body: str, connections: int, duration: int, tmp: Path
) -> dict[str, float]:
    (tmp / "body.json").write_text(body)
    script = tmp / "overload.lua"
    script.write_text(OVERLOAD_LUA.replace("BODY", str(tmp / "body.json")))
    url = f"http://127.0.0.1:{port}/predict"
    cmd = [
        "wrk",
        "-t2",
        f"-c{connections}",
        f"-d{duration}s",
        "--timeout",
        "5s",
        "--latency",
        "-s",
        str(script),
        url,
    ]
    cpu_before, busy_before, started = cpu_seconds(pid), machine_busy_seconds(), time.perf_counter()
    with Probe(port, body) as probe:
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    cpu, elapsed = cpu_seconds(pid) - cpu_before, time.perf_counter() - started
    busy = machine_busy_seconds() - busy_before
    found = re.search(r"STATUS ok=(\d+) refused=(\d+) other=(\d+)", out)
    assert found, out
    ok, refused, other = (int(v) for v in found.groups())
    timeouts = re.search(r"timeout (\d+)", out)
    admitted = [t for status, t in probe.samples if status == 200]
    rejections = [t for status, t in probe.samples if status == 503]
    return {
        "admitted_rps": ok / duration,
        "refused_rps": refused / duration,
        "other": float(other),
        "timeouts": float(timeouts.group(1)) if timeouts else 0.0,
        "admitted_p99_ms": p99_ms(admitted),
        "refused_p99_ms": p99_ms(rejections),
        "probe_admitted": float(len(admitted)),
        "probe_refused": float(len(rejections)),
        "server_cores": cpu / elapsed,  # CPU seconds the server used per second: what it got
        "server_us_per_answer": 1e6 * cpu / max(1, ok + refused),
        "machine_cores": busy / elapsed,  # every core's busy time: wrk, kernel, probe, server
        "machine_us_per_answer": 1e6 * busy / max(1, ok + refused),
    }


def report_overload(results: dict[int, Any], capacity: float | None = None) -> None:
    """The table; ``capacity``: the 200s/s to compare with (default: this run's at 64 connections)."""
    capacity = results[64]["admitted_rps"] if capacity is None else capacity
    print(
        "overload: wrk (2 threads) + a probe client + shipyard serve (1 worker) on the same "
        f"{os.cpu_count()} cores; capacity = 200s/s at 64 connections = {capacity:.0f}/s"
    )
    header = (
        "connections",
        "admitted/s",
        "of capacity",
        "admitted p99",
        "refused/s",
        "refusal p99",
        "server CPU",
        "CPU/answer",
        "target",
        "",
    )
    rows = [header]
    for c, r in results.items():
        share = r["admitted_rps"] / capacity if capacity else float("nan")
        target, verdict = "-", ""
        if c != 64:
            target = ">= 80%, p99 < 50 ms, refusals < 50 ms"
            ok = share >= 0.8 and r["admitted_p99_ms"] < 50 and not r["refused_p99_ms"] >= 50
            verdict = "PASS" if ok else "FAIL"
        rows.append(
            (
                str(c),
                f"{r['admitted_rps']:.0f}",
                f"{share:.0%}",
                f"{r['admitted_p99_ms']:.1f} ms",
                f"{r['refused_rps']:.0f}",
                f"{r['refused_p99_ms']:.1f} ms" if r["probe_refused"] else "(none)",
                f"{r['server_cores']:.2f} cores",
                f"{r['server_us_per_answer']:.0f} us",
                target,
                verdict,
            )
        )
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(header))]
    for r in rows:
        print("  ".join(str(v).ljust(w) for v, w in zip(r, widths, strict=True)))
    for c, r in results.items():
        if r["other"] or r["timeouts"]:
            print(
                f"warning: c={c}: {r['other']:.0f} answers not 200 or 503, {r['timeouts']:.0f} wrk timeouts"
            )


@contextmanager
def floor_server(tmp: Path) -> Iterator[tuple[int, int] | None]:
    """``bench/refusal_floor.c`` built with ``cc`` and started; (port, pid), or None without ``cc``."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        yield None
        return
    binary = tmp / "refusal_floor"
    subprocess.run([compiler, "-O2", "-o", str(binary), str(FLOOR_SOURCE)], check=True)
    port = free_port()
    with _listening([str(binary), str(port)], port) as proc:
        yield port, proc.pid


def floor(tmp: Path, body: str, duration: int) -> dict[int, Any]:
    """The overload steps against the C refusal server (nothing admitted); {} without ``cc``."""
    with floor_server(tmp) as server:
        if server is None:
            return {}
        port, pid = server
        overload_step(port, pid, body, 16, 2, tmp)  # warm-up
        return {c: overload_step(port, pid, body, c, duration, tmp) for c in (640, 2000)}


def report_floor(floor_results: dict[int, Any], results: dict[int, Any]) -> None:
    """What refusing alone costs this machine at each step, against the cores left for admitting."""
    if not floor_results:
        print("floor: skipped (no C compiler)")
        return
    cores = os.cpu_count() or 1
    at_capacity = results[64]["server_cores"]
    admit = 0.8 * at_capacity
    print(
        f"floor: a C server refusing every request with one prebuilt write (bench/refusal_floor.c), "
        f"same wrk and probe; closed loop, so answering c connections within {WITHIN_S * 1000:.0f} ms "
        f"takes >= c/{WITHIN_S} answers/s"
    )
    for c, r in floor_results.items():
        needed = c / WITHIN_S
        refusing = r["machine_us_per_answer"] * needed / 1e6
        verdict = f"within the {cores} cores" if refusing + admit <= cores else f"more than the {cores} cores"
        print(
            f"  c={c}: {r['refused_rps'] + r['admitted_rps']:.0f} answers/s, refusal p99 "
            f"{r['refused_p99_ms']:.1f} ms, server {r['server_cores']:.2f} cores, machine "
            f"{r['machine_cores']:.2f} of {cores} cores = {r['machine_us_per_answer']:.1f} us per answer; "
            f"{needed:.0f} answers/s cost {refusing:.2f} cores + admitting 80% of capacity "
            f"{admit:.2f} cores (0.8 x the server's {at_capacity:.2f} at 64 connections) "
            f"= {refusing + admit:.2f} of {cores}: {verdict}"
        )


NGINX_CONF = """
worker_processes 1;
error_log TMP/nginx-error.log crit;
events { worker_connections 8192; use epoll; multi_accept on; }
http {
  access_log off;
  client_body_temp_path TMP/nginx-body;
  proxy_temp_path TMP/nginx-proxy;
  fastcgi_temp_path TMP/nginx-fastcgi;
  uwsgi_temp_path TMP/nginx-uwsgi;
  scgi_temp_path TMP/nginx-scgi;
  map $request_method $inflight_key { default all; }
  limit_conn_zone $inflight_key zone=inflight:1m;
  limit_conn_status 503;
  upstream app { server 127.0.0.1:APP_PORT; keepalive 512; }
  server {
    listen 127.0.0.1:PORT backlog=4096;
    keepalive_requests 100000000;
    location / {
      limit_conn inflight LIMIT;
      add_header Retry-After 1 always;
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
    }
  }
}
"""


def nginx_front(
    tmp: Path, app_port: int, app_pid: int, body: str, duration: int, limit: int = 24
) -> dict[int, Any]:
    """The steps through nginx in front of the server (``limit_conn``: at most ``limit`` requests in
    flight, the rest refused with 503 by nginx, never reaching Python): what a production C proxy
    does on these cores. The CPU figures are the server's; {} without ``nginx``."""
    if shutil.which("nginx") is None:
        return {}
    port = free_port()
    conf = tmp / "nginx.conf"
    text = NGINX_CONF.replace("APP_PORT", str(app_port)).replace("PORT", str(port), 1)
    conf.write_text(text.replace("LIMIT", str(limit)).replace("TMP", str(tmp)))
    pid_file = tmp / "nginx.pid"
    command = ["nginx", "-p", str(tmp), "-c", str(conf), "-g", f"daemon off; pid {pid_file};"]
    try:
        with _listening(command, port):
            overload_step(port, app_pid, body, 16, 2, tmp)  # warm-up
            return {c: overload_step(port, app_pid, body, c, duration, tmp) for c in (64, 640, 2000)}
    except NotListening as exc:  # e.g. a user that may not open nginx's compiled-in log path
        print(f"nginx step skipped: {exc} (see {tmp / 'nginx-error.log'})")
        return {}


class NotListening(RuntimeError):
    """A started process exited, or did not listen on its port within 10 s."""


@contextmanager
def _listening(command: list[str], port: int) -> Iterator[subprocess.Popen[bytes]]:
    """``command`` started and listening on ``port`` on loopback; terminated on the way out."""
    proc = subprocess.Popen(command)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise NotListening(f"{command[0]}: nothing listens on port {port}") from None
                time.sleep(0.05)
        yield proc
    finally:
        proc.terminate()
        proc.wait(timeout=10)
