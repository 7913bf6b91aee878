"""Property test: the SQL compilation of random filters agrees with a Python reference evaluator
that states the filter semantics documented in :mod:`shipyard.metadata.filters`."""

from __future__ import annotations

import json
import math
import operator
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shipyard.core.entities import Metric, RunCreate
from shipyard.metadata.filters import And, Comparison, Node, Or, parse_filter
from shipyard.metadata.sql import SqlMetadataStore

PARAM_VALUES: list[Any] = [1, 2.5, "1", "2.5", "a", "b", True, None, [1], -3]
METRIC_VALUES = [0.1, 0.5, math.nan, math.inf, -1.0]
TAG_VALUES = ["a", "b", "a'b"]
RUNS: list[dict[str, Any]] = [
    {
        "name": f"run-{i}",
        "p": PARAM_VALUES[i % len(PARAM_VALUES)] if i % 7 else "missing",
        "acc": METRIC_VALUES[i % len(METRIC_VALUES)] if i % 6 else "missing",
        "t": TAG_VALUES[i % len(TAG_VALUES)] if i % 4 else "missing",
    }
    for i in range(24)
]
OPS: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SqlMetadataStore]:
    s = SqlMetadataStore(f"sqlite:///{tmp_path_factory.mktemp('sem') / 's.db'}")
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    for i, spec in enumerate(RUNS):
        s.create_run(
            RunCreate(
                f"id{i:02d}", spec["name"], "user:a", "a", t0 + timedelta(seconds=i),
                params={} if spec["p"] == "missing" else {"p": spec["p"]},
                tags={} if spec["t"] == "missing" else {"t": spec["t"]},
            )
        )  # fmt: skip
        if spec["acc"] != "missing":
            s.log_metrics(f"id{i:02d}", [Metric("acc", spec["acc"])])
    yield s
    s.close()


def _param_text(v: Any) -> str:
    return v if isinstance(v, str) else json.dumps(v)


def _param_num(v: Any) -> float | None:
    if isinstance(v, bool) or v is None or isinstance(v, list):
        return None
    try:
        return float(v)
    except ValueError:
        return None


def _positive(c: Comparison, spec: dict[str, Any]) -> bool | None:
    """None: the run lacks the key (never matches); else whether some value satisfies the positive op."""
    op = {"!=": "=", "NOT IN": "IN"}.get(c.op, c.op)
    values = c.value if isinstance(c.value, tuple) else (c.value,)
    kind = c.field.kind
    if kind == "attribute":
        raise AssertionError("attributes are evaluated directly")
    raw = spec["acc" if kind == "metric" else ("p" if kind == "param" else "t")]
    if raw == "missing":
        return None

    def one(v: Any) -> bool:
        if kind == "metric":
            return not math.isnan(raw) and OPS["=" if op == "IN" else op](raw, v)
        if kind == "tag":
            return OPS["=" if op == "IN" else op](raw, v)
        if isinstance(v, bool):
            return _param_text(raw) == ("true" if v else "false")
        if isinstance(v, int | float):
            num = _param_num(raw)
            return num is not None and OPS["=" if op == "IN" else op](num, float(v))
        return OPS["=" if op == "IN" else op](_param_text(raw), v)

    return any(one(v) for v in values)


def evaluate(node: Node, spec: dict[str, Any]) -> bool:
    if isinstance(node, And):
        return all(evaluate(n, spec) for n in node.items)
    if isinstance(node, Or):
        return any(evaluate(n, spec) for n in node.items)
    if node.field.kind == "attribute":
        values = node.value if isinstance(node.value, tuple) else (node.value,)
        if node.op == "IN":
            return spec["name"] in values
        if node.op == "NOT IN":
            return spec["name"] not in values
        return OPS[node.op](spec["name"], node.value)
    found = _positive(node, spec)
    if found is None:
        return False
    return not found if node.op in ("!=", "NOT IN") else found


def _literal(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return "'" + v.replace("'", "''") + "'"
    return repr(v)


_numbers = st.sampled_from([-3, -1, 0, 0.1, 0.5, 1, 2.5, 1e308])
_strings = st.sampled_from(["a", "b", "a'b", "1", "2.5", "true", "null", "[1]", "run-3", "z"])


@st.composite
def conditions(draw: st.DrawFn) -> str:
    field = draw(st.sampled_from(["metrics.acc", "params.p", "tags.t", "name"]))
    values = {"metrics.acc": _numbers, "params.p": st.one_of(_numbers, _strings, st.booleans()),
              "tags.t": _strings, "name": _strings}[field]  # fmt: skip
    use_in = draw(st.integers(0, 3)) == 0 if field == "params.p" else draw(st.booleans())
    if use_in:
        op = draw(st.sampled_from(["IN", "NOT IN"]))
        items = draw(st.lists(values, min_size=1, max_size=3))
        return f"{field} {op} ({', '.join(_literal(v) for v in items)})"
    value = draw(values)
    ops = ["=", "!="] if isinstance(value, bool) else list(OPS)
    return f"{field} {draw(st.sampled_from(ops))} {_literal(value)}"


@st.composite
def filters(draw: st.DrawFn, depth: int = 2) -> str:
    if depth == 0 or draw(st.booleans()):
        return draw(conditions())
    parts = draw(st.lists(filters(depth - 1), min_size=2, max_size=3))
    return f" {draw(st.sampled_from(['and', 'or']))} ".join(f"({p})" for p in parts)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(filters())
def test_sql_matches_the_reference_semantics(store: SqlMetadataStore, source: str) -> None:
    node = parse_filter(source)
    assert node is not None
    expected = sorted(spec["name"] for spec in RUNS if evaluate(node, spec))
    got = sorted(r.name for r in store.search_runs(filter=source, max_results=1000).runs)
    assert got == expected, source
