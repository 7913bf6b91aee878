"""Declared step environments, checked where they are declared (no resolver, no network)."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipyard import flow, step
from shipyard.core.errors import FlowError
from shipyard.flows.envspec import merge_pins
from shipyard.runtime.envs.prepare import read_requirements
from shipyard.runtime.envs.uv import one_line


def _trivial() -> int:
    return 1


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"pip": "six==1.16.0"}, "step '_trivial': pip is a list of requirements"),
        ({"pip": ["-r requirements.txt"]}, "step '_trivial': '-r requirements.txt' is not a requirement"),
        ({"pip": ["six=1.16"]}, "step '_trivial': invalid requirement 'six=1.16'"),
        ({"python": "3"}, "step '_trivial': python='3' is not a version like '3.11'"),
        ({"image": "Not An Image"}, "step '_trivial': image='Not An Image' is not an image reference"),
    ],
)
def test_bad_declarations_are_one_line_errors(options: dict[str, object], message: str) -> None:
    with pytest.raises(FlowError) as info:
        step(**options)(_trivial)  # type: ignore[call-overload]
    assert str(info.value).startswith(message)
    assert "\n" not in str(info.value)


def test_declarations_are_recorded_in_the_node_options() -> None:
    declared = step(pip=["six==1.16.0", "packaging>=23"], python="3.11", image="ghcr.io/team/x:1")(_trivial)
    opts = declared.options_dict()
    assert opts["env"] == {"pip": ["six==1.16.0", "packaging>=23"], "python": "3.11"}
    assert opts["image"] == "ghcr.io/team/x:1"
    assert "env" not in step(_trivial).options_dict()  # nothing declared: nothing recorded
    assert flow(pip=["six"], requirements="req.txt")(_trivial).env.to_dict() == {
        "pip": ["six"],
        "requirements": "req.txt",
    }


def test_a_step_may_add_to_and_narrow_its_flow_pins() -> None:
    assert merge_pins("step 'a'", ["six>=1.15", "numpy"], ["six==1.15.0", "rich"]) == (
        "six>=1.15",
        "numpy",
        "six==1.15.0",
        "rich",
    )
    assert merge_pins("step 'a'", ["six==1.16.0"], ["Six<2"]) == ("six==1.16.0", "Six<2")
    assert merge_pins("step 'a'", ["six==1.16.0"], ["six==1.16.0"]) == ("six==1.16.0",)


@pytest.mark.parametrize(
    ("flow_pins", "step_pins", "message"),
    [
        (["six==1.16.0"], ["six==1.15.0"], "step 'a' pins 'six==1.15.0' but its flow pins 'six==1.16.0'"),
        (["Six>=2"], ["six==1.15.0"], "step 'a' pins 'six==1.15.0' but its flow pins 'Six>=2'"),
        (["six==1.15.0"], ["six>=1.16"], "step 'a' pins 'six>=1.16' but its flow pins 'six==1.15.0'"),
    ],
)
def test_a_step_pin_that_contradicts_its_flow_is_refused(
    flow_pins: list[str], step_pins: list[str], message: str
) -> None:
    with pytest.raises(FlowError, match=r"no version of [Ss]ix satisfies both") as info:
        merge_pins("step 'a'", flow_pins, step_pins)
    assert str(info.value).startswith(message)


def test_requirements_files(tmp_path: Path) -> None:
    flow_file = tmp_path / "flow.py"
    (tmp_path / "requirements.txt").write_text("# pins\n\nsix==1.16.0  # old\nrich>=13\n")
    assert read_requirements("flow 'f'", "requirements.txt", flow_file) == ("six==1.16.0", "rich>=13")
    (tmp_path / "bad.txt").write_text("six\n-r other.txt\n")
    with pytest.raises(FlowError, match=r"^flow 'f': bad.txt line 2: pip options \(-r\) are not supported"):
        read_requirements("flow 'f'", "bad.txt", flow_file)
    with pytest.raises(FlowError, match=r"requirements file .*missing\.txt' does not exist"):
        read_requirements("flow 'f'", "missing.txt", flow_file)


def test_uv_reports_become_one_line() -> None:
    said = (
        "  \x1b[31m\u00d7\x1b[0m No solution found when resolving dependencies:\n"
        "  \u2570\u2500\u25b6 Because nosuch was not found in the package registry and you require\n"
        "      nosuch==1.0, we can conclude that your requirements are unsatisfiable.\n"
    )
    assert one_line(said) == (
        "No solution found when resolving dependencies: Because nosuch was not found in the package "
        "registry and you require nosuch==1.0, we can conclude that your requirements are unsatisfiable."
    )
    assert one_line("error: No solution found\n  cause: Because six==9 does not exist") == (
        "No solution found: Because six==9 does not exist"
    )
    assert len(one_line("x " * 1000)) == 500
