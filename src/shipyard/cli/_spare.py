"""A spare ``shipyard`` process for the agent: ``python -m shipyard.cli._spare [MODULE ...]``.

It imports the serving stack and ``MODULE``s (a model flavor's libraries) ahead of time, says
``ready`` on stdout (a pipe to the agent), then waits for one JSON line on stdin — ``{"argv":
[...], "log": PATH, "env": {...}}`` — and becomes that command: the variables replace its own,
its output goes to ``PATH`` (appended) and it runs ``shipyard ARGV`` in this process. The agent
starts it with the variables and folder such a command gets and sends it only a command it fits
(:mod:`shipyard.deploy.agent.spare`), so what runs is what a fresh process would run, minus the
seconds of imports (on a busy machine most of a ``shipyard serve`` cold start). End of input (the
agent discarded it, or is gone) exits 0.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys

#: what every ``shipyard serve`` imports before it can load a model
STACK = (
    "shipyard.cli.main",
    "shipyard.cli.serve",
    "shipyard.serving.run",
    "shipyard.serving.app",
    "shipyard.serving.models",
    "shipyard.tracking.stores",
    "shipyard.registry.service",
    "uvicorn",
    "numpy",
    "pandas",
)
MAX_ORDER = 1 << 20


def main(modules: list[str]) -> int:
    import importlib

    for name in [*STACK, *modules]:
        with contextlib.suppress(Exception):  # a module that fails here fails in the command, named
            importlib.import_module(name)
    with contextlib.suppress(OSError):  # to the agent, which may have stopped listening (taken early)
        os.write(1, b"ready\n")
    line = sys.stdin.buffer.readline(MAX_ORDER)
    if not line.strip():
        return 0
    order = json.loads(line)
    argv = [str(a) for a in order["argv"]]
    if isinstance(order.get("env"), dict):  # the command's variables (its settings may have changed)
        os.environ.clear()
        os.environ.update({str(k): str(v) for k, v in order["env"].items()})
    log = os.open(str(order["log"]), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    sys.argv = ["shipyard", *argv]
    from shipyard.cli.main import main as shipyard

    return shipyard(argv)


if __name__ == "__main__":  # pragma: no cover - a child process of the agent
    sys.exit(main(sys.argv[1:]))
