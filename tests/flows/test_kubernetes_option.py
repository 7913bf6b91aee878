"""``@step(kubernetes={...})``: node selector and tolerations for exported workflows, validated when
the step is declared, recorded in the step's options only when given."""

from __future__ import annotations

from typing import Any

import pytest

from shipyard.core.errors import FlowError
from shipyard.flows.decorators import step


def _f(x: int) -> int:
    return x


def test_the_option_is_normalized_and_recorded_only_when_given() -> None:
    options = {
        "node_selector": {"zone": "b", "pool": "gpu"},
        "tolerations": [
            {"operator": "Exists", "key": "gpu", "effect": "NoSchedule", "tolerationSeconds": 60}
        ],
    }
    placed = step(kubernetes=options)(_f)
    assert placed.options_dict()["kubernetes"] == {
        "node_selector": {"pool": "gpu", "zone": "b"},
        "tolerations": [
            {"effect": "NoSchedule", "key": "gpu", "operator": "Exists", "tolerationSeconds": 60}
        ],
    }
    assert "kubernetes" not in step(_f).options_dict()  # other steps' options (and digests) unchanged
    assert "kubernetes" not in step(kubernetes={})(_f).options_dict()


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ({"nodeSelector": {}}, "unknown options ['nodeSelector']"),
        ({"node_selector": {"pool": 1}}, "node_selector maps label names to string values"),
        ({"node_selector": "gpu"}, "node_selector"),
        ({"tolerations": {"key": "gpu"}}, "tolerations is a list"),
        ({"tolerations": [{"key": "gpu", "operator": "In"}]}, "operator 'In'"),
        ({"tolerations": [{"key": "gpu", "effect": "Never"}]}, "effect 'Never'"),
        ({"tolerations": [{"key": "gpu", "operator": "Exists", "value": "x"}]}, "Exists takes no value"),
        ({"tolerations": [{"key": "gpu", "tolerationSeconds": -1}]}, "tolerationSeconds"),
        ({"tolerations": [{"key": "gpu", "toleration_seconds": 1}]}, "unknown fields ['toleration_seconds']"),
        ("gpu", "is a dict"),
    ],
)
def test_a_bad_option_is_one_line_naming_the_step(value: Any, words: str) -> None:
    with pytest.raises(FlowError) as info:
        step(kubernetes=value)(_f)
    message = str(info.value)
    assert message.startswith("step '_f': kubernetes") and words in message and "\n" not in message
