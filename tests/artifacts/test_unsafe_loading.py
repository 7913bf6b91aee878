"""Reading artifacts runs no code from them unless the reader says so (issue 12, hole 1): pickles
and skops files with names off the allow-list are refused by ``shipyard.load_artifact``, the
tracking client and ``ArtifactStore.get_object`` unless ``allow_unsafe=True``; a flow still loads
its own steps' outputs."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import shipyard
from shipyard.artifacts.store import StoredObject
from shipyard.core.errors import SerializationError
from shipyard.tracking import fluent
from shipyard.tracking.client import TrackingClient
from shipyard.tracking.stores import Stores
from tests.registry import hostile

RISK = "runs code from the artifact; pass allow_unsafe=True only if you trust who wrote it"


class Payload:
    """Unpickling it runs ``code``."""

    def __init__(self, code: str) -> None:
        self.code = code

    def __reduce__(self) -> tuple[Any, ...]:
        return (exec, (self.code,))


@pytest.fixture
def sdk() -> Iterator[Stores]:
    from shipyard.core.settings import load_settings
    from shipyard.tracking.stores import open_stores

    stores = open_stores(load_settings())
    fluent.reset()
    fluent.set_stores(stores)
    yield stores
    fluent.reset()
    stores.close()


def test_load_artifact_refuses_a_pickle_unless_allowed(sdk: Stores, tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    with shipyard.start_run() as run:
        shipyard.log_artifact(Payload(hostile.write_marker_code(marker)), name="gift")
    readers = {
        "shipyard.load_artifact": lambda **kw: shipyard.load_artifact(run.id, "gift", **kw),
        "TrackingClient.load_artifact": lambda **kw: TrackingClient(sdk).load_artifact(run.id, "gift", **kw),
        "ArtifactStore.get_object": lambda **kw: sdk.artifacts.get_object(
            StoredObject.of(sdk.metadata.find_artifact(run.id, "gift")), name="gift", **kw
        ),
    }
    for reader, load in readers.items():
        with pytest.raises(SerializationError) as info:
            load()
        assert RISK in str(info.value) and "'gift'" in str(info.value), reader
        assert not marker.exists(), reader
    shipyard.load_artifact(run.id, "gift", allow_unsafe=True)  # the reader's explicit choice
    assert marker.exists()


def test_skops_artifact_is_checked_even_when_not_marked_unsafe(sdk: Stores, tmp_path: Path) -> None:
    """A record that claims a harmless scikit-learn model (unsafe=False) whose skops file runs
    ``builtins.exec``: the allow-list refuses it from the file itself, not from the record."""
    marker = tmp_path / "marker"
    data = hostile.exec_via_constructor(marker)
    stored = StoredObject(sdk.artifacts.put_bytes(data), len(data), "sklearn", unsafe=False, meta={})
    with pytest.raises(SerializationError, match=r"builtins\.exec") as info:
        sdk.artifacts.get_object(stored, name="model")
    assert "never loads" in str(info.value) and not marker.exists()


def test_ordinary_sklearn_artifacts_load_without_opt_in(sdk: Stores) -> None:
    import numpy as np
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(200, 4)), rng.integers(0, 2, 200)
    with shipyard.start_run() as run:
        for name, model in {
            "pipe": make_pipeline(StandardScaler(), LogisticRegression()),
            "hgb": HistGradientBoostingClassifier(max_iter=5),
        }.items():
            shipyard.log_artifact(model.fit(x, y), name=name)
    for name in ("pipe", "hgb"):
        assert shipyard.load_artifact(run.id, name).predict(x).shape == (200,)


FLOW = """
from fractions import Fraction

from shipyard import flow, step


@step
def make(n: int) -> Fraction:
    return Fraction(n, 3)  # no safe serializer: stored as a pickle


@step
def double(x: Fraction) -> Fraction:
    return x * 2


@flow
def thirds(n: int = 1):
    return double(make(n))
"""


def test_a_flow_loads_its_own_pickled_step_outputs(
    sdk: Stores, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fractions import Fraction

    (tmp_path / "pickled_flow.py").write_text(FLOW)
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module("pickled_flow")
    try:
        run = module.thirds.run_with({"n": 2}, max_workers=1)
        assert run.output == Fraction(4, 3) and run.outputs("make") == [Fraction(2, 3)]
        with pytest.raises(SerializationError, match="allow_unsafe=True"):
            shipyard.load_artifact(run.id, "output")  # anyone else reading it decides for themselves
    finally:
        sys.modules.pop("pickled_flow", None)
