"""Code packages: what one holds, that the same code gives the same digest, the size bound, a
tampered blob refused, concurrent unpacking, a task that runs from the package when the flow file
is gone, and ``runs show`` naming the package and the git commit."""

from __future__ import annotations

import json
import os
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from shipyard.artifacts.cas import blob_key
from shipyard.cli.main import main
from shipyard.core.entities import RunStatus
from shipyard.core.errors import FlowError, IntegrityError
from shipyard.core.settings import load_settings
from shipyard.runtime import api
from shipyard.runtime.api import RunOptions, run_file
from shipyard.runtime.code_package import CodePackage, build_code_package, ensure_flow_module, materialize
from shipyard.runtime.loader import LoadedFlow
from shipyard.runtime.stores import RunStores, open_run_stores
from tests.runtime.code_project import expected_values, moving_away, write_project


@pytest.fixture
def stores() -> Iterator[RunStores]:
    s = open_run_stores(load_settings())
    yield s
    s.close()


def _blobs(stores: RunStores) -> set[str]:
    return {info.key for info in stores.artifacts.blobs.list_blobs("blobs/")}


def _git(root: Path, *args: str) -> str:
    cmd = ["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@example.com", *args]
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip()


def test_the_same_code_gives_the_same_digest_wherever_it_lies(stores: RunStores, tmp_path: Path) -> None:
    flow = write_project(tmp_path / "a")
    first = build_code_package(flow, stores.artifacts)
    blobs = _blobs(stores)
    again = build_code_package(flow, stores.artifacts)
    assert again.digest == first.digest and _blobs(stores) == blobs  # nothing new stored
    copy = write_project(tmp_path / "b")  # same content, other folder, other mtimes
    os.utime(copy.parent / "helpers.py", (1_000_000, 1_000_000))
    assert build_code_package(copy, stores.artifacts).digest == first.digest
    (copy.parent / "lazy_helper.py").write_text("def offset() -> int:\n    return 101\n")
    assert build_code_package(copy, stores.artifacts).digest != first.digest


def test_a_package_holds_code_package_data_and_the_spec_only(stores: RunStores, tmp_path: Path) -> None:
    root = tmp_path / "project"
    flow = write_project(root)
    hidden = ("pkg/.env", ".venv/lib/site.py", "pkg/__pycache__/m.cpython-311.pyc", ".github/ci.py")
    for name in ("README.md", "data.csv", "__pycache__/flow.cpython-311.pyc", *hidden):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("x")
    (root / "node_modules").mkdir()
    (root / "node_modules" / "tool.py").write_text("x")
    (root / "secret_keys.py").write_text("KEY = 1")
    (root / "build").mkdir()
    (root / "build" / "gen.py").write_text("x")
    (root / ".gitignore").write_text("secret_*.py\nbuild/\n")
    package = build_code_package(flow, stores.artifacts)
    assert package.files == (
        "flow.py",
        "helpers.py",
        "lazy_helper.py",
        "pkg/__init__.py",
        "pkg/factor.json",
        "shipyard.yaml",
    )
    assert package.flow_path == "flow.py" and package.root == root.resolve()
    unpacked = materialize(package.digest, stores.artifacts, tmp_path / "cache")
    assert sorted(p.relative_to(unpacked).as_posix() for p in unpacked.rglob("*") if p.is_file()) == list(
        package.files
    )
    assert (unpacked / "pkg" / "factor.json").read_text() == '{"factor": 7}'


def test_in_a_git_repository_git_decides_what_is_ignored(stores: RunStores, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    flow = write_project(repo / "flows")  # flows/shipyard.yaml: the nearest marker is the root
    (repo / "flows" / "shipyard.yaml").unlink()  # now the repository is the project
    (repo / ".gitignore").write_text("flows/scratch_*.py\n")
    (repo / "flows" / "scratch_notes.py").write_text("x = 1")
    (repo / "tool.py").write_text("y = 2")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "first")
    (repo / "untracked.py").write_text("z = 3")  # not ignored: a local module too
    (repo / "flows" / "pkg" / ".env").write_text("TOKEN=x")  # not ignored, but hidden: never packed
    package = build_code_package(flow, stores.artifacts)
    assert package.root == repo.resolve() and package.flow_path == "flows/flow.py"
    assert "flows/scratch_notes.py" not in package.files and "flows/pkg/.env" not in package.files
    assert {"tool.py", "untracked.py", "flows/helpers.py", "flows/pkg/factor.json"} <= set(package.files)


def test_the_nearest_shipyard_yaml_is_the_root(stores: RunStores, tmp_path: Path) -> None:
    flow = write_project(tmp_path / "outer" / "project")
    (tmp_path / "outer" / "shipyard.yaml").write_text("project: outer\n")
    (tmp_path / "outer" / "other.py").write_text("")
    package = build_code_package(flow, stores.artifacts)
    assert package.root == flow.parent.resolve() and "other.py" not in package.files
    assert "shipyard.yaml" in package.files


def test_a_package_over_the_limit_is_refused_naming_the_largest_files(
    stores: RunStores, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    flow = write_project(tmp_path / "project")
    (flow.parent / "pkg" / "weights.bin").write_bytes(b"\0" * (3 << 20))
    with pytest.raises(FlowError) as info:
        build_code_package(flow, stores.artifacts, max_bytes=1 << 20)
    message = str(info.value)
    assert "\n" not in message and "over the 1.0 MiB limit" in message
    assert "largest files: pkg/weights.bin (3.0 MiB)" in message and "add them to .gitignore" in message
    monkeypatch.setenv("SHIPYARD_CODE_PACKAGE_MAX_BYTES", str(1 << 20))  # the CLI: one line, no run
    assert main(["run", str(flow), "-q"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "pkg/weights.bin" in err
    assert stores.metadata.search_runs().runs == []


def test_a_tampered_package_is_refused_and_nothing_is_unpacked(stores: RunStores, tmp_path: Path) -> None:
    package = build_code_package(write_project(tmp_path / "project"), stores.artifacts)
    blob = Path(stores.artifacts.blobs.location) / blob_key(package.digest)
    data = bytearray(blob.read_bytes())
    data[-2000] ^= 0xFF
    blob.chmod(0o644)
    blob.write_bytes(bytes(data))
    cache = tmp_path / "cache"
    with pytest.raises(IntegrityError, match="code package"):
        materialize(package.digest, stores.artifacts, cache)
    assert not cache.exists() or list(cache.iterdir()) == []


def test_workers_unpacking_one_package_at_once_all_get_it_whole(stores: RunStores, tmp_path: Path) -> None:
    package = build_code_package(write_project(tmp_path / "project"), stores.artifacts)
    cache = tmp_path / "cache"
    barrier = threading.Barrier(8)
    got: list[Path] = []
    errors: list[BaseException] = []

    def worker() -> None:
        barrier.wait()
        try:
            got.append(materialize(package.digest, stores.artifacts, cache))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and set(got) == {cache / package.digest}
    assert [p.name for p in cache.iterdir()] == [package.digest]  # no temp folder left behind
    files = sorted(p.relative_to(got[0]).as_posix() for p in got[0].rglob("*") if p.is_file())
    assert files == list(package.files)
    assert materialize(package.digest, stores.artifacts, cache) == got[0]  # reused


def test_tasks_run_from_the_package_when_the_flow_file_is_gone(
    stores: RunStores, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = stores.settings
    flow = write_project(tmp_path / "project")
    here = run_file(flow, {"n": 3}, settings, RunOptions(max_workers=2), "packaged")
    assert here.status is RunStatus.SUCCEEDED, here.error
    assert here.output["flow_files"] == [str(flow.resolve())]  # the fast path: the file itself
    monkeypatch.setattr(api, "store_code_package", moving_away(flow.parent, tmp_path / "moved"))
    run = run_file(flow, {"n": 3}, settings, RunOptions(max_workers=2), "packaged")
    assert run.status is RunStatus.SUCCEEDED, run.error
    assert not flow.exists()
    assert run.output["values"] == here.output["values"] == expected_values(3)
    package = run.info.flow_spec["code_package"]
    code = settings.home.resolve() / "code" / package["digest"]
    assert run.output["flow_files"] == [str(code / "flow.py")]
    assert run.output["helper_files"] == [str(code / "lazy_helper.py")]
    record = stores.metadata.find_artifact(run.id, "code")  # lineage and gc see the package
    assert record.digest == package["digest"] and record.serializer == "dir"
    assert package["digest"] in stores.metadata.referenced_digests()


def test_a_flow_file_edited_after_the_run_started_does_not_change_what_its_tasks_run(
    stores: RunStores, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    flow = write_project(tmp_path / "project")
    real = api.store_code_package

    def store_then_edit(loaded: LoadedFlow, run_stores: RunStores, root: Path | None = None) -> CodePackage:
        package = real(loaded, run_stores, root)
        flow.write_text(flow.read_text().replace("scale(x) + lazy_helper", "-1 + lazy_helper"))
        return package

    monkeypatch.setattr(api, "store_code_package", store_then_edit)
    run = run_file(flow, {"n": 2}, stores.settings, RunOptions(max_workers=1), "packaged")
    assert run.status is RunStatus.SUCCEEDED, run.error
    assert run.output["values"] == expected_values(2)  # the code the run started with
    assert run.output["flow_files"][0].startswith(str(stores.settings.home.resolve() / "code"))


def test_a_run_without_a_package_still_needs_its_file(stores: RunStores, tmp_path: Path) -> None:
    spec = {"file": str(tmp_path / "gone.py"), "source_hash": "0" * 64}
    with pytest.raises(FlowError, match="does not exist"):
        ensure_flow_module(spec, stores)
    bad = {**spec, "code_package": {"digest": "0" * 64, "path": "../outside.py"}}
    with pytest.raises(IntegrityError, match="unsafe member name"):
        ensure_flow_module(bad, stores)


def test_runs_show_names_the_code_package_and_the_git_commit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = tmp_path / "repo"
    flow = write_project(repo)
    _git(repo, "init", "-q")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "first")
    commit = _git(repo, "rev-parse", "HEAD")
    assert main(["run", str(flow), "-q", "-w", "1"]) == 0
    run_id = capsys.readouterr().out.strip()
    assert main(["runs", "show", run_id, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    package = data["code_package"]
    assert package["files"] == 6 and package["path"] == "flow.py" and package["size"] > 0
    assert data["code_version"]["git_commit"] == commit
    assert main(["runs", "show", run_id]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert any(
        line.split() == ["code", "git", f"{commit[:12]},", "source", data["code_version"]["source_hash"][:12]]
        for line in lines
    ), out
    shown = next(line for line in lines if line.startswith("  code package"))
    assert shown.split(None, 2)[2].startswith(f"{package['digest'][:12]}, ") and shown.endswith(", 6 files")
