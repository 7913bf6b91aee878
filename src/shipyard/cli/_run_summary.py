"""The end of ``shipyard run``/``resume``, without Typer: the run id (``-q``), the summary or its
JSON, the failure line, and the exit code. Shared by :mod:`shipyard.cli.flows` (the Typer
commands) and :mod:`shipyard.cli._fast_run`, so both print the same bytes."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shipyard.artifacts.store import ArtifactStore
    from shipyard.core.entities import ArtifactRecord
    from shipyard.metadata.base import MetadataStore
    from shipyard.runtime.api import FlowRun

OUTPUT_ARTIFACT = "output"  # a flow's result: the run-level artifact with this name
MAX_OUTPUT_BYTES = 1_000_000
MAX_OUTPUT_CHARS = 4_000


def load_output(artifacts: ArtifactStore, record: ArtifactRecord | None) -> tuple[bool, Any]:
    """(shown, value) of a run's ``output`` record: loaded only when small, safe and JSON-able."""
    from shipyard.artifacts.store import StoredObject
    from shipyard.cli._output import dumps

    if record is None or record.unsafe or record.size > MAX_OUTPUT_BYTES:
        return False, None
    if record.serializer in ("file", "dir"):
        return False, None
    try:
        value = artifacts.get_object(StoredObject.of(record), name=record.name, allow_unsafe=False)
        text = dumps(value)
    except Exception:  # not loadable or not JSON-able: `shipyard artifacts get` still works
        return False, None
    return len(text) <= MAX_OUTPUT_CHARS, value


def finish_run(  # noqa: PLR0917 (what the commands have at hand)
    run: FlowRun,
    metadata: MetadataStore,
    artifacts: ArtifactStore,
    metadata_uri: str,
    as_json: bool,
    quiet: bool,
) -> int:
    """Print the end of a run (the run id alone with ``quiet``, for scripts; else a summary:
    status, duration, the output in short, where the run is stored, the next command) and
    return the command's exit code (0 succeeded, 130 cancelled, 1 otherwise)."""
    from shipyard.cli._output import printable

    outcome = run.outcome
    status = outcome.status.value if outcome else run.status.value
    error = outcome.error if outcome else None
    if quiet and not as_json:
        _echo(run.id, sys.stdout)
    else:
        summary = run_summary(metadata, artifacts, run.id, status, error, metadata_uri)
        if as_json:
            from shipyard.cli._output import print_json

            print_json(summary)
        else:
            print_summary(summary)
    if error and not as_json:
        _echo(f"run {run.id} {status}: {printable(error, multiline=True)}", sys.stderr)
    if status == "cancelled":
        return 130
    return 0 if status == "succeeded" else 1


def _echo(text: str, stream: Any) -> None:
    """As ``typer.echo``: the text and a newline, flushed."""
    stream.write(f"{text}\n")
    stream.flush()


def run_summary(  # noqa: PLR0917
    metadata: MetadataStore,
    artifacts: ArtifactStore,
    run_id: str,
    status: str,
    error: str | None,
    metadata_uri: str,
) -> dict[str, Any]:
    from shipyard.cli._output import store_label
    from shipyard.core.errors import NotFoundError

    info = metadata.get_run(run_id)
    shown, output = False, None
    if status == "succeeded":
        try:
            record = metadata.find_artifact(run_id, OUTPUT_ARTIFACT)
        except NotFoundError:  # the flow returned nothing
            record = None
        shown, output = load_output(artifacts, record)
    commands = [f"shipyard runs show {run_id}"]
    if status == "failed":
        commands = [f"shipyard logs {run_id}", f"shipyard resume {run_id}", *commands]
    return {
        "run_id": run_id,
        "name": info.name,
        "flow": info.flow_name,
        "status": status,
        "error": error,
        "duration_s": info.duration_s,
        "output": output if shown else None,
        "store": store_label(metadata_uri),
        "next": commands,
    }


def print_summary(summary: dict[str, Any]) -> None:
    from shipyard.cli._output import console, dumps, fmt_duration, line, short_text, styled_status

    out = console()
    out.print(
        line(
            "run ",
            (summary["run_id"], "bold"),
            " ",
            styled_status(summary["status"]),
            f" in {fmt_duration(summary['duration_s'])}",
            f" ({summary['flow']})" if summary["flow"] else "",
        )
    )
    rows = []
    if summary["error"]:
        rows.append(("error", short_text(summary["error"].strip().splitlines()[-1])))
    if summary["output"] is not None:
        rows.append(("output", short_text(dumps(summary["output"]))))
    rows.append(("stored in", summary["store"]))
    for label, value in rows:
        out.print(line(f"  {label:<10} ", value))
    for i, command in enumerate(summary["next"]):
        out.print(line(f"  {'next' if i == 0 else '':<10} ", (command, "cyan")))
