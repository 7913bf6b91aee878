"""``shipyard runs`` and ``shipyard artifacts`` on real stores."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from tests.cli.conftest import Seeded


def test_version(cli: Any) -> None:
    result = cli("--version")
    assert result.code == 0 and result.out.startswith("shipyard ")


def test_runs_list_shows_my_namespace(cli: Any, seeded: Seeded) -> None:
    result = cli("runs", "list")
    assert result.code == 0, result.err
    assert seeded.good[:12] in result.out and seeded.flow[:12] in result.out
    assert seeded.other[:12] not in result.out
    everything = cli("runs", "list", "--all-namespaces")
    assert seeded.other[:12] in everything.out
    prod = cli("runs", "list", "--namespace", "production", "--json")
    assert [r["id"] for r in prod.json()] == [seeded.other]


def test_runs_list_json_filters(cli: Any, seeded: Seeded) -> None:
    data = cli("runs", "list", "--json").json()
    assert {r["id"] for r in data} == {seeded.good, seeded.flow}
    good = next(r for r in data if r["id"] == seeded.good)
    assert good["metrics"] == {"acc": 0.93, "gap": "NaN"}  # the NaN rule
    assert good["start_time"].endswith("+00:00") and "T" in good["start_time"]
    assert [r["id"] for r in cli("runs", "list", "--status", "failed", "--json").json()] == [seeded.flow]
    assert [r["id"] for r in cli("runs", "list", "--flow", "hello", "--json").json()] == [seeded.flow]
    hits = cli("runs", "list", "--filter", "metrics.acc > 0.9", "--json").json()
    assert [r["id"] for r in hits] == [seeded.good]
    assert len(cli("runs", "list", "--limit", "1", "--json").json()) == 1


def test_runs_show_json_has_tasks_and_output(cli: Any, seeded: Seeded) -> None:
    result = cli("runs", "show", seeded.flow[:-4], "--json")
    assert result.code == 0, result.err
    data = result.json()
    for key in (
        "id",
        "name",
        "status",
        "params",
        "tags",
        "metrics",
        "namespace",
        "user",
        "start_time",
        "end_time",
        "flow",
        "tasks",
        "output",
        "error",
        "artifacts",
    ):
        assert key in data
    assert data["id"] == seeded.flow and data["status"] == "failed" and data["flow"] == "hello"
    assert data["output"] == {"total": 14, "ratio": "Infinity"}
    tasks = {t["key"]: t for t in data["tasks"]}
    assert tasks["square[1]"]["status"] == "failed" and tasks["square[1]"]["attempts"] == 2
    assert tasks["numbers"]["duration_s"] == 2.0 and tasks["numbers"]["node"] == "laptop"
    assert tasks["square[0]"]["index"] == 0 and tasks["square[0]"]["step"] == "square"


def test_runs_show_text(cli: Any, seeded: Seeded) -> None:
    result = cli("runs", "show", seeded.flow)
    assert result.code == 0, result.err
    for text in (
        "hello-1",
        "failed",
        "tasks",
        "square",
        "laptop",
        "output",
        '"total": 14',
        "ZeroDivisionError",
    ):
        assert text in result.out
    good = cli("runs", "show", seeded.good)
    for text in ("lr", "0.1", "acc", "0.93", "NaN", "weights", "numpy", "team", "fraud"):
        assert text in good.out


def test_unknown_run_is_one_line_exit_1_no_traceback(cli: Any, seeded: Seeded) -> None:
    for args in (("runs", "show", "f" * 32), ("runs", "show", "nothex"), ("artifacts", "list", "abc123")):
        result = cli(*args)
        assert result.code == 1
        assert result.err.startswith("error: ") and (
            "no run with id" in result.err or "not found" in result.err
        )
        assert len(result.err.strip().splitlines()) == 1 and "Traceback" not in result.err
        assert result.out == ""


def test_debug_adds_the_traceback(cli: Any, seeded: Seeded) -> None:
    result = cli("--debug", "runs", "show", "f" * 32)
    assert result.code == 1 and "Traceback" in result.err and "error: no run with id" in result.err


def test_bad_filter_is_one_line(cli: Any, seeded: Seeded) -> None:
    for bad in ("'; drop table runs; --", "metrics.acc >>> 1"):
        result = cli("runs", "list", "--filter", bad)
        assert result.code == 1, result.out
        assert result.err.startswith("error: ") and len(result.err.strip().splitlines()) == 1
    assert len(cli("runs", "list", "--all-namespaces", "--json").json()) == 3  # table intact


def test_usage_errors_exit_2(cli: Any, seeded: Seeded) -> None:
    assert cli("runs", "list", "--status", "bogus").code == 2
    assert cli("runs", "list", "--namespace", "x", "--all-namespaces").code == 2
    assert cli("runs", "nope").code == 2


def test_unreachable_database_is_one_line(cli: Any, monkeypatch: Any, tmp_path: Path) -> None:
    monkeypatch.setenv("SHIPYARD_URI", "postgresql://nobody@127.0.0.1:1/nothing")
    result = cli("runs", "list")
    assert result.code == 1
    assert result.err.startswith("error: ") and len(result.err.strip().splitlines()) == 1


def test_artifacts_list_and_get(cli: Any, seeded: Seeded, tmp_path: Path, monkeypatch: Any) -> None:
    listing = cli("artifacts", "list", seeded.good)
    assert listing.code == 0 and "weights" in listing.out and "notes/readme" in listing.out
    data = cli("artifacts", "list", seeded.good, "--json").json()
    assert {a["name"] for a in data} == {"weights", "notes/readme"}

    dest = tmp_path / "w.npy"
    got = cli("artifacts", "get", seeded.good, "weights", "-o", str(dest))
    assert got.code == 0, got.err
    assert np.array_equal(np.load(dest), np.arange(4))
    again = cli("artifacts", "get", seeded.good, "weights", "-o", str(dest))
    assert again.code == 1 and "--force" in again.err
    assert cli("artifacts", "get", seeded.good, "weights", "-o", str(dest), "--force").code == 0

    monkeypatch.chdir(tmp_path)
    assert cli("artifacts", "get", seeded.good, "notes/readme").code == 0
    assert (tmp_path / "readme").exists()

    output = cli("artifacts", "get", seeded.flow, "output")
    assert output.code == 0 and '"total": 14' in output.out

    missing = cli("artifacts", "get", seeded.good, "nope")
    assert missing.code == 1 and missing.err.startswith("error: ")


def test_runs_gc_fails_runs_whose_process_died(cli: Any, monkeypatch: Any) -> None:
    import time

    from shipyard.core.settings import load_settings
    from shipyard.tracking.client import TrackingClient
    from shipyard.tracking.stores import open_stores

    monkeypatch.setenv("SHIPYARD_HEARTBEAT_TIMEOUT_S", "0.2")
    stores = open_stores(load_settings())
    try:
        orphan = TrackingClient(stores).create_run("orphan")  # RUNNING, and nobody beats for it
        time.sleep(0.4)
        result = cli("runs", "gc")
        assert result.code == 0, result.err
        assert "marked 1 run(s) failed" in result.out and orphan.id in result.out
        assert stores.metadata.get_run(orphan.id).status.value == "failed"
    finally:
        stores.close()


def test_runs_show_puts_the_result_first_and_folds_fan_out_steps(cli: Any, seeded: Seeded) -> None:
    folded = cli("runs", "show", seeded.flow)
    assert folded.code == 0, folded.err
    out = folded.out
    assert out.index("output") < out.index("namespace") and out.index("error") < out.index("namespace")
    rows = [r.split() for r in out.splitlines()]
    square = [r for r in rows if r and r[0] == "square"]
    assert len(square) == 1, out  # one line for the fan-out step, with its tasks counted by status
    assert square[0][1] == "2" and "1 failed" in " ".join(square[0]) and "--tasks" in out
    every = cli("runs", "show", seeded.flow, "--tasks")
    indexes = [r[1] for r in (x.split() for x in every.out.splitlines()) if r and r[0] == "square"]
    assert indexes == ["0", "1"], every.out
