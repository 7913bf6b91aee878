"""``@flow(schedule=..., trigger=...)``: validation, due fire times on an injected clock (skip and
catch-up), and the description exporters read. Pure: no store, no sleeping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

import shipyard
from shipyard.core.errors import FlowError
from shipyard.flows import flow, on_dataset, on_model, on_model_version, schedule_spec, step
from shipyard.flows.schedule import due_times, next_fire_times, parse_cron
from shipyard.flows.triggers import (
    AnyOf,
    DatasetTrigger,
    ModelAliasTrigger,
    ModelVersionTrigger,
    trigger_from_dict,
)

T = datetime(2024, 1, 1, 10, 30, tzinfo=UTC)


@step
def one() -> int:
    return 1


def _hour(h: int, minute: int = 0) -> datetime:
    return datetime(2024, 1, 1, h, minute, tzinfo=UTC)


# ---- cron validation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "why"),
    [
        ("61 * * * *", "Bad minute"),
        ("0 25 * * *", "Bad hour"),
        ("0 0 31 2 *", "Bad day-of-month"),
        ("0 * * *", "needs 5 fields"),
        ("0 * * * * *", "needs 5 fields"),
        ("every hour", "needs 5 fields"),
        ("@every_hour", "needs 5 fields"),
    ],
)
def test_a_bad_cron_is_one_line_naming_the_flow_and_the_expression(expression: str, why: str) -> None:
    with pytest.raises(FlowError) as info:

        @flow(schedule=expression)
        def nightly() -> None:
            one()

    message = str(info.value)
    assert "\n" not in message
    assert "'nightly'" in message and repr(expression) in message and why in message


def test_a_schedule_must_be_a_string() -> None:
    with pytest.raises(FlowError, match="cron string"):
        parse_cron("f", 5)


def test_cron_is_normalized_and_macros_expand() -> None:
    assert parse_cron("f", "  0   *  * * * ") == "0 * * * *"
    assert parse_cron("f", "@hourly") == "0 * * * *"
    assert parse_cron("f", "@Daily") == "0 0 * * *"
    assert parse_cron("f", "*/15 9-17 * * MON-FRI") == "*/15 9-17 * * MON-FRI"


def test_next_fire_times_are_strictly_after() -> None:
    assert next_fire_times("0 * * * *", _hour(10), 2) == [_hour(11), _hour(12)]
    assert next_fire_times("0 * * * *", T) == [_hour(11)]


# ---- triggers ----------------------------------------------------------------------------------


def test_triggers_are_small_frozen_values_combined_with_or() -> None:
    combined = on_dataset("transactions") | on_model("churn", alias="champion") | on_model_version("churn")
    assert isinstance(combined, AnyOf)
    assert combined.triggers == (
        DatasetTrigger("transactions"),
        ModelAliasTrigger("churn", "champion"),
        ModelVersionTrigger("churn"),
    )
    assert on_dataset("transactions") == on_dataset("transactions")
    with pytest.raises(AttributeError):
        on_dataset("x").dataset = "y"  # type: ignore[misc]
    assert shipyard.on_dataset is on_dataset and shipyard.on_model_version is on_model_version


@pytest.mark.parametrize(
    ("make", "needle"),
    [
        (lambda: on_dataset("a/b"), "on_dataset: dataset name 'a/b' must not contain '/'"),
        (lambda: on_dataset(""), "on_dataset: dataset name must not be empty"),
        (lambda: on_model_version("bad\x00name"), "on_model_version: model name"),
        (lambda: on_model("churn", alias="latest"), "on_model('churn'): alias 'latest' is not valid"),
        (lambda: on_model("churn", alias="9lives"), "alias '9lives' is not valid"),
    ],
)
def test_a_bad_trigger_name_is_one_line(make: object, needle: str) -> None:
    with pytest.raises(FlowError) as info:
        make()  # type: ignore[operator]
    assert needle in str(info.value) and "\n" not in str(info.value)


def test_flow_triggers_are_checked_where_declared() -> None:
    with pytest.raises(FlowError, match=r"flow 'f': trigger 'transactions' is not a trigger"):

        @flow(trigger="transactions")
        def f() -> None:
            one()

    with pytest.raises(FlowError, match="given twice"):

        @flow(trigger=[on_dataset("d"), on_dataset("d")])
        def g() -> None:
            one()

    with pytest.raises(FlowError, match=r"give n a default"):

        @flow(schedule="@daily")
        def needs(n: int) -> None:
            one()


def test_triggers_written_as_data_for_a_spec_file() -> None:
    assert trigger_from_dict("f", {"dataset": "tx"}) == on_dataset("tx")
    assert trigger_from_dict("f", {"model_version": "churn"}) == on_model_version("churn")
    assert trigger_from_dict("f", {"model": "churn", "alias": "champion"}) == on_model(
        "churn", alias="champion"
    )
    assert trigger_from_dict("f", {"model": "churn"}) == ModelAliasTrigger("churn", None)
    with pytest.raises(FlowError, match=r"flow 'f': trigger \{'dataset': 'tx', 'alias': 'x'\} is not one of"):
        trigger_from_dict("f", {"dataset": "tx", "alias": "x"})
    with pytest.raises(FlowError, match="on_dataset: dataset name 'a/b'"):
        trigger_from_dict("f", {"dataset": "a/b"})


def test_schedule_spec_is_what_exporters_read() -> None:
    @flow(schedule="@hourly", trigger=[on_dataset("tx"), on_model("churn", alias="champion")])
    def retrain(days: int = 30) -> None:
        one()

    @flow
    def manual() -> None:
        one()

    assert schedule_spec(retrain) == {
        "flow": "retrain",
        "cron": "0 * * * *",
        "timezone": "UTC",
        "triggers": [
            {"kind": "dataset", "dataset": "tx"},
            {"kind": "model_alias", "model": "churn", "alias": "champion"},
        ],
    }
    assert schedule_spec(manual) == {"flow": "manual", "cron": None, "timezone": "UTC", "triggers": []}
    assert retrain.build().params == {"days": 30}  # a scheduled flow still builds as before


# ---- due fire times ----------------------------------------------------------------------------


def test_nothing_is_due_before_the_next_tick() -> None:
    assert due_times("0 * * * *", T, _hour(10, 59)).times == ()
    assert due_times("0 * * * *", _hour(11), _hour(11, 59)).times == ()  # 11:00 already fired


def test_a_tick_at_exactly_now_is_due() -> None:
    assert due_times("0 * * * *", T, _hour(11)).times == (_hour(11),)


def test_skip_runs_only_the_latest_missed_tick_once() -> None:
    due = due_times("0 * * * *", _hour(11), _hour(15, 10))
    assert due.times == (_hour(15),)
    assert due.skipped == 3 and not due.more  # 12:00, 13:00, 14:00


def test_catchup_runs_each_missed_tick_oldest_first() -> None:
    due = due_times("0 * * * *", _hour(11), _hour(15, 10), catchup=True)
    assert due.times == (_hour(12), _hour(13), _hour(14), _hour(15))
    assert due.skipped == 0 and not due.more


def test_catchup_is_bounded_to_the_latest_ticks() -> None:
    last = _hour(0)
    now = last + timedelta(days=30)  # 720 hourly ticks missed
    due = due_times("0 * * * *", last, now, catchup=True, max_catchup=5)
    assert due.more
    assert due.times == tuple(now - timedelta(hours=h) for h in (4, 3, 2, 1, 0))
    skip = due_times("* * * * *", last, now, max_catchup=5)  # a month of minutes costs 6 steps
    assert skip.times == (now,) and skip.more and skip.skipped == 5
    exact = due_times("0 * * * *", _hour(11), _hour(15), catchup=True, max_catchup=4)
    assert len(exact.times) == 4 and not exact.more
