"""A flow run from a real Jupyter kernel (ipykernel, driven like a notebook front end through
jupyter_client): its progress table is one display updated in place while it runs, and
interrupting the cell (the front end's stop button) cancels the run and stops its workers."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import shipyard
from shipyard.core.entities import RunStatus, TaskStatus
from shipyard.core.settings import load_settings
from shipyard.runtime.stores import open_run_stores

pytest.importorskip("ipykernel", reason="the notebooks extra: pip install 'shipyard[notebooks]'")
pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

FLOW = """
import time
from pathlib import Path
from shipyard import flow, step


@step
def parts(n: int) -> list[int]:
    return list(range(n))


@step
def work(i: int, seconds: float, marker: str) -> int:
    Path(marker, f"{i}.started").write_text(str(__import__("os").getpid()))
    time.sleep(seconds)
    return i


@step
def total(xs: list[int]) -> int:
    return sum(xs)


@flow
def napping(n: int = 2, seconds: float = 0.2, marker: str = ".") -> int:
    return total(work.map(parts(n), seconds=seconds, marker=marker))
"""


@pytest.fixture
def kernel(tmp_path: Path) -> Iterator[Any]:
    from jupyter_client.manager import KernelManager

    from shipyard.flows.notebook_kernel import kernel_spec

    class ThisPython(KernelManager):
        @property
        def kernel_spec(self) -> Any:
            return kernel_spec()

    (tmp_path / "napflow.py").write_text(FLOW)
    manager = ThisPython()
    package_root = str(Path(shipyard.__file__).resolve().parents[1])  # the kernel runs in tmp_path
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([package_root, *filter(None, [os.environ.get("PYTHONPATH")])]),
    }
    manager.start_kernel(cwd=str(tmp_path), env=env)
    client = manager.client()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=60)
        client.execute_interactive(f"import sys; sys.path.insert(0, {str(tmp_path)!r})", timeout=30)
        yield manager, client
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


def _messages(client: Any, msg_id: str, until: float) -> Iterator[dict[str, Any]]:
    """The cell's iopub messages until it is idle (or ``until``)."""
    while time.monotonic() < until:
        try:
            message = client.get_iopub_msg(timeout=1)
        except Exception:  # queue.Empty: nothing yet
            continue
        if message["parent_header"].get("msg_id") != msg_id:
            continue
        yield message
        if message["msg_type"] == "status" and message["content"]["execution_state"] == "idle":
            return


def test_a_flow_run_in_a_kernel_shows_one_progress_display_updated_in_place(
    kernel: Any, tmp_path: Path
) -> None:
    _, client = kernel
    code = (
        "from napflow import napping\n"
        f"run = napping.run_with({{'n': 3, 'seconds': 1.0, 'marker': {str(tmp_path)!r}}}, max_workers=2)\n"
        "print('status', run.status.value)"
    )
    msg_id = client.execute(code)
    shown, updates, printed = [], [], ""
    for message in _messages(client, msg_id, time.monotonic() + 120):
        kind, content = message["msg_type"], message["content"]
        if kind == "display_data":
            shown.append(content)
        elif kind == "update_display_data":
            updates.append(content)
        elif kind == "stream":
            printed += content["text"]
        elif kind == "error":
            pytest.fail("\n".join(content["traceback"])[-3000:])
    assert "status succeeded" in printed
    assert len(shown) == 1 and updates  # one display, updated in place (not a table per update)
    display_id = shown[0]["transient"]["display_id"]
    assert {u["transient"]["display_id"] for u in updates} == {display_id}
    tables = [shown[0]["data"]["text/html"], *(u["data"]["text/html"] for u in updates)]
    assert "<h3>flow napping</h3>" in tables[0]
    assert _counts(tables[0])["work"]["succeeded"] == ""  # shown before the work was done
    assert any(_counts(t)["work"]["running"] not in {"", "0"} for t in tables)  # ... while it ran
    final = _counts(tables[-1])
    assert final["work"]["succeeded"] == "3" and final["total"]["succeeded"] == "1"


def test_interrupting_the_cell_cancels_the_run(kernel: Any, tmp_path: Path) -> None:
    import psutil

    manager, client = kernel
    code = (
        "from napflow import napping\n"
        f"run = napping.run_with({{'n': 2, 'seconds': 120, 'marker': {str(tmp_path)!r}}}, max_workers=2)\n"
        "print('status', run.status.value)"
    )
    msg_id = client.execute(code)
    deadline = time.monotonic() + 90
    while len(list(tmp_path.glob("*.started"))) < 2:
        assert time.monotonic() < deadline, "the flow's tasks did not start"
        time.sleep(0.2)
    workers = [int(p.read_text()) for p in tmp_path.glob("*.started")]
    t0 = time.monotonic()
    manager.interrupt_kernel()  # the notebook's stop button
    printed = ""
    for message in _messages(client, msg_id, time.monotonic() + 60):
        if message["msg_type"] == "stream":
            printed += message["content"]["text"]
    assert "status cancelled" in printed and time.monotonic() - t0 < 30
    stores = open_run_stores(load_settings())
    try:
        page = stores.metadata.search_runs(namespaces=[stores.settings.user_namespace], max_results=1)
        run = page.runs[0]
        assert run.status is RunStatus.CANCELLED
        statuses = {t.status for t in stores.metadata.list_tasks(run.id) if t.step == "work"}
        assert statuses == {TaskStatus.CANCELLED}
    finally:
        stores.close()
    _, alive = psutil.wait_procs([p for p in map(_process, workers) if p is not None], timeout=10)
    assert not [p for p in alive if p.status() != psutil.STATUS_ZOMBIE]


def _counts(table: str) -> dict[str, dict[str, str]]:
    """The progress table's cells: step -> column -> text."""
    header = re.findall(r"<th>([^<]*)</th>", table)
    rows = re.findall(r"<tr>((?:<td>[^<]*</td>)+)</tr>", table)
    cells = [re.findall(r"<td>([^<]*)</td>", row) for row in rows]
    return {row[0]: dict(zip(header[1:], row[1:], strict=True)) for row in cells}


def _process(pid: int) -> Any:
    import psutil

    try:
        return psutil.Process(pid)
    except psutil.NoSuchProcess:
        return None


def _run_cell(client: Any, code: str) -> tuple[str, dict[str, Any] | None]:
    """What the cell printed, and its error (ename, evalue) if it raised."""
    printed, error = "", None
    for message in _messages(client, client.execute(code), time.monotonic() + 120):
        if message["msg_type"] == "stream":
            printed += message["content"]["text"]
        elif message["msg_type"] == "error":
            error = message["content"]
    return printed, error


def test_a_flow_defined_in_a_cell_runs_from_that_cell(kernel: Any) -> None:
    _, client = kernel
    cell = (
        "from shipyard import flow, step\n"
        "FACTOR = 3\n"
        "@step\n"
        "def triple(x: int) -> int:\n"
        "    return FACTOR * x\n"
        "%time warm = 1\n"
        "@flow\n"
        "def tripling(x: int = 2) -> int:\n"
        "    return triple(x)\n"
        "run = tripling.run(x=5)\n"
        "print('ran', run.status.value, run.output)\n"
    )
    printed, error = _run_cell(client, cell)
    assert error is None, error
    assert "ran succeeded 15" in printed  # once: the file written from the cell does not run it again
    written = list((Path(os.environ["SHIPYARD_HOME"]) / "notebook_cells").glob("tripling_*.py"))
    assert len(written) == 1
    text = written[0].read_text()
    assert "def triple" in text and "FACTOR = 3" in text
    assert "tripling.run(" not in text and "print(" not in text and "run_line_magic" not in text

    printed, error = _run_cell(
        client,
        "@flow\ndef borrowed(x: int = 1) -> int:\n    return triple(x)\nborrowed.run()\n",
    )
    assert error is not None and error["ename"] == "FlowError"
    assert "does not define flow, triple: define them (or import them) in the flow's cell" in error["evalue"]
