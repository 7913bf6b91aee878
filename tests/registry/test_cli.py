"""``shipyard models ...`` end to end, in-process, on the per-test SHIPYARD_HOME."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from shipyard.registry.service import ModelRegistry
from shipyard.tracking.client import TrackingClient
from shipyard.tracking.stores import Stores


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Any:
    from shipyard.cli.main import main

    def run(*args: str) -> Result:
        capsys.readouterr()
        code = main(list(args))
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


@pytest.fixture
def logged(stores: Stores, breast_cancer: Any, sk_pipeline: Any) -> str:
    """A run with params/metrics and a logged model package named ``model``; returns the run id."""
    client = TrackingClient(stores)
    run = client.create_run("train", params={"C": 1.0})
    from shipyard.core.entities import Metric

    client.log_metrics(run.id, [Metric("auc", 0.97, 0, 1)])
    ModelRegistry(stores).log_model(run.id, sk_pipeline, "model", input_example=breast_cancer[0].head(3))
    client.log_artifact(run.id, {"not": "a model"}, "config")
    return run.id


def test_register_alias_approve_show(cli: Any, logged: str, tmp_path: Path) -> None:
    r = cli("models", "register", f"{logged}/model", "--name", "fraud", "--json")
    assert r.code == 0, r.err
    assert r.json()["version"] == 1
    assert cli("models", "register", f"runs:/{logged}/model", "-n", "fraud").code == 0
    assert cli("models", "alias", "fraud", "1", "candidate").code == 0
    r = cli("models", "alias", "fraud", "2", "candidate", "--json")
    assert r.json()["old_version"] == 1 and r.json()["new_version"] == 2
    r = cli("models", "alias", "fraud", "2", "champion")
    assert r.code == 1 and "must be approved first" in r.err and "Traceback" not in r.err
    assert cli("models", "approve", "fraud", "2").code == 0
    assert cli("models", "alias", "fraud", "2", "champion").code == 0
    assert cli("models", "tag", "fraud", "2", "intended_use=Score card transactions", "team=risk").code == 0

    listed = cli("models", "list", "--json").json()
    assert listed[0]["name"] == "fraud" and listed[0]["aliases"] == {"candidate": 2, "champion": 2}
    overview = cli("models", "show", "fraud", "--json").json()
    assert [v["version"] for v in overview["versions"]] == [1, 2]
    card = cli("models", "show", "fraud@champion", "--json").json()
    assert card["version"] == 2 and card["metrics"] == {"auc": 0.97} and card["params"] == {"C": 1.0}
    assert card["intended_use"] == "Score card transactions" and card["approved"] is True
    assert card["signature"]["inputs"][0]["name"] == "mean radius"

    md = cli("models", "show", "fraud/2", "--markdown")
    assert md.code == 0 and md.out.startswith("# Model card: fraud v2") and "| auc | 0.97 |" in md.out
    out = tmp_path / "card.md"
    assert cli("models", "show", "fraud@champion", "-o", str(out)).code == 0
    assert "## Lineage" in out.read_text()
    rich_out = cli("models", "show", "fraud/2")
    assert rich_out.code == 0 and "model card: fraud v2" in rich_out.out
    assert cli("models", "show", "fraud").code == 0 and cli("models", "list").code == 0

    hist = cli("models", "history", "fraud", "candidate", "--json").json()
    assert [(e["old_version"], e["new_version"]) for e in hist] == [(None, 1), (1, 2)]

    r = cli("models", "delete-version", "fraud", "2")
    assert r.code == 1 and "alias" in r.err
    assert cli("models", "delete-version", "fraud", "1", "--json").json()["deleted"] is True


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("models", "register", "nope", "--name", "m"), "RUN_ID/ARTIFACT"),
        (("models", "register", "{run}/config", "--name", "m"), "not a model package"),
        (("models", "register", "{run}/missing", "--name", "m"), "no artifact 'missing'"),
        (("models", "register", "{run}/model", "--name", "a/b"), "must not contain '/'"),
        (("models", "show", "ghost"), "no registered model 'ghost'"),
        (("models", "alias", "fraud", "7", "candidate"), "no version 7"),
        (("models", "alias", "fraud", "x", "candidate"), "positive integer"),
        (("models", "alias", "fraud", "1", "1bad"), "alias '1bad' is not valid"),
        (("models", "tag", "fraud", "1", "novalue"), "KEY=VALUE"),
    ],
)
def test_user_mistakes_are_one_line(cli: Any, logged: str, args: tuple[str, ...], message: str) -> None:
    assert cli("models", "register", f"{logged}/model", "--name", "fraud").code == 0
    r = cli(*[a.replace("{run}", logged) for a in args])
    assert r.code == 1
    assert message in r.err and r.err.strip().count("\n") == 0, r.err
