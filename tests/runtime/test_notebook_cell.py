"""What of a notebook cell goes into the flow file ``flow.run()`` writes from it (the kernel test:
tests/cards/test_notebook_kernel.py)."""

from __future__ import annotations

import pytest

from shipyard.core.errors import FlowError
from shipyard.runtime.notebook_cell import _definitions


def test_only_imports_definitions_and_constants_are_kept() -> None:
    cell = (
        "import math\nfrom shipyard import flow, step\nN = 10\nNAMES: list[str] = ['a']\n"
        "data = load()\nmy_flow.run()\nprint(N)\nget_ipython().run_line_magic('time', 'x = 1')\n"
        "for i in range(3):\n    pass\n"
        "@step(retries=2)\ndef s(x: int) -> int:\n    return x\n"
        "class Helper:\n    pass\n"
        "r = s.run()\n"
    )
    kept = _definitions(cell)
    assert kept.splitlines() == [
        "import math",
        "from shipyard import flow, step",
        "N = 10",
        "NAMES: list[str] = ['a']",
        "",
        "@step(retries=2)",
        "def s(x: int) -> int:",
        "    return x",
        "",
        "class Helper:",
        "    pass",
    ]


def test_a_cell_that_does_not_parse_is_one_line() -> None:
    with pytest.raises(FlowError, match="the notebook cell that defines the flow does not parse"):
        _definitions("def (:\n")
