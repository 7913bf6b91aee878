"""A spare process: a ``python -m shipyard.cli._spare`` the agent keeps started, its imports done,
so a new ``shipyard serve`` (a rollout, a restart) skips them — on a busy machine most of its cold
start. It is used only for a command it fits: the same interpreter and folder, and the same
environment variables it was started with except the environment's own settings (``runtime``:
shipyard reads those when it runs, never at import) — and of those, none that libraries read when
they are imported (:data:`IMPORT_TIME`: thread pools, the interpreter, accelerators), so what
runs is what a fresh process would run. The command's variables are sent with it and replace the
spare's before it runs.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import time
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path

from shipyard.deploy.agent.commands import CLI

SPARE = ("-m", "shipyard.cli._spare")

#: prefixes of variables read when a library is imported: a change in one needs a fresh process
IMPORT_TIME = (
    "PYTHON",
    "LD_",
    "OMP_",
    "MKL_",
    "OPENBLAS_",
    "BLIS_",
    "VECLIB_",
    "NUMEXPR_",
    "KMP_",
    "GOTO",
    "CUDA",
    "NVIDIA_",
    "TORCH",
    "TF_",
    "XLA_",
    "JAX_",
    "SKLEARN_",
    "SCIPY_",
    "NUMPY_",
    "ARROW_",
    "PYARROW_",
    "MALLOC_",
    "TZ",
)

#: a model flavor (as the registry records it) -> the libraries its load imports
FLAVOR_MODULES: dict[str, tuple[str, ...]] = {
    "sklearn": ("sklearn.base", "sklearn.utils", "skops.io", "scipy.special"),
    "xgboost": ("xgboost",),
    "lightgbm": ("lightgbm",),
    "torch": ("torch",),
}


class Spare:
    """One started spare (see the module doc)."""

    def __init__(
        self,
        python: str,
        env: Mapping[str, str],
        cwd: Path | None,
        modules: Sequence[str],
        log: Path,
    ) -> None:
        self.python = python
        self.env = dict(env)
        self.cwd = cwd
        self.modules = tuple(modules)
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as out:
            self.proc: subprocess.Popen[bytes] = subprocess.Popen(
                [python, *SPARE, *self.modules],
                env=self.env,
                cwd=cwd,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,  # "ready" once its imports are done
                stderr=out,
                start_new_session=True,
            )
        self.pid = self.proc.pid
        self.started = time.monotonic()
        self.ready_after: float | None = None  # seconds its imports took, once it said so

    @property
    def ready(self) -> bool:
        """Whether its imports are done (asked without blocking)."""
        if self.ready_after is None and self.proc.stdout is not None and not self.proc.stdout.closed:
            import select

            readable, _, _ = select.select([self.proc.stdout], [], [], 0)
            if readable and self.proc.stdout.readline().strip() == b"ready":
                self.ready_after = round(self.age, 2)
        return self.ready_after is not None

    @property
    def age(self) -> float:
        return time.monotonic() - self.started

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def fits(
        self,
        argv: Sequence[str],
        env: Mapping[str, str],
        cwd: Path | None,
        runtime: Collection[str] = (),
    ) -> bool:
        """Whether it may become ``argv`` (a ``shipyard`` command) run with ``env`` in ``cwd``;
        variables named in ``runtime`` may differ (see the module doc)."""
        if not self.alive or list(argv[: 1 + len(CLI)]) != [self.python, *CLI] or cwd != self.cwd:
            return False
        differ = {k for k in {*env, *self.env} if env.get(k) != self.env.get(k)}
        return all(k in runtime and not k.upper().startswith(IMPORT_TIME) for k in differ)

    def take(
        self, argv: Sequence[str], log: Path, env: Mapping[str, str] | None = None
    ) -> subprocess.Popen[bytes] | None:
        """Make it run ``argv`` (checked with :meth:`fits`) with ``env`` (default: its own), its
        output appended to ``log``; the process, or None when it could not be told (it died)."""
        body: dict[str, object] = {"argv": list(argv[1 + len(CLI) :]), "log": str(log)}
        if env is not None:
            body["env"] = dict(env)
        order = json.dumps(body).encode() + b"\n"
        stdin = self.proc.stdin
        if stdin is None or stdin.closed or not self.alive:
            return None
        try:
            stdin.write(order)
            stdin.close()
        except OSError:  # it died meanwhile (a broken pipe)
            self.discard()
            return None
        if self.ready and self.proc.stdout is not None:  # it said all it says here: its log from now on
            self.proc.stdout.close()
        return self.proc

    def discard(self) -> None:
        """Stop it (one that was never taken: SIGKILL, it holds nothing but imports)."""
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()
        if self.alive:
            self.proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):  # SIGKILL was sent
            self.proc.wait(timeout=5)
        if self.proc.stdout is not None and not self.proc.stdout.closed:
            self.proc.stdout.close()
