"""Per-step environments on the 2-node local Ray cluster: each step sees its own pins, and a node
that lacks an environment installs it from the lock recorded with the run."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipyard.core.entities import RunStatus
from shipyard.core.settings import load_settings
from shipyard.runtime.api import RunOptions, run_file
from shipyard.runtime.envs import prepare
from tests.ray.cluster import LocalRayCluster
from tests.services import require_pypi

pytestmark = pytest.mark.ray

FLOW = Path(__file__).resolve().parents[1] / "runtime" / "env_flows" / "two_sixes.py"


def test_steps_with_conflicting_pins_on_ray_install_on_the_node(
    ray_cluster: LocalRayCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    import six

    require_pypi()
    skipped: list[str] = []
    # the driver resolves and records the locks but installs nothing: the Ray workers must
    monkeypatch.setattr(prepare, "ensure_env", lambda lock, root, owner: skipped.append(lock.hash))
    settings = load_settings()
    options = RunOptions(executor="ray", executor_options={"address": ray_cluster.address})
    run = run_file(FLOW, {}, settings, options)
    assert run.status is RunStatus.SUCCEEDED, run.error
    assert run.output == {"new": "1.16.0", "old": "1.15.0", "base": six.__version__}
    envs = run.info.flow_spec["envs"]
    assert sorted(skipped) == sorted(envs)
    assert all((t.node or "").startswith("ray:") for t in run.tasks)
    for lock_hash in envs:
        assert (settings.home.resolve() / "envs" / lock_hash / "site" / "six.py").is_file()
