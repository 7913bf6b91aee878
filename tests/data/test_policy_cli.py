"""``shipyard policy ...`` and the SDK's local read paths under a policy (the embedded default:
a local SQLite file, its user ``settings.user``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import shipyard
from shipyard.core.errors import PermissionDeniedError
from shipyard.core.settings import load_settings


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Any:
    from shipyard.cli.main import main

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main(list(args))
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": [1, 2, 3, 4],
            "email": ["a@x.org", "b@x.org", "c@x.org", "d@x.org"],
            "card": ["4111111111111111", "5500000000000004", "340000000000009", "6011000000000004"],
            "region": ["EU", "US", "EU", "US"],
        }
    )


def test_policies_via_the_cli_restrict_the_local_user(cli: Any, tmp_path: Path) -> None:
    me = load_settings().user
    shipyard.log_dataset("tx", _frame(), column_tags={"email": ["pii"], "card": ["pii"]})
    # the owner of a file with no users holds data:read:pii: everything comes back
    assert list(shipyard.load_dataset("tx").columns) == ["id", "email", "card", "region"]
    code, out, err = cli(
        "policy", "create", "eu-only", "--dataset", "tx", "-s", f"user:{me}",
        "-c", "email=hide", "-c", "card=mask:partial", "--rows", "region = 'EU'",
    )  # fmt: skip
    assert code == 0 and "created policy eu-only" in out, err
    code, out, _ = cli("policy", "list", "--json")
    assert [p["name"] for p in json.loads(out)] == ["eu-only"]
    assert json.loads(cli("policy", "show", "eu-only", "--json")[1])["rows"] == "region = 'EU'"

    seen = shipyard.load_dataset("tx")
    assert list(seen.columns) == ["id", "card", "region"] and set(seen["region"]) == {"EU"}
    assert list(seen["card"]) == ["***1111", "***0009"]
    batches = list(shipyard.load_dataset("tx", stream=True))
    assert sum(b.num_rows for b in batches) == 2 and "email" not in batches[0].schema.names
    with pytest.raises(PermissionDeniedError, match=r"email .* hidden"):
        shipyard.load_dataset("tx", columns=["id", "email"])
    with pytest.raises(PermissionDeniedError, match="cannot filter on column\\(s\\) card"):
        shipyard.load_dataset("tx", where="card = '4111111111111111'")
    with pytest.raises(PermissionDeniedError, match="cannot be copied"):
        shipyard.load_dataset("tx", output="path")
    code, _, err = cli("data", "get", "tx", str(tmp_path / "out"))
    assert code != 0 and "cannot be copied" in err and not (tmp_path / "out" / "tx.parquet").exists()
    code, out, _ = cli("data", "show", "tx/1", "--json")
    assert json.loads(out)["stats"] == {}  # under a row filter no statistics: they describe all rows
    shipyard.log_dataset("tx", _frame().assign(card="0000000000000000"), column_tags={"email": ["pii"]})
    code, out, _ = cli("data", "diff", "tx/1", "tx/2", "--json")
    assert "card" not in json.loads(out)["stats_changed"]

    assert cli("policy", "delete", "eu-only")[0] == 0
    shipyard.log_dataset("tx", _frame().assign(card="9999999999999999"), column_tags={"email": ["pii"]})
    assert (
        cli("policy", "create", "mask", "--dataset", "tx", "-s", f"user:{me}", "-c", "card=mask:hash")[0] == 0
    )
    code, out, _ = cli("data", "show", "tx/3", "--json")
    assert set(json.loads(out)["stats"]) == {"id", "email", "region"}  # no min/max of the masked card
    code, out, _ = cli("data", "diff", "tx/1", "tx/3", "--json")
    assert "card" not in json.loads(out)["stats_changed"]  # its min/max changed: left out
    assert cli("policy", "delete", "mask")[0] == 0
    assert list(shipyard.load_dataset("tx/1").columns) == ["id", "email", "card", "region"]
    code, _, err = cli("policy", "create", "x", "--dataset", "tx", "-s", "alice", "-c", "email=hide")
    assert code != 0 and "invalid subject 'alice'" in err and "Traceback" not in err
    code, _, err = cli("policy", "create", "x", "--dataset", "tx", "-s", "user:a", "--rows", "region =")
    assert code != 0 and "invalid row filter" in err
