"""The filter language's parser (pure: no database)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shipyard.core.errors import InvalidInputError
from shipyard.metadata.filters import (
    ATTRIBUTES,
    And,
    Comparison,
    Field,
    Node,
    Or,
    OrderBy,
    parse_filter,
    parse_order_by,
    tokenize,
)


def test_parses_a_conjunction() -> None:
    node = parse_filter("metrics.acc > 0.9 and params.model = 'rf' and tags.stage = 'x'")
    assert node == And(
        (
            Comparison(Field("metric", "acc"), ">", 0.9),
            Comparison(Field("param", "model"), "=", "rf"),
            Comparison(Field("tag", "stage"), "=", "x"),
        )
    )


def test_and_binds_tighter_than_or_and_parentheses_group() -> None:
    a = Comparison(Field("attribute", "name"), "=", "a")
    b = Comparison(Field("attribute", "name"), "=", "b")
    c = Comparison(Field("attribute", "name"), "=", "c")
    assert parse_filter("name = 'a' or name = 'b' and name = 'c'") == Or((a, And((b, c))))
    assert parse_filter("(name = 'a' or name = 'b') and name = 'c'") == And((Or((a, b)), c))


@pytest.mark.parametrize(
    ("source", "key"),
    [
        ('metrics."train/loss" < 1', "train/loss"),
        ("metrics.`train/loss` < 1", "train/loss"),
        ("metrics.val.acc < 1", "val.acc"),
        ("metrics.f1-score < 1", "f1-score"),
        ("metrics.top.5 < 1", "top.5"),
        ('metrics."with ""quote""" < 1', 'with "quote"'),
    ],
)
def test_keys(source: str, key: str) -> None:
    node = parse_filter(source)
    assert isinstance(node, Comparison) and node.field == Field("metric", key)


@pytest.mark.parametrize(
    ("source", "op", "value"),
    [
        ("params.x = 'it''s'", "=", "it's"),
        ('params.x = "dq"', "=", "dq"),
        ("params.x = -1", "=", -1),
        ("params.x = 1e-3", "=", 0.001),
        ("params.x = .5", "=", 0.5),
        ("params.x = TRUE", "=", True),
        ("params.x <> 1", "!=", 1),
        ("params.x == 1", "=", 1),
        ("params.x in (1, 'a', false)", "IN", (1, "a", False)),
        ("params.x NOT IN ('a')", "NOT IN", ("a",)),
        ("tags.x not like 'a%'", "NOT LIKE", "a%"),
        ("tags.x ILIKE 'A%'", "ILIKE", "A%"),
        ("attributes.name = 'n'", "=", "n"),
    ],
)
def test_values_and_operators(source: str, op: str, value: object) -> None:
    node = parse_filter(source)
    assert isinstance(node, Comparison) and node.op == op and node.value == value


def test_empty_filter_is_none() -> None:
    assert parse_filter("") is None
    assert parse_filter("   ") is None


@pytest.mark.parametrize(
    ("source", "fragment"),
    [
        ("metrics.acc >", "expected a value (a 'quoted string', a number, true or false), found the end"),
        ("colour = 'red'", "valid fields: metrics.<key>, params.<key>, tags.<key>, name"),
        ("metrics.acc ~ 1", "operators are = != < <= > >= LIKE ILIKE IN NOT IN"),
        ("name = 'abc", "at position 8: unterminated quote ' (close it with ')"),
        ("params.x = ''; drop table runs; --", "unexpected character ';' (operators are"),
        ("metrics.", "expected a key name"),
        ("metrics.acc", "expected an operator after metrics.acc"),
        ("metrics.acc not = 1", "expected IN, LIKE or ILIKE after NOT"),
        ("name in 'a'", "expected '(' after IN"),
        ("name in ('a' 'b')", "expected ',' or ')'"),
        ("name like 1", "LIKE needs a quoted string pattern"),
        ("`name` = 'a'", "must follow a prefix"),
        ("name = `a`", "expected a value"),
        ("x" * 10_001, "longer than"),
    ],
)
def test_errors_say_what_and_where(source: str, fragment: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        parse_filter(source)
    assert fragment in str(info.value)


def test_error_reports_position() -> None:
    with pytest.raises(InvalidInputError, match="at position 15: unexpected character '~'"):
        parse_filter("metrics.acc > ~")


def test_order_by() -> None:
    assert parse_order_by(["metrics.acc DESC", "params.x", "start_time asc", "name"]) == [
        OrderBy(Field("metric", "acc"), False),
        OrderBy(Field("param", "x"), True),
        OrderBy(Field("attribute", "start_time"), True),
        OrderBy(Field("attribute", "name"), True),
    ]
    with pytest.raises(InvalidInputError, match="valid fields"):
        parse_order_by(["bogus"])
    with pytest.raises(InvalidInputError, match="ASC"):
        parse_order_by(["name up"])
    with pytest.raises(InvalidInputError, match="list of strings"):
        parse_order_by("name")


# ---- property-based ---------------------------------------------------------------------------------
_key_part = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True).filter(
    lambda s: s.lower() not in ("and", "or", "not", "in", "like", "ilike", "true", "false", "asc", "desc")
)
_quoted_key = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=12)
_string = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
_number = st.one_of(st.integers(-(10**9), 10**9), st.floats(allow_nan=False, allow_infinity=False, width=32))


def _render_value(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return "'" + v.replace("'", "''") + "'"
    return repr(v)


@st.composite
def comparisons(draw: st.DrawFn) -> tuple[str, Comparison]:
    kind = draw(st.sampled_from(["metric", "param", "tag", "attribute"]))
    if kind == "attribute":
        key = draw(st.sampled_from([a for a in ATTRIBUTES if a not in ("start_time", "end_time", "status")]))
        field_src = key
    elif draw(st.booleans()):
        key = draw(_key_part)
        field_src = f"{kind}s.{key}"
    else:
        key = draw(_quoted_key)
        field_src = f'{kind}s."' + key.replace('"', '""') + '"'
    numeric = kind == "metric"
    textual = kind in ("tag", "attribute")
    value_strategy = _number if numeric else (_string if textual else st.one_of(_number, _string))
    op = draw(st.sampled_from(["=", "!=", "<", "<=", ">", ">="]))
    value = draw(value_strategy)
    return f"{field_src} {op} {_render_value(value)}", Comparison(Field(kind, key), op, value)  # type: ignore[arg-type]


@st.composite
def expressions(draw: st.DrawFn, depth: int = 2) -> tuple[str, Node]:
    if depth == 0 or draw(st.booleans()):
        return draw(comparisons())
    parts = draw(st.lists(expressions(depth - 1), min_size=2, max_size=3))
    joiner = draw(st.sampled_from(["and", "or"]))
    source = f" {joiner} ".join(f"({s})" for s, _ in parts)
    items = tuple(n for _, n in parts)
    return source, And(items) if joiner == "and" else Or(items)


@settings(max_examples=200, deadline=None)
@given(expressions())
def test_rendered_asts_parse_back(case: tuple[str, Node]) -> None:
    source, expected = case
    assert parse_filter(source) == expected


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_arbitrary_text_parses_or_fails_with_invalid_input(source: str) -> None:
    try:
        parse_filter(source)
    except InvalidInputError as exc:
        assert "invalid filter" in str(exc) or "filter" in str(exc)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="metrics.acc params tags name=<>!'\"`(),0123456789 andorinlike", max_size=40))
def test_filter_like_text_never_crashes(source: str) -> None:
    try:
        tokenize(source)
        parse_filter(source)
    except InvalidInputError:
        pass


def test_nesting_is_bounded_and_refused_with_a_short_message() -> None:
    from shipyard.metadata.filters import MAX_FILTER_DEPTH

    assert parse_filter("(" * MAX_FILTER_DEPTH + "metrics.a > 1" + ")" * MAX_FILTER_DEPTH) is not None
    for depth in (MAX_FILTER_DEPTH + 1, 500, 4000):
        with pytest.raises(InvalidInputError, match="nested more than 32 deep") as info:
            parse_filter("(" * depth + "metrics.a > 1" + ")" * depth)
        assert len(info.value.message) < 400 and "\n" not in info.value.message


def test_long_filters_and_order_by_make_short_errors() -> None:
    from shipyard.metadata.filters import MAX_FILTER_LENGTH

    long_name = "x" * (MAX_FILTER_LENGTH - 10)
    for source in (long_name + " = 1", "metrics.a > 1 and " + "(" * 3000, "name = 'a' " + "or" * 4000):
        with pytest.raises(InvalidInputError) as info:
            parse_filter(source)
        assert len(info.value.message) < 700, len(info.value.message)
    with pytest.raises(InvalidInputError, match="at most 16"):
        parse_order_by(["name"] * 17)
    with pytest.raises(InvalidInputError, match="longer than"):
        parse_order_by(["metrics." + "a" * 2000])
