"""Cards through real runs: a step's card stored with its task, the default card of every step,
``shipyard card get`` writing a standalone file."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import html5lib

from shipyard.cards.load import find_task_card, read_document
from shipyard.core.entities import RunStatus
from shipyard.core.settings import load_settings
from shipyard.runtime.api import RunOptions, run_file
from shipyard.runtime.stores import open_run_stores

HERE = Path(__file__).parent


def _run(flow_file: str, flow: str | None = None, **params: Any) -> Any:
    return run_file(HERE / flow_file, params, load_settings(), RunOptions(max_workers=1), flow)


def test_a_steps_card_is_stored_as_its_artifact_and_read_back() -> None:
    run = _run("card_flow.py", "reported", n=4)
    assert run.status is RunStatus.SUCCEEDED, run.error
    (task,) = run.tasks
    stores = open_run_stores(load_settings())
    try:
        found = find_task_card(stores.metadata, run.info, task)
        assert found.record is not None and found.record.meta == {"format": "shipyard-card"}
        doc = read_document(stores.artifacts, found.record)
        assert isinstance(doc, dict)
        assert [c["type"] for c in doc["components"]] == ["markdown", "table", "chart"]
        assert doc["components"][1]["rows"] == [[i, i * i] for i in range(4)]
    finally:
        stores.close()


def test_a_failed_steps_card_is_kept_with_its_attempt() -> None:
    run = _run("card_flow.py", "crashing")
    assert run.status is RunStatus.FAILED
    (task,) = run.tasks
    stores = open_run_stores(load_settings())
    try:
        found = find_task_card(stores.metadata, run.info, task)
        assert found.record is not None  # from the failed attempt's history
        doc = read_document(stores.artifacts, found.record)
        assert isinstance(doc, dict) and doc["components"][0]["text"] == "before the crash"
    finally:
        stores.close()


def test_card_get_writes_a_standalone_page_with_the_default_card(cli: Any, tmp_path: Path) -> None:
    run = _run("plain_flow.py", n=5)
    assert run.status is RunStatus.SUCCEEDED
    out = tmp_path / "make.html"
    result = cli("card", "get", run.id[:12], "make", "-o", str(out))
    assert result.code == 0, result.err
    page = out.read_text()
    tree = html5lib.HTMLParser(strict=True, namespaceHTMLElements=False).parse(page)
    assert list(tree.iter("script")) == []
    assert not re.search(r"https?://", page)  # no external reference: it opens offline
    text = "".join(tree.itertext())
    for expected in ("Task", "Resources", "cpu", "Parameters", "Inputs", "constant", "Outputs", "list"):
        assert expected in text, expected
    reported = _run("card_flow.py", "reported", n=2)
    result = cli("card", "get", reported.id, "report", "-o", "-")
    assert result.code == 0 and "Report of 2" in result.out and "Task details" in result.out
    missing = cli("card", "get", run.id, "nope")
    assert missing.code == 1 and "no task 'nope'" in missing.err and "\n" not in missing.err.strip()


def test_card_get_asks_which_task_of_a_mapped_step(cli: Any, tmp_path: Path) -> None:
    flow_file = tmp_path / "mapped.py"
    flow_file.write_text(
        "from shipyard import flow, step\n"
        "@step\ndef sq(x: int) -> int:\n    return x * x\n"
        "@flow\ndef mapped(n: int = 3):\n    return sq.map(list(range(n)))\n"
    )
    run = run_file(flow_file, {}, load_settings(), RunOptions(max_workers=1))
    result = cli("card", "get", run.id, "sq")
    assert result.code == 1 and "has 3 tasks" in result.err and "sq/0" in result.err
    ok = cli("card", "get", run.id, "sq/1", "-o", str(tmp_path / "one.html"))
    assert ok.code == 0, ok.err
    assert json.dumps(1) in (tmp_path / "one.html").read_text()
