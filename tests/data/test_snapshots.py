"""Snapshots: round trips of every input kind, deduplication, immutability, bad input."""

from __future__ import annotations

import itertools
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import shipyard
from shipyard.core.errors import InvalidInputError, NotFoundError
from shipyard.data.service import DatasetService
from shipyard.tracking.stores import Stores
from tests.data.conftest import CountingBackend


def _frame(n: int = 50) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": range(n),
            "amount": [i * 1.5 for i in range(n)],
            "country": [("DE", "FR")[i % 2] for i in range(n)],
        }
    )


def test_a_dataframe_round_trips_with_schema_rows_and_stats(stores: Stores) -> None:
    frame = _frame()
    v = shipyard.log_dataset("tx", frame, description="first", column_tags={"country": ["pii"]})
    assert (v.version, v.kind, v.num_rows, v.description) == (1, "table", 50, "first")
    assert [c["name"] for c in v.columns] == ["id", "amount", "country"]
    assert next(c for c in v.columns if c["name"] == "country")["tags"] == ["pii"]
    assert v.stats["amount"]["max"] == pytest.approx(49 * 1.5)
    assert v.stats["id"]["nulls"] == 0
    back = shipyard.load_dataset("datasets:/tx/1")
    pd.testing.assert_frame_equal(back, frame)


def test_an_arrow_table_round_trips_as_arrow(stores: Stores) -> None:
    table = pa.table({"a": [1, 2, None], "b": ["x", "y", "z"]})
    shipyard.log_dataset("arrow", table)
    assert shipyard.load_dataset("arrow", output="arrow").equals(table)


def test_parquet_and_csv_files_round_trip(stores: Stores, tmp_path: Path) -> None:
    table = pa.table({"k": list(range(10)), "v": [float(i) for i in range(10)]})
    pq.write_table(table, tmp_path / "t.parquet")
    v = shipyard.log_dataset("pq", tmp_path / "t.parquet")
    assert (v.source_format, v.num_rows, v.stats["k"]["max"]) == ("parquet", 10, 9)
    assert shipyard.load_dataset("pq", output="arrow").equals(table)
    (tmp_path / "t.csv").write_text("k,v\n1,a\n2,b\n")
    c = shipyard.log_dataset("csv", tmp_path / "t.csv")
    assert (c.source_format, c.num_rows) == ("csv", 2)
    assert shipyard.load_dataset("csv").to_dict("list") == {"k": [1, 2], "v": ["a", "b"]}


def test_a_folder_of_files_round_trips(stores: Stores, tmp_path: Path) -> None:
    src = tmp_path / "imgs"
    (src / "cats").mkdir(parents=True)
    (src / "cats" / "a.jpg").write_bytes(b"\xff\xd8cat")
    (src / "readme.txt").write_text("hello")
    v = shipyard.log_dataset("imgs", src)
    assert (v.kind, v.num_files, v.size) == ("files", 2, 5 + 5)
    out = shipyard.load_dataset("imgs/1", dest=tmp_path / "out")
    assert (out / "cats" / "a.jpg").read_bytes() == b"\xff\xd8cat"
    assert (out / "readme.txt").read_text() == "hello"


def test_an_unchanged_resnapshot_writes_no_blob_and_one_changed_file_writes_one(
    service: DatasetService, writes: CountingBackend, tmp_path: Path
) -> None:
    from shipyard.data.files import PACK_LIMIT

    src = tmp_path / "docs"
    src.mkdir()
    for i in range(20):
        (src / f"{i}.txt").write_text(f"doc {i}")
    (src / "big.bin").write_bytes(b"x" * (PACK_LIMIT + 1))
    first = service.snapshot("docs", src)
    # the 20 small files travel in one pack blob, the big one is a blob of its own
    assert first.written == 2 and writes.writes == 2
    files = {f.path: f for f in service.files(first.version)}
    assert files["big.bin"].pack is None and len({files[f"{i}.txt"].pack for i in range(20)}) == 1
    again = service.snapshot("docs", src)
    assert (again.version.version, again.written, writes.writes) == (2, 0, 2)
    (src / "3.txt").write_text("changed")
    third = service.snapshot("docs", src)
    assert (third.written, writes.writes) == (1, 3)  # a pack holding only the changed file
    diff = service.diff(first.version, third.version)
    assert diff.files_changed == ["3.txt"] and not diff.files_added and not diff.files_removed
    out = service.load(third.version, dest=tmp_path / "out")
    assert (out / "3.txt").read_text() == "changed" and (out / "7.txt").read_text() == "doc 7"
    assert (out / "big.bin").stat().st_size == PACK_LIMIT + 1


def test_a_damaged_pack_is_refused_on_load(service: DatasetService, tmp_path: Path) -> None:
    from shipyard.core.errors import IntegrityError
    from shipyard.data.load import Materializer

    src = tmp_path / "d"
    src.mkdir()
    (src / "a.txt").write_text("hello")
    version = service.snapshot("d", src).version
    file = service.files(version)[0]
    lying = type(file)(file.path, "0" * 64, file.size, None, file.pack, file.offset)
    with pytest.raises(IntegrityError, match="do not match its sha256"):
        Materializer(service.stores.artifacts.cas, tmp_path / "cache").read(lying, "d/a.txt")


def test_an_unchanged_dataframe_writes_no_blob(service: DatasetService, writes: CountingBackend) -> None:
    frame = _frame(1000)
    service.snapshot("frame", frame)
    before = writes.writes
    assert before >= 1
    assert service.snapshot("frame", frame.copy()).written == 0
    assert writes.writes == before


def test_versions_are_immutable_snapshots(stores: Stores, tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("a\n1\n")
    shipyard.log_dataset("d", path)
    path.write_text("a\n1\n2\n")
    shipyard.log_dataset("d", path)
    assert len(shipyard.load_dataset("d/1")) == 1
    assert len(shipyard.load_dataset("d/2")) == 2
    assert len(shipyard.load_dataset("d")) == 2  # latest


def test_columns_filter_and_streaming(stores: Stores) -> None:
    shipyard.log_dataset("tx", _frame(100))
    got = shipyard.load_dataset("tx", columns=["id"], where="id >= 90 and country in ('DE')")
    assert list(got.columns) == ["id"] and list(got["id"]) == [90, 92, 94, 96, 98]
    batches = list(shipyard.load_dataset("tx", stream=True, batch_size=30, columns=["amount"]))
    assert sum(b.num_rows for b in batches) == 100 and all(b.schema.names == ["amount"] for b in batches)


@pytest.mark.parametrize(
    ("where", "problem"),
    [
        ("id >", "expected a value"),
        ("__import__('os')", "expected an operator"),
        ("id = 1 ; x", "unexpected"),
    ],
)
def test_a_bad_row_filter_is_one_line_naming_the_problem(stores: Stores, where: str, problem: str) -> None:
    shipyard.log_dataset("tx", _frame(10))
    with pytest.raises(InvalidInputError, match=problem):
        shipyard.load_dataset("tx", where=where)


def test_bad_input_names_the_thing_and_leaves_no_version(service: DatasetService, tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="no such file or folder"):
        service.snapshot("ghost", tmp_path / "missing")
    with pytest.raises(NotFoundError, match="no dataset 'ghost'"):
        service.store.get_dataset("ghost")
    with pytest.raises(InvalidInputError, match="must not contain '/'"):
        service.snapshot("a/b", _frame())
    with pytest.raises(InvalidInputError, match="column_tags names columns"):
        service.snapshot("tagged", _frame(), column_tags={"nope": ["pii"]})
    assert service.store.list_datasets() == []
    service.snapshot("tx", _frame())
    with pytest.raises(NotFoundError, match="has no version 7"):
        service.resolve("datasets:/tx/7")
    with pytest.raises(NotFoundError, match="has no alias 'prod'"):
        service.resolve("tx@prod")
    with pytest.raises(InvalidInputError, match="not a positive number"):
        service.resolve("tx/abc")


def test_aliases_resolve_move_and_protect_deletion(service: DatasetService) -> None:
    service.snapshot("tx", _frame(10))
    service.snapshot("tx", _frame(20))
    service.set_alias("tx", "training", 1)
    assert service.resolve("datasets:/tx@training").version == 1
    service.set_alias("tx", "training", 2)
    assert service.resolve("tx@training").num_rows == 20
    from shipyard.core.errors import ConflictError

    with pytest.raises(ConflictError, match="alias"):
        service.store.delete_version("tx", 2)
    service.store.delete_version("tx", 1)
    assert [v.version for v in service.store.list_versions("tx")] == [2]
    assert service.snapshot("tx", _frame(5)).version.version == 3  # numbers are never reused


def test_a_same_size_edit_is_seen_and_links_are_refused(service: DatasetService, tmp_path: Path) -> None:
    import os

    src = tmp_path / "d"
    src.mkdir()
    (src / "a.txt").write_text("aaaa")
    first = service.snapshot("d", src).version
    (src / "a.txt").write_text("bbbb")  # same size; the mtime (and so the cache stamp) moves
    st = (src / "a.txt").stat()
    os.utime(src / "a.txt", ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    second = service.snapshot("d", src).version
    assert service.diff(first, second).files_changed == ["a.txt"]
    (src / "link").symlink_to(src / "a.txt")
    with pytest.raises(InvalidInputError, match="symbolic link"):
        service.snapshot("d", src)
    assert service.store.get_dataset("d").latest_version == 2  # the refused snapshot left nothing


def test_a_failed_version_write_leaves_no_version(
    service: DatasetService, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shipyard.core.errors import StorageError

    service.snapshot("tx", _frame(10))

    def broken(*args: object, **kwargs: object) -> None:
        raise StorageError("disk full")

    monkeypatch.setattr(service.stores.artifacts.cas, "put_small", broken)
    with pytest.raises(StorageError, match="disk full"):
        service.snapshot("tx", _frame(20))
    assert [v.version for v in service.store.list_versions("tx")] == [1]


def test_a_folder_snapshot_reports_its_bytes_as_they_are_stored(stores: Stores, tmp_path: Path) -> None:
    src = tmp_path / "files"
    src.mkdir()
    sizes = [3, 2 << 20, 10]  # one file past the pack limit: stored on its own
    for i, size in enumerate(sizes):
        (src / f"f{i}.bin").write_bytes(bytes([i]) * size)
    seen: list[tuple[int, int]] = []
    service = DatasetService(stores)
    service.snapshot("progress", src, progress=lambda done, total: seen.append((done, total)))
    assert seen[0] == (0, sum(sizes)) and seen[-1] == (sum(sizes), sum(sizes))
    assert all(a[0] <= b[0] for a, b in itertools.pairwise(seen))  # never goes back
