"""The process a step's environment runs in: ``python -m shipyard.runtime.envs.child PARENT_PID
REQUESTS_FD REPLIES_FD SITE``, started by :mod:`.dispatch` with ``SITE`` (the environment's
packages) first on ``PYTHONPATH``.

It reads the settings (one JSON line, secrets included: a pipe, never argv or the environment)
and then task requests from ``REQUESTS_FD``, runs each through
:func:`shipyard.runtime.task_entry.run_task` (which records the task) and writes its payload as
one JSON line to ``REPLIES_FD``. It dies with the process that started it (``PR_SET_PDEATHSIG``
on Linux, a one-second parent check elsewhere): a worker killed for a timeout or a cancelled run
takes its environment's process along.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import site
import sys
import threading
import time
import traceback
from typing import Any

_PR_SET_PDEATHSIG = 1


def _die_with_parent(parent: int) -> None:
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    else:  # no death signal: notice being orphaned within a second
        threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()
    if os.getppid() != parent:  # the parent died before the death signal was set
        os._exit(0)


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(1)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 4:
        print(
            "usage: python -m shipyard.runtime.envs.child PARENT_PID REQUESTS_FD REPLIES_FD SITE",
            file=sys.stderr,
        )
        return 2
    parent, requests_fd, replies_fd, site_dir = int(args[0]), int(args[1]), int(args[2]), args[3]
    _die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the runner stops us, as it stops its workers
    site.addsitedir(site_dir)  # already first on the path: this runs the environment's .pth files

    from shipyard.core.settings import Settings
    from shipyard.runtime.task_entry import run_task, warm_up

    with os.fdopen(requests_fd, "rb") as requests, os.fdopen(replies_fd, "wb") as replies:
        first = requests.readline()
        if not first:
            return 0
        settings = Settings(**json.loads(first))
        with contextlib.suppress(Exception):  # a real problem shows up again in the first task
            warm_up(settings)
        for line in requests:
            msg = json.loads(line)
            try:
                payload: dict[str, Any] = run_task(
                    msg["run_id"], msg["task_id"], settings, attempt=msg.get("attempt"), node=msg.get("node")
                )
            except BaseException:
                payload = {"ok": False, "error": traceback.format_exc(), "recorded": False}
            replies.write(json.dumps(payload, default=str).encode() + b"\n")
            replies.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
