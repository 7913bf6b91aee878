"""The pure evaluation of data policies (shipyard.security.data_policy): who sees which columns
and rows, the refusals, and the masks on Arrow."""

from __future__ import annotations

import hashlib

import pyarrow as pa
import pytest

from shipyard.core.errors import PermissionDeniedError
from shipyard.security.data_policy import (
    DataPolicy,
    Facts,
    apply_columns,
    decide,
    mask_array,
    refuse_hidden,
)

COLUMNS = [
    {"name": "id", "tags": []},
    {"name": "email", "tags": ["pii"]},
    {"name": "ssn", "tags": ["pii"]},
    {"name": "region", "tags": []},
]


def _p(
    name: str, subjects: tuple[str, ...], columns: dict[str, str] | None = None, rows: str | None = None
) -> DataPolicy:
    return DataPolicy(name, "dataset", "tx", subjects, columns or {}, rows)


def test_pii_columns_are_hidden_by_default_and_lifted_by_a_policy_or_the_permission() -> None:
    bob = Facts("bob")
    assert decide(bob, [], COLUMNS).hidden == {"email", "ssn"}
    allowed = decide(bob, [_p("a", ("user:bob",), {"email": "allow"})], COLUMNS)
    assert allowed.hidden == {"ssn"} and allowed.pii_read == ("email",)
    masked = decide(bob, [_p("a", ("user:bob",), {"email": "mask:hash"})], COLUMNS)
    assert masked.hidden == {"ssn"} and masked.masked == {"email": "hash"}
    assert decide(Facts("root", pii=True), [], COLUMNS).hidden == frozenset()
    # a policy bound to someone else changes nothing for bob
    assert decide(bob, [_p("a", ("user:carol",), {"email": "allow"})], COLUMNS).hidden == {"email", "ssn"}


def test_the_most_restrictive_action_wins_and_row_filters_are_anded() -> None:
    facts = Facts("bob", groups=frozenset({"analysts"}), roles=(("viewer", "project:p"),), token_id="t1")
    policies = [
        _p("by-group", ("group:analysts",), {"region": "mask:partial", "id": "allow"}, "region = 'EU'"),
        _p("by-role", ("role:viewer",), {"region": "mask:redact"}, "id > 3"),
        _p("by-token", ("token:t1",), {"id": "hide"}),
    ]
    got = decide(facts, policies, COLUMNS, scope="project:p")
    assert got.masked == {"region": "redact"} and "id" in got.hidden
    assert got.row_filter == "(region = 'EU') and (id > 3)"
    # a role bound in another project does not reach this target
    elsewhere = decide(facts, policies, COLUMNS, scope="project:q")
    assert elsewhere.masked == {"region": "partial"} and elsewhere.row_filter == "(region = 'EU')"


def test_selecting_a_hidden_column_or_filtering_on_a_guarded_one_is_refused() -> None:
    decision = decide(Facts("bob"), [_p("a", ("user:bob",), {"email": "mask:hash"})], COLUMNS)
    refuse_hidden(decision, selected=["id", "email"])  # a masked column may be selected
    with pytest.raises(PermissionDeniedError, match=r"ssn .* hidden"):
        refuse_hidden(decision, selected=["ssn"])
    with pytest.raises(PermissionDeniedError, match="cannot filter on column\\(s\\) ssn"):
        refuse_hidden(decision, filtered=["ssn"])
    with pytest.raises(PermissionDeniedError, match="cannot sort on column\\(s\\) email"):
        refuse_hidden(decision, sorted_by=["email"])


def test_masks_hash_with_the_salt_redact_and_keep_the_last_four() -> None:
    values = pa.array(["alice@example.com", None, "alice@example.com", "bob"])
    hashed = mask_array(values, "hash", b"k1").to_pylist()
    assert hashed[0] == hashed[2] and hashed[1] is None and len(hashed[0]) == 64
    assert hashed[0] != hashlib.sha256(b"alice@example.com").hexdigest()  # keyed: no lookup table
    assert mask_array(values, "hash", b"k2").to_pylist()[0] != hashed[0]
    assert mask_array(values, "redact", b"").to_pylist() == ["***", None, "***", "***"]
    assert mask_array(values, "partial", b"").to_pylist() == ["***.com", None, "***.com", "***"]
    assert mask_array(pa.array([123456789]), "partial", b"").to_pylist() == ["***6789"]
    table = pa.table({"id": [1], "email": ["a@b.cd"], "ssn": ["123"]})
    decision = decide(Facts("bob"), [_p("a", ("user:bob",), {"email": "mask:redact"})], COLUMNS)
    assert apply_columns(table, decision, b"").to_pylist() == [{"id": 1, "email": "***"}]
