"""Notebook steps (``@step(notebook=...)``): parameters in, variables out, the executed notebook
stored, a failing cell's traceback as the task's error."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest

from shipyard.core.entities import RunStatus, TaskStatus
from shipyard.core.errors import FlowError
from shipyard.core.settings import load_settings
from shipyard.flows.decorators import Step
from shipyard.flows.notebooks import NotebookSpec
from shipyard.runtime import notebook as runner
from shipyard.runtime.api import RunOptions, run_file
from shipyard.runtime.loader import load_flow
from shipyard.runtime.stores import RunStores, open_run_stores

FLOWS = Path(__file__).resolve().parent / "notebook_flows"


@pytest.fixture
def stores() -> Iterator[RunStores]:
    s = open_run_stores(load_settings())
    yield s
    s.close()


def _stored_notebook(stores: RunStores, run_id: str, task_id: str) -> dict[str, object]:
    own = [a for a in stores.metadata.list_artifacts(run_id, task_id) if a.name == "notebook"]
    attempts = [
        a for h in stores.metadata.list_task_attempts(task_id) for a in h.artifacts if a.name == "notebook"
    ]
    record = (own or attempts)[-1]
    assert record.meta == {"format": "ipynb"}
    loaded: dict[str, object] = json.loads(stores.artifacts.get_bytes(record.digest))
    return loaded


def _sources(nb: dict[str, object]) -> list[str]:
    cells = nb["cells"]
    assert isinstance(cells, list)
    return ["".join(c["source"]) for c in cells]


def test_a_notebook_step_gets_its_inputs_and_feeds_a_downstream_step(stores: RunStores) -> None:
    n, alpha = 5, 3.0
    run = run_file(FLOWS / "nb_flow.py", {"n": n, "alpha": alpha}, stores.settings, RunOptions(), "analysis")
    assert run.status is RunStatus.SUCCEEDED, run.error
    data = list(range(1, n + 1))
    total = float(sum(data) * alpha)
    frac = sum(range(n)) / n
    assert run.output == f"total={total} score={round(total / n, 3)} frac={frac}"
    explore = next(t for t in run.tasks if t.step == "explore")
    assert explore.status is TaskStatus.SUCCEEDED
    nb = _stored_notebook(stores, run.id, explore.id)
    sources = _sources(nb)
    injected = next(s for s in sources if s.startswith("# Parameters injected by shipyard"))
    assert f"alpha = {alpha!r}" in injected and f"data = {data!r}" in injected  # literals, readable
    assert "label = 'run'" in injected and "frame" in injected  # the DataFrame: pickled, loaded
    assert sources.index(injected) == 2  # right after the cell tagged `parameters`
    assert not any("hand the step's outputs back" in s for s in sources)  # shipyard's own cell
    printed = f"total {total} for run over {n} rows\n"
    cells = nb["cells"]
    assert isinstance(cells, list)
    assert any(o.get("text") in (printed, [printed]) for c in cells for o in c.get("outputs", []))
    (logs,) = runner_logs(stores, run.id, "explore")
    assert printed.encode() in logs  # the cell's output is in the task's stdout too


def runner_logs(stores: RunStores, run_id: str, step: str) -> list[bytes]:
    from shipyard.runtime.logs import task_logs

    return [t.stdout for t in task_logs(stores, run_id, step)]


def test_a_failing_cell_fails_the_task_with_the_cells_traceback(stores: RunStores) -> None:
    run = run_file(FLOWS / "nb_flow.py", {"threshold": 1}, stores.settings, RunOptions(), "broken")
    assert run.status is RunStatus.FAILED
    (task,) = run.tasks
    assert task.status is TaskStatus.FAILED and task.error is not None
    first, _, trace = task.error.partition("\n")
    assert first == "notebook failing.ipynb failed in cell In [4]: ValueError: value 3 is over the threshold"
    assert "----> 2 checked = check(threshold + 2)" in trace  # the failing line of the cell...
    assert (
        '----> 3         raise ValueError(f"value {value} is over the threshold")' in trace
    )  # ... and below
    assert "\x1b[" not in task.error and "papermill" not in task.error.lower()
    nb = _stored_notebook(stores, run.id, task.id)  # kept with the failed attempt
    cells = nb["cells"]
    assert isinstance(cells, list)
    errors = [o for c in cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert [e["ename"] for e in errors] == ["ValueError"]
    assert _sources(nb)[-1] == "never = True" and cells[-1]["execution_count"] is None  # not run


def test_a_missing_notebook_is_a_one_line_error_before_any_run(tmp_path: Path) -> None:
    flow_file = tmp_path / "flow.py"
    flow_file.write_text(
        "from shipyard import flow, step\n\n"
        "@step(notebook='notebooks/missing.ipynb')\n"
        "def explore(x: int) -> None: ...\n\n"
        "@flow\n"
        "def f():\n"
        "    explore(1)\n"
    )
    with pytest.raises(FlowError) as caught:
        load_flow(flow_file)
    message = str(caught.value)
    assert "\n" not in message
    assert "notebook 'notebooks/missing.ipynb' not found at" in message
    assert str(tmp_path / "notebooks" / "missing.ipynb") in message


def test_declaration_errors_name_the_fix() -> None:
    def explore(data: int) -> None: ...

    explore.__qualname__ = "explore"
    with pytest.raises(FlowError, match="outputs= names notebook variables; it needs notebook="):
        Step(explore, outputs=["x"])
    with pytest.raises(FlowError, match=r"notebook is the path of an \.ipynb file"):
        Step(explore, notebook="explore.py")
    with pytest.raises(FlowError, match="outputs is a variable name or a list of them"):
        Step(explore, notebook=str(FLOWS / "explore.ipynb"), outputs=["not-a-name"])
    with pytest.raises(FlowError, match="names one variable twice"):
        Step(explore, notebook=str(FLOWS / "explore.ipynb"), outputs=["a", "a"])


def test_editing_the_notebook_changes_the_steps_code_hash(tmp_path: Path) -> None:
    def explore(data: int) -> None: ...

    explore.__qualname__ = "explore"
    path = tmp_path / "nb.ipynb"
    path.write_bytes((FLOWS / "explore.ipynb").read_bytes())
    before = Step(explore, notebook=str(path)).code_hash
    assert Step(explore, notebook=str(path)).code_hash == before
    nb = nbformat.read(path, as_version=4)
    nb.cells[-1].source += "\nscore = 0"
    nbformat.write(nb, path)
    assert Step(explore, notebook=str(path)).code_hash != before  # resume and the cache rerun it


def test_a_missing_output_variable_is_a_one_line_error_outside_a_flow_too() -> None:
    def explore(data: list[int], frame: object = None, alpha: float = 1.0) -> None: ...

    explore.__qualname__ = "explore"
    step = Step(explore, notebook=str(FLOWS / "explore.ipynb"), outputs=["score", "nope"])
    import pandas as pd

    with pytest.raises(runner.NotebookError) as caught:
        step([2, 4], pd.DataFrame({"x": [1.0]}))  # a step called outside a flow runs its notebook
    assert str(caught.value) == (
        "notebook explore.ipynb defines no variable 'nope' (outputs=['score', 'nope']); assign it in a cell"
    )


def test_only_exact_short_literals_are_written_into_the_notebook() -> None:
    assert runner.literal({"a": [1, 2.5, None, True, "x'\"\n"]}) == repr(
        {"a": [1, 2.5, None, True, "x'\"\n"]}
    )
    for value in (float("nan"), float("inf"), (1, 2), {1, 2}, b"x", list(range(5000)), {(1, 2): 3}):
        assert runner.literal(value) is None  # pickled instead: exact, and the notebook stays small


def test_the_stored_notebook_hides_secrets_and_is_bounded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nbformat.v4 import new_code_cell, new_notebook, new_output

    secret = "s3cr3t-value-42"
    nb = new_notebook(
        cells=[
            new_code_cell(
                "print(token)", outputs=[new_output("stream", name="stdout", text=f"token {secret}\n")]
            ),
            new_code_cell("big", outputs=[new_output("stream", name="stdout", text="x" * 50_000)]),
            new_code_cell("small", outputs=[new_output("stream", name="stdout", text="kept\n")]),
        ]
    )
    executed = tmp_path / "executed.ipynb"
    nbformat.write(nb, executed)
    spec = NotebookSpec(FLOWS / "explore.ipynb")
    data = runner.stored_notebook(nbformat, executed, spec, [secret])
    assert data is not None and secret.encode() not in data and b"token ***" in data
    monkeypatch.setattr(runner, "MAX_NOTEBOOK_BYTES", 20_000)
    data = runner.stored_notebook(nbformat, executed, spec, [secret])
    assert data is not None and len(data) <= 20_000
    assert b"x" * 1000 not in data and b"bytes of output removed" in data and b"kept" in data
