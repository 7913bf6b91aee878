"""`flow.run(...)` from Python (a notebook): a run object whose outputs load lazily."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

from shipyard.core.entities import RunStatus, TaskStatus
from shipyard.core.errors import FlowError

FLOWS = Path(__file__).resolve().parent / "flows_for_tests"


def test_flow_run_returns_a_run_with_lazy_outputs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(FLOWS))
    fanout = importlib.import_module("fanout")
    try:
        run = fanout.hello.run(n=6)
        assert run.status is RunStatus.SUCCEEDED
        assert run.output == sum(i * i for i in range(6))
        assert run.outputs("square") == [i * i for i in range(6)]
        assert {t.status for t in run.tasks} == {TaskStatus.SUCCEEDED}
        assert run.info.flow_spec is not None and run.info.flow_spec["module"] == "fanout"
        again = fanout.hello.run_with({"n": 2}, max_workers=1)
        assert again.output == 1
        with pytest.raises(FlowError, match="has no parameter 'm'"):
            fanout.hello.run(m=1)
        with pytest.raises(FlowError, match=r"is run with hello\.run"):
            fanout.hello()
    finally:
        sys.modules.pop("fanout", None)
