"""``shipyard data ...`` end to end, in-process, on the per-test SHIPYARD_HOME."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Any:
    from shipyard.cli.main import main

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main(list(args))
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


def test_add_versions_show_diff_alias_get_delete(cli: Any, tmp_path: Path) -> None:
    data = tmp_path / "tx.parquet"
    pq.write_table(pa.table({"id": [1, 2, 3], "email": ["a@x", "b@x", None]}), data)
    code, out, _ = cli("data", "add", "tx", str(data), "--tag", "email=pii", "-d", "first")
    assert code == 0 and "datasets:/tx/1" in out and "1 new blob" in out
    pq.write_table(pa.table({"id": [1, 2, 3, 4], "email": ["a@x", "b@x", None, "d@x"]}), data)
    assert cli("data", "add", "tx", str(data), "--tag", "email=pii")[0] == 0
    code, out, _ = cli("data", "versions", "tx", "--json")
    assert [v["num_rows"] for v in json.loads(out)] == [3, 4]
    code, out, _ = cli("data", "show", "tx/1", "--json")
    shown = json.loads(out)
    assert shown["columns"][1] == {"name": "email", "type": "string", "tags": ["pii"]}
    assert shown["stats"]["email"]["nulls"] == 1 and len(shown["files"]) == 1
    code, out, _ = cli("data", "diff", "tx/1", "tx/2", "--json")
    diff = json.loads(out)
    assert diff["rows"] == [3, 4] and diff["files_changed"] == ["tx.parquet"]
    assert diff["stats_changed"]["id"]["max"] == [3, 4]
    assert cli("data", "alias", "tx", "training", "1")[0] == 0
    code, out, _ = cli("data", "list", "--json")
    assert json.loads(out)[0]["aliases"] == {"training": 1}
    code, out, _ = cli("data", "get", "tx@training", str(tmp_path / "out"))
    assert code == 0 and pq.read_table(tmp_path / "out" / "tx.parquet").num_rows == 3
    code, _, err = cli("data", "delete-version", "tx", "1")
    assert code != 0 and "alias(es) training point at it" in err and "Traceback" not in err
    assert cli("data", "delete-version", "tx", "2")[0] == 0
    code, out, _ = cli("data", "lineage", "tx/1", "--json")
    assert json.loads(out) == {"uri": "datasets:/tx/1", "uses": [], "models": []}


def test_add_durable_stores_a_large_file_under_its_blake3_digest(cli: Any, tmp_path: Path) -> None:
    import blake3

    data = tmp_path / "big" / "weights.bin"
    data.parent.mkdir()
    data.write_bytes(bytes(range(256)) * 1024)  # 256 KB: a large file, not packed
    code, out, err = cli("data", "add", "w", str(data.parent), "--durable", "--json", "-q")
    assert code == 0, err
    assert json.loads(out)["blobs_written"] == 1
    code, out, _ = cli("data", "show", "w/1", "--json")
    (row,) = json.loads(out)["files"]
    assert "blake3:" + blake3.blake3(data.read_bytes()).hexdigest() in json.dumps(row)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("data", "add", "tx", "/no/such/folder"), "no such file or folder"),
        (("data", "add", "bad/name", "."), "must not contain '/'"),
        (("data", "show", "ghost/1"), "no dataset 'ghost'"),
        (("data", "add", "tx", ".", "--tag", "oops"), "expected COLUMN=TAG"),
    ],
)
def test_bad_input_is_one_line(cli: Any, args: tuple[str, ...], message: str) -> None:
    code, _, err = cli(*args)
    assert code != 0 and message in err and "Traceback" not in err
