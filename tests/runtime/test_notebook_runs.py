"""``shipyard run notebook.ipynb``: a parameterized notebook as a tracked one-step flow run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nbformat
import pytest

from shipyard.core.entities import RunStatus, TaskStatus
from shipyard.core.errors import FlowError
from shipyard.core.settings import load_settings
from shipyard.runtime.notebook_flow import flow_name, notebook_parameters
from shipyard.runtime.stores import open_run_stores


def write_notebook(path: Path, *cells: tuple[str, str], params: str | None) -> Path:
    nb = nbformat.v4.new_notebook()
    if params is not None:
        cell = nbformat.v4.new_code_cell(params)
        cell.metadata["tags"] = ["parameters"]
        nb.cells.append(cell)
    for kind, source in cells:
        nb.cells.append(
            nbformat.v4.new_code_cell(source) if kind == "code" else nbformat.v4.new_markdown_cell(source)
        )
    nbformat.write(nb, str(path))
    return path


PARAMS = (
    "alpha = 0.5\nepochs: int = 3\nlabel = 'base'\n"
    "import math\nscale = math.pi  # an expression: not a parameter\n"
)


def test_the_parameters_cell_gives_typed_flow_parameters(tmp_path: Path) -> None:
    path = write_notebook(tmp_path / "2-train model.ipynb", params=PARAMS)
    assert notebook_parameters(path) == [("alpha", 0.5), ("epochs", 3), ("label", "base")]
    assert flow_name(path) == "nb_2_train_model"
    assert notebook_parameters(write_notebook(tmp_path / "none.ipynb", params=None)) == []
    bad = write_notebook(tmp_path / "bad.ipynb", params="alpha = (")
    with pytest.raises(FlowError, match="parameters cell does not parse"):
        notebook_parameters(bad)


def _last_run() -> Any:
    stores = open_run_stores(load_settings())
    page = stores.metadata.search_runs(namespaces=[stores.settings.user_namespace], max_results=1)
    return stores, page.runs[0]


def test_a_notebook_runs_as_a_tracked_flow_with_its_parameters(cli: Any, tmp_path: Path) -> None:
    path = write_notebook(
        tmp_path / "train.ipynb",
        (
            "code",
            "result = alpha * epochs\nprint(f'result={result} label={label} type={type(alpha).__name__}')",
        ),
        params=PARAMS,
    )
    result = cli("run", str(path), "-p", "alpha=0.3", "-q")
    assert result.code == 0, result.err
    stores, run = _last_run()
    try:
        assert run.id == result.out.strip()
        assert run.status is RunStatus.SUCCEEDED and run.flow_name == "train"
        assert run.params == {"alpha": 0.3, "epochs": 3, "label": "base"}  # coerced, defaults filled
        assert run.code_version is not None and run.code_version.source_files == (str(path.resolve()),)
        (task,) = stores.metadata.list_tasks(run.id)
        assert task.step == "train" and task.status is TaskStatus.SUCCEEDED
        records = {a.name: a for a in stores.metadata.list_artifacts(run.id, task.id)}
        assert {"notebook", "logs/stdout"} <= set(records)
        stdout = stores.artifacts.get_bytes(records["logs/stdout"].digest).decode()
        assert "result=0.8999999999999999 label=base type=float" in stdout
        executed = json.loads(stores.artifacts.get_bytes(records["notebook"].digest))
        sources = ["".join(c["source"]) for c in executed["cells"]]
        assert any("alpha = 0.3" in s for s in sources)  # the injected parameters cell
        assert "code" in {a.name for a in stores.metadata.list_artifacts(run.id)}  # its code package
    finally:
        stores.close()
    unknown = cli("run", str(path), "-p", "gamma=1", "-q")
    assert unknown.code == 1 and "has no parameter 'gamma'" in unknown.err
    mistyped = cli("run", str(path), "-p", "epochs=many", "-q")
    assert mistyped.code == 1 and "epochs" in mistyped.err


def test_a_failing_cell_fails_the_run_with_the_cells_traceback(cli: Any, tmp_path: Path) -> None:
    path = write_notebook(
        tmp_path / "fragile.ipynb",
        ("code", "x = 1"),
        ("code", "raise ValueError(f'alpha {alpha} is too small')"),
        ("code", "print('never runs')"),
        params="alpha = 0.5",
    )
    result = cli("run", str(path), "-p", "alpha=0.01", "-q")
    assert result.code == 1
    assert "ValueError: alpha 0.01 is too small" in result.err
    stores, run = _last_run()
    try:
        assert run.status is RunStatus.FAILED
        (task,) = stores.metadata.list_tasks(run.id)
        assert (
            task.error is not None and "failed in cell In [4]" in task.error
        )  # parameters, injected, x = 1, the raise and "Traceback" in task.error
        history = stores.metadata.list_task_attempts(task.id)
        assert "notebook" in {a.name for a in history[-1].artifacts}  # the executed copy is kept
    finally:
        stores.close()
