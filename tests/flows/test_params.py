"""Flow parameters: coerced from CLI strings or Python values by annotation; clear errors."""

from __future__ import annotations

from typing import Literal

import pytest

from shipyard.core.errors import FlowError
from shipyard.flows import flow, step
from shipyard.flows.params import parse_cli_params


@step
def noop(x: int) -> int:
    return x


@flow
def typed(
    n: int,
    lr: float = 0.1,
    name: str = "a",
    debug: bool = False,
    sizes: list[int] = [1],  # noqa: B006
    mode: Literal["fast", "slow"] = "fast",
    limit: int | None = None,
):
    return noop(n)


def test_cli_strings_are_coerced() -> None:
    params = typed.coerce(
        parse_cli_params(["n=3", "lr=1e-3", "debug=true", "sizes=[1,2]", "mode=slow", "limit=none"])
    )
    assert params == {
        "n": 3,
        "lr": 0.001,
        "name": "a",
        "debug": True,
        "sizes": [1, 2],
        "mode": "slow",
        "limit": None,
    }
    assert typed.coerce({"n": "4", "sizes": "5, 6", "limit": "7"})["sizes"] == [5, 6]


def test_python_values_keep_their_types() -> None:
    assert typed.coerce({"n": 2, "lr": 1})["lr"] == 1.0


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"n": "three"}, r"parameter 'n' expects int, got 'three'"),
        ({"n": 1, "debug": "maybe"}, r"parameter 'debug' expects bool"),
        ({"n": 1, "mode": "medium"}, r"choose one of \['fast', 'slow'\]"),
        ({"n": True}, r"parameter 'n' expects int"),
        ({}, r"needs parameter n: int; pass -p n=VALUE"),
        ({"n": 1, "epochs": 3}, r"has no parameter 'epochs'; parameters: n: int, lr: float = 0.1"),
    ],
)
def test_bad_params_give_clear_errors(given: dict[str, object], message: str) -> None:
    with pytest.raises(FlowError, match=message):
        typed.coerce(given)


def test_cli_pairs_need_an_equals_sign() -> None:
    with pytest.raises(FlowError, match="is not KEY=VALUE"):
        parse_cli_params(["n"])
