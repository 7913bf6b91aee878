"""Batch inference: formats, folder output, resume after kill -9 (every row exactly once, same
predictions), refusing to mix runs, and use inside a flow step."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from shipyard.core.errors import ConflictError, InvalidInputError, NotFoundError
from shipyard.serving import batch_predict
from tests.serving.conftest import FEATURES, Env, cli_env, make_data


def _input(path: Path, rows: int, seed: int = 42) -> pd.DataFrame:
    frame, _ = make_data(rows, seed)
    frame.insert(0, "id", np.arange(rows, dtype="int64"))
    if path.suffix == ".csv":
        frame.to_csv(path, index=False)
    else:
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path, row_group_size=7_000)
    return frame


def test_parquet_to_parquet_in_chunks(env: Env, tmp_path: Path) -> None:
    frame = _input(tmp_path / "in.parquet", 25_000)
    seen: list[int] = []
    result = batch_predict(
        "models:/fraud@champion",
        str(tmp_path / "in.parquet"),
        str(tmp_path / "out.parquet"),
        chunk_rows=4_000,
        workers=2,
        stores=env.stores,
        progress=lambda d, t: seen.append(d),
    )
    assert result.rows == 25_000 and result.chunks == 7 and result.version == 1
    out = pq.read_table(tmp_path / "out.parquet").to_pandas()
    assert out["id"].tolist() == list(range(25_000))
    assert out["prediction"].tolist() == env.models[1].predict(frame[FEATURES]).tolist()
    assert set(out["model_version"]) == {1}
    assert seen[-1] == 25_000 and not (tmp_path / "out.parquet.staging").exists()


def test_csv_in_folder_out(env: Env, tmp_path: Path) -> None:
    frame = _input(tmp_path / "in.csv", 9_000)
    batch_predict(
        "models:/fraud/2",
        str(tmp_path / "in.csv"),
        str(tmp_path / "scored"),
        chunk_rows=2_000,
        stores=env.stores,
    )
    parts = sorted((tmp_path / "scored").glob("part-*.parquet"))
    assert len(parts) == 5
    out = pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True)
    assert out["prediction"].tolist() == env.models[2].predict(frame[FEATURES]).tolist()
    batch_predict(
        "models:/fraud/2",
        str(tmp_path / "in.csv"),
        str(tmp_path / "scored.csv"),
        chunk_rows=3_000,
        stores=env.stores,
    )
    assert pd.read_csv(tmp_path / "scored.csv")["prediction"].tolist() == out["prediction"].tolist()


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_keep_chooses_the_input_columns_beside_the_prediction(env: Env, tmp_path: Path, suffix: str) -> None:
    source = tmp_path / f"in{suffix}"
    frame = _input(source, 5_000)
    expected = env.models[1].predict(frame[FEATURES]).tolist()

    def score(keep: object, name: str) -> pd.DataFrame:
        out = tmp_path / f"{name}.parquet"
        batch_predict(
            "models:/fraud/1",
            str(source),
            str(out),
            chunk_rows=1_500,
            stores=env.stores,
            keep=keep,  # type: ignore[arg-type]
        )
        return pq.read_table(out).to_pandas()

    none = score("none", "none")
    assert list(none.columns) == ["prediction", "model_version"] and none["prediction"].tolist() == expected
    ids = score(["id"], "ids")
    assert list(ids.columns) == ["id", "prediction", "model_version"]
    assert ids["id"].tolist() == list(range(5_000))
    assert ids["prediction"].tolist() == expected
    assert list(score("id,f1", "two").columns) == ["id", "f1", "prediction", "model_version"]
    assert list(score("all", "all").columns) == [*frame.columns, "prediction", "model_version"]
    for keep, message in (
        (["id", "nope"], r"--keep names 'nope', which the input does not have; its columns: \['id'"),
        (",", "--keep takes all, none or a comma-separated list"),
    ):
        with pytest.raises(InvalidInputError, match=message):
            score(keep, "bad")
        assert not (tmp_path / "bad.parquet.staging").exists()  # refused before anything is written


def test_missing_input_is_a_clear_error(env: Env, tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match=r"input '.*nowhere\.parquet' does not exist"):
        batch_predict("models:/fraud/1", str(tmp_path / "nowhere.parquet"), str(tmp_path / "o.parquet"),
                      stores=env.stores)  # fmt: skip


def test_a_chunk_becomes_one_matrix_only_when_that_is_exact() -> None:
    """The fast conversion (columns copied into one 2-D array) gives what Arrow's own would; a
    chunk with mixed types or nulls takes Arrow's conversion."""
    from shipyard.serving.batch import _frame

    floats = pa.table({"a": [1.5, 2.5, 3.5], "b": [0.0, -1.0, 2.0]})
    fast = _frame(floats)
    pd.testing.assert_frame_equal(fast, floats.to_pandas())
    assert fast.to_numpy().flags.f_contiguous  # one block: the model reads it without a copy
    ints = pa.table({"a": pa.array([1, 2], pa.int32()), "b": pa.array([3, 4], pa.int32())})
    pd.testing.assert_frame_equal(_frame(ints), ints.to_pandas())
    for other in (
        pa.table({"a": [1.5, None], "b": [1.0, 2.0]}),  # a null
        pa.table({"a": [1.5, 2.5], "b": [1, 2]}),  # two types
        pa.table({"a": ["x", "y"], "b": ["z", "w"]}),  # text
    ):
        pd.testing.assert_frame_equal(_frame(other), other.to_pandas())


def test_a_different_job_in_the_same_staging_is_refused(env: Env, tmp_path: Path) -> None:
    _input(tmp_path / "in.parquet", 1_000)
    staging = tmp_path / "out.parquet.staging"
    staging.mkdir()
    (staging / "manifest.json").write_text('{"chunk_rows": 5, "input": "x", "model": "y"}')
    with pytest.raises(ConflictError, match="delete that folder"):
        batch_predict(
            "models:/fraud@champion",
            str(tmp_path / "in.parquet"),
            str(tmp_path / "out.parquet"),
            stores=env.stores,
        )


def test_resume_after_kill_9_writes_every_row_exactly_once(env: Env, tmp_path: Path) -> None:
    rows = 40_000
    frame = _input(tmp_path / "in.parquet", rows)
    out = tmp_path / "out.parquet"
    cmd = [
        sys.executable,
        "-m",
        "shipyard.cli.main",
        "batch",
        "models:/fraud@champion",
        str(tmp_path / "in.parquet"),
        str(out),
        "--chunk-rows",
        "1000",
        "--quiet",
    ]
    proc = subprocess.Popen(cmd, env=cli_env(env), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    staging = tmp_path / "out.parquet.staging"
    deadline = time.monotonic() + 60
    while len(list(staging.glob("part-*.arrow"))) < 3:
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        assert time.monotonic() < deadline, "no chunk finished in time"
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.stderr is not None
    proc.stderr.close()
    done_before = len(list(staging.glob("part-*.arrow")))
    assert 3 <= done_before < 40 and not out.exists()
    rerun = subprocess.run(cmd, env=cli_env(env), capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert "chunks done before" in rerun.stderr
    result = pq.read_table(out).to_pandas()
    assert len(result) == rows and result["id"].tolist() == list(range(rows))
    assert result["prediction"].tolist() == env.models[1].predict(frame[FEATURES]).tolist()
    assert not staging.exists()


def test_batch_predict_inside_a_flow_step(env: Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from shipyard.core.entities import RunStatus
    from tests.serving.scoring_flow import scoring

    for key, value in cli_env(env).items():
        if key.startswith("SHIPYARD_"):
            monkeypatch.setenv(key, value)
    _input(tmp_path / "in.parquet", 3_000)
    run = scoring.run(source=str(tmp_path / "in.parquet"), target=str(tmp_path / "scored.parquet"))
    assert run.status is RunStatus.SUCCEEDED and run.output == 3_000
    assert pq.read_table(tmp_path / "scored.parquet").num_rows == 3_000
