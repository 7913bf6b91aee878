"""What one answer costs the serving process, refused or admitted, measured in CPU time in-process.

    .venv/bin/python bench/admission_cost.py [--requests 20000] [--connections 200] [--src PATH]

On a shared machine the overload row of ``bench/serving.py`` moves with the neighbours' load; CPU
time per answer moves much less. This drives the app that ``shipyard serve`` builds (the same
LogisticRegression as bench/serving.py, ``--no-auth``, no prediction log) through uvicorn's
httptools protocol with an in-memory transport (no sockets: kernel time is the same either way and
is left out), each connection with one request outstanding, as wrk's are:

- ``refused``: the gate is full (limit 0, no wait) so every ``/predict`` is refused;
- ``admitted``: the gate is open, every request goes to the model (micro-batched as in service).

Both with uvicorn's own protocol (``uvicorn``: the refusal comes from the gate in the app's
``__call__``) and with the protocol ``shipyard serve`` runs (``shipyard``:
serving/protocol.py; absent in a checkout that lacks it). The figure is CPU microseconds of this
process (all threads) per answer, and the socket writes per answer. ``--src`` measures another
checkout's ``src`` (e.g. the commit before a change).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


class Transport(asyncio.Transport):
    """An in-memory transport: counts writes and responses begun (their heads), keeps the statuses.
    A response's body is written in the same step of the loop as its head (no await between)."""

    def __init__(self) -> None:
        super().__init__()
        self.writes = 0
        self.answers = 0
        self.statuses: set[bytes] = set()
        self.closing = False

    def write(self, data: Any) -> None:
        self.writes += 1
        if data.startswith(b"HTTP/1.1 "):
            self.answers += 1
            self.statuses.add(bytes(data[9:12]))

    def close(self) -> None:
        self.closing = True

    def is_closing(self) -> bool:
        return self.closing

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 40000)}.get(name, default)


async def drive(
    app: Any, protocol_class: Any, request: bytes, total: int, connections: int
) -> dict[str, float]:
    import uvicorn
    from uvicorn.server import ServerState

    config = uvicorn.Config(app, http=protocol_class, log_level="warning", lifespan="off")
    config.load()
    state = ServerState()
    loop = asyncio.get_running_loop()
    conns = []
    for _ in range(connections):
        protocol = config.http_protocol_class(config=config, server_state=state, app_state={}, _loop=loop)
        transport = Transport()
        protocol.connection_made(transport)
        conns.append((protocol, transport, [0]))  # [requests sent on it]
    sent = done = 0
    cpu, wall = time.process_time(), time.perf_counter()
    while done < total:
        for protocol, transport, counts in conns:
            if counts[0] == transport.answers and sent < total:
                counts[0] += 1
                sent += 1
                protocol.data_received(request)
        await asyncio.sleep(0)
        done = sum(t.answers for _, t, _ in conns)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    writes = sum(t.writes for _, t, _ in conns)
    statuses = set().union(*(t.statuses for _, t, _ in conns))
    for protocol, _, _ in conns:
        protocol.connection_lost(None)
    return {
        "us_per_answer": 1e6 * cpu / done,
        "writes_per_answer": writes / done,
        "statuses": sorted(s.decode() for s in statuses),
        "wall_s": wall,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--connections", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=2, help="each case this many times, interleaved")
    parser.add_argument("--src", type=Path, help="measure this checkout's src folder")
    args = parser.parse_args()
    sys.path.insert(0, str(args.src or ROOT / "src"))
    sys.path.insert(1, str(ROOT / "bench"))
    import numpy as np
    import uvloop

    from serving import FEATURES, REGISTER
    from shipyard.core.settings import load_settings
    from shipyard.serving import ServingConfig, create_serving_app
    from shipyard.tracking.stores import open_stores

    tmp = Path(tempfile.mkdtemp(prefix="shipyard-bench-admission-"))
    rng = np.random.default_rng(0)
    x = rng.normal(size=(5000, len(FEATURES)))
    np.savez(tmp / "train.npz", x=x, y=(x @ rng.normal(size=len(FEATURES)) > 0).astype("int64"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
    env |= {"SHIPYARD_HOME": str(tmp / "home"), "PYTHONPATH": str(args.src or ROOT / "src")}
    subprocess.run([sys.executable, "-c", REGISTER, str(tmp / "train.npz")], env=env, check=True)
    stores = open_stores(load_settings(home=tmp / "home"))
    row = ",".join(
        f'"{f}": {v!r}' for f, v in zip(FEATURES, rng.normal(size=len(FEATURES)).tolist(), strict=True)
    )
    body = f"[{{{row}}}]".encode()
    request = (
        b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1:8000\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
    )
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    protocols: dict[str, Any] = {"uvicorn": HttpToolsProtocol}
    try:
        from shipyard.serving.protocol import GatedHttpToolsProtocol

        protocols["shipyard"] = GatedHttpToolsProtocol
    except ImportError:
        pass

    async def run() -> dict[str, list[dict[str, Any]]]:
        config = ServingConfig("models:/bench@champion", auth=False, log_dir=None)
        app = create_serving_app(config, stores=stores)
        gate = app.state.admission
        out: dict[str, list[dict[str, Any]]] = {}
        async with app.router.lifespan_context(app):
            for protocol in protocols.values():
                await drive(app, protocol, request, 2000, args.connections)  # warm-up
            for _ in range(args.rounds):  # interleaved: each case sees the same machine
                for name, protocol in protocols.items():
                    limits = gate.limit, gate.floor, gate.ceiling, gate.hold_s
                    gate.limit, gate.floor, gate.ceiling, gate.hold_s = 0, 0, 0, 0.0
                    refused = await drive(app, protocol, request, args.requests, args.connections)
                    gate.limit = gate.floor = gate.ceiling = 10**6  # it never shrinks: all admitted
                    admitted = await drive(app, protocol, request, args.requests, args.connections)
                    gate.limit, gate.floor, gate.ceiling, gate.hold_s = limits
                    out.setdefault(f"refused, {name}", []).append(refused)
                    out.setdefault(f"admitted, {name}", []).append(admitted)
        return out

    try:
        results = uvloop.run(run())
    finally:
        stores.close()
    print(
        f"src: {args.src or ROOT / 'src'}; {args.requests} answers per case, {args.connections} "
        f"connections; median of {args.rounds} interleaved rounds"
    )
    for case, runs in results.items():
        us = statistics.median(r["us_per_answer"] for r in runs)
        writes = runs[-1]["writes_per_answer"]
        statuses = ",".join(sorted(set().union(*(r["statuses"] for r in runs))))
        print(f"  {case:20s} {us:7.1f} us CPU/answer  {writes:.2f} writes/answer  statuses {statuses}")
    print(f"load average {os.getloadavg()} (shared machine: CPU time, not wall time, is compared)")


if __name__ == "__main__":
    main()
