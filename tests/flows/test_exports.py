"""The public API of shipyard.flows (and its lazy re-export from shipyard) stays as documented."""

from __future__ import annotations

import shipyard
import shipyard.flows


def test_flows_exports() -> None:
    assert sorted(shipyard.flows.__all__) == [
        "Flow",
        "Graph",
        "Node",
        "Ref",
        "Resources",
        "Step",
        "flow",
        "loop",
        "on_dataset",
        "on_model",
        "on_model_version",
        "pick",
        "schedule_spec",
        "step",
        "unless",
        "when",
    ]
    for name in shipyard.flows.__all__:
        assert getattr(shipyard.flows, name) is not None


def test_top_level_flow_and_step_are_the_flows_ones() -> None:
    assert shipyard.flow is shipyard.flows.flow
    assert shipyard.step is shipyard.flows.step
    assert shipyard.on_dataset is shipyard.flows.on_dataset
    assert shipyard.on_model is shipyard.flows.on_model
    assert shipyard.on_model_version is shipyard.flows.on_model_version
