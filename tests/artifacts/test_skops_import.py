"""skops.io imported through shipyard skips all_estimators() yet trusts exactly what skops would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("skops")

SRC = str(Path(__file__).resolve().parents[2] / "src")

_DUMP = """
import json, sys
{importer}
import skops.io._trusted_types as t
names = {{k: sorted(map(str, v)) for k, v in vars(t).items() if k.endswith("_NAMES")}}
heavy = [m for m in ("sklearn.gaussian_process", "sklearn.semi_supervised", "torch") if m in sys.modules]
print(json.dumps({{"names": names, "heavy": heavy}}))
"""


def _dump(importer: str) -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": SRC}
    out = subprocess.run(
        [sys.executable, "-c", _DUMP.format(importer=importer)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=240,
    )
    result: dict[str, object] = json.loads(out.stdout)
    return result


def test_shipyard_import_does_not_import_all_of_sklearn() -> None:
    ours = _dump("from shipyard.artifacts.serializers.skops_import import skops_io\nskops_io()")
    assert ours["heavy"] == []  # all_estimators() would have imported every sklearn module


@pytest.mark.slow
def test_default_trust_lists_equal_a_plain_import() -> None:
    """The stand-in changes how the estimator list is found, never what skops trusts."""
    ours = _dump("from shipyard.artifacts.serializers.skops_import import skops_io\nskops_io()")
    plain = _dump("import skops.io")
    assert ours["names"] == plain["names"]
    assert plain["heavy"] != []  # the plain import did pay for every module: the test sees the difference
