"""Ray's task failures as one-line reasons (the same wording the local executor uses where the
cause is the same), so a task record says "killed: out of memory" rather than a Ray traceback."""

from __future__ import annotations


def _first_line(text: str) -> str:
    for line in text.strip().splitlines():
        if line.strip():
            return line.strip()
    return ""


def describe_failure(exc: BaseException, memory_mb: int = 0) -> str:
    """Why a Ray task produced no payload."""
    kind = type(exc).__name__
    detail = _first_line(str(exc))
    if kind == "OutOfMemoryError":
        return f"killed: out of memory (Ray's memory monitor stopped the task: {detail})"
    lower = detail.lower()
    if kind in ("NodeDiedError", "RaySystemError") or ("node" in lower and "died" in lower):
        return f"task process died with its Ray node: {detail}"
    if kind == "WorkerCrashedError":
        hint = f" (declared memory={memory_mb} MiB: it may have run out of memory)" if memory_mb else ""
        return f"task process died: the Ray worker crashed{hint}"
    if kind == "TaskCancelledError":
        return "task was cancelled"
    if kind == "RayTaskError" or kind.startswith("RayTaskError("):
        cause = getattr(exc, "cause", None)
        if cause is not None:
            return f"{type(cause).__name__}: {_first_line(str(cause))}"
    return f"{kind}: {detail}" if detail else kind
