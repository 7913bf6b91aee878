"""A resource accountant: never hand out more cpu, memory or GPUs than the machine has."""

from __future__ import annotations

import os
import shutil
import subprocess

from shipyard.core.errors import FlowError
from shipyard.executors.base import Resources


def detect_gpus() -> list[str]:
    """GPU ids this process may use: ``CUDA_VISIBLE_DEVICES`` if set, else ``nvidia-smi -L``."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [g.strip() for g in visible.split(",") if g.strip() and g.strip() != "-1"]
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return []
    return [str(i) for i, line in enumerate(out.stdout.splitlines()) if line.startswith("GPU ")]


def total_memory_mb() -> int:
    import psutil

    return int(psutil.virtual_memory().total // (1024 * 1024))


class ResourceAccountant:
    """Tracks what running tasks hold; ``acquire`` hands out GPU ids."""

    def __init__(self, cpu: float, memory_mb: int, gpus: list[str]) -> None:
        self.cpu_total = cpu
        self.memory_total = memory_mb
        self.gpus_total = list(gpus)
        self.cpu_free = cpu
        self.memory_free = memory_mb
        self.gpus_free = list(gpus)
        self._held: dict[str, tuple[Resources, list[str]]] = {}

    def check_fits(self, res: Resources, what: str) -> None:
        problems = []
        if res.cpu > self.cpu_total:
            problems.append(f"cpu={res.cpu:g} (machine has {self.cpu_total:g})")
        if res.memory_mb > self.memory_total:
            problems.append(f"memory={res.memory_mb} MiB (machine has {self.memory_total} MiB)")
        if res.gpu > len(self.gpus_total):
            problems.append(f"gpu={res.gpu} (machine has {len(self.gpus_total)})")
        if problems:
            raise FlowError(f"{what} asks for more than this machine has: {', '.join(problems)}")

    def fits_now(self, res: Resources) -> bool:
        # a task asking more cpu than the machine has was refused by check_fits; clamp the rest
        cpu = min(res.cpu, self.cpu_total)
        return (
            cpu <= self.cpu_free + 1e-9
            and res.memory_mb <= self.memory_free
            and res.gpu <= len(self.gpus_free)
        )

    def acquire(self, task_id: str, res: Resources) -> list[str]:
        cpu = min(res.cpu, self.cpu_total)
        gpus = self.gpus_free[: res.gpu]
        self.gpus_free = self.gpus_free[res.gpu :]
        self.cpu_free -= cpu
        self.memory_free -= res.memory_mb
        self._held[task_id] = (Resources(cpu, res.memory_mb, res.gpu), gpus)
        return gpus

    def release(self, task_id: str) -> None:
        held = self._held.pop(task_id, None)
        if held is None:
            return
        res, gpus = held
        self.cpu_free += res.cpu
        self.memory_free += res.memory_mb
        self.gpus_free.extend(gpus)
