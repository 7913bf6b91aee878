"""MLflow's filter and order-by grammar onto shipyard's (pure; no server), and page tokens."""

from __future__ import annotations

import pytest

from shipyard.core.errors import InvalidInputError
from shipyard.metadata.filters import parse_filter, parse_order_by
from shipyard.server.mlflow.filters import (
    clauses,
    decode_token,
    encode_token,
    translate_filter,
    translate_order_by,
)


@pytest.mark.parametrize(
    ("mlflow", "shipyard"),
    [
        ("metrics.acc > 0.5", "metrics.acc > 0.5"),
        (
            "params.lr = '0.1' and tags.`mlflow.runName` = 'x'",
            "params.lr = '0.1' and tags.`mlflow.runName` = 'x'",
        ),
        ("attributes.status = 'FINISHED'", "status = 'succeeded'"),
        ("status IN ('KILLED', 'RUNNING')", "status IN ( 'cancelled' , 'running' )"),
        ("attributes.run_name LIKE 'r%' AND run_id != 'abc'", "name LIKE 'r%' AND id != 'abc'"),
        ("attribute.start_time >= 1700000000000", "start_time >= 1700000000000"),
        ("tags.\"it's\" = 'o''k'", "tags.\"it's\" = 'o''k'"),
    ],
)
def test_filters_are_renamed_and_parse_as_shipyard_filters(mlflow: str, shipyard: str) -> None:
    translated = translate_filter(mlflow)
    assert translated == shipyard
    assert parse_filter(translated) is not None  # the store's parser takes it


@pytest.mark.parametrize(
    "bad",
    [
        "attributes.artifact_uri = 'x'",
        "datasets.name = 'd'",
        "status = 'DONE'",
        "metrics.acc >> 1",
        "lifecycle_stage = 'x'",
    ],
)
def test_what_shipyard_cannot_answer_is_refused(bad: str) -> None:
    with pytest.raises(InvalidInputError):
        translated = translate_filter(bad)
        parse_filter(translated or "")


def test_order_by_and_empty_filters() -> None:
    assert translate_filter("") is None and translate_filter("   ") is None
    order = translate_order_by(["metrics.`rmse` DESC", "attributes.start_time", "run_name ASC"])
    assert [(o.field.key, o.ascending) for o in parse_order_by(order)] == [
        ("rmse", False),
        ("start_time", True),
        ("name", True),
    ]


def test_page_tokens_round_trip_and_foreign_ones_are_refused() -> None:
    assert decode_token(encode_token(2000)) == 2000
    assert encode_token(0) is None and decode_token(None) == 0
    for forged in ("nope", "eyJvZmZzZXQiOiAtMX0=", "e30="):  # junk, {"offset": -1}, {}
        with pytest.raises(InvalidInputError):
            decode_token(forged)


def test_small_filters_split_into_clauses() -> None:
    found = clauses("name = 'a' AND tag.`mlflow.prompt.is_prompt` != 'true'", "x")
    assert found == [("name", "=", "a"), ("tag:mlflow.prompt.is_prompt", "!=", "true")]
    with pytest.raises(InvalidInputError):
        clauses("name = 'a' OR name = 'b'", "only AND")
