"""The PolicyStore contract (shipyard.metadata.policies), over every metadata backend: SQLite,
Postgres and a shipyard server (REST)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shipyard.core.errors import AlreadyExistsError, InvalidInputError, NotFoundError
from shipyard.metadata import MetadataStore
from shipyard.metadata.policies import PolicyStore, open_policy_store
from shipyard.security.data_policy import DataPolicy

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _policy(name: str, target: str = "tx", **kw: object) -> DataPolicy:
    base: dict[str, object] = {
        "name": name,
        "target_kind": "dataset",
        "target": target,
        "subjects": ("user:bob", "role:viewer"),
        "columns": {"email": "mask:hash", "ssn": "hide"},
        "row_filter": "region = 'EU'",
        "description": "EU analysts",
        "created_by": "admin",
        "created_at": T0,
    }
    base.update(kw)
    return DataPolicy(**base)  # type: ignore[arg-type]


@pytest.fixture
def policies(metadata_store: MetadataStore) -> PolicyStore:
    return open_policy_store(metadata_store)


def test_a_policy_round_trips_and_names_are_unique(policies: PolicyStore) -> None:
    created = policies.create_policy(_policy("eu-only"))
    got = policies.get_policy("eu-only")
    assert (got.target_kind, got.target, got.subjects) == ("dataset", "tx", ("user:bob", "role:viewer"))
    assert got.columns == {"email": "mask:hash", "ssn": "hide"}
    assert (got.row_filter, got.description) == ("region = 'EU'", "EU analysts")
    assert got.created_by in ("admin", created.created_by) and got.created_at is not None
    with pytest.raises(AlreadyExistsError, match="eu-only"):
        policies.create_policy(_policy("eu-only", columns={"x": "hide"}))
    policies.delete_policy("eu-only")
    with pytest.raises(NotFoundError, match="'eu-only'"):
        policies.get_policy("eu-only")
    with pytest.raises(NotFoundError, match="'eu-only'"):
        policies.delete_policy("eu-only")


def test_lists_are_by_name_paged_and_filtered_by_target(policies: PolicyStore) -> None:
    policies.create_policy(_policy("zeta"))
    policies.create_policy(_policy("alpha", target="other"))
    policies.create_policy(_policy("mid", target_kind="feature_view", target="tx", row_filter=None))
    assert [p.name for p in policies.list_policies()] == ["alpha", "mid", "zeta"]
    assert [p.name for p in policies.list_policies(limit=1, offset=1)] == ["mid"]
    assert [p.name for p in policies.list_policies(target_kind="dataset", target="tx")] == ["zeta"]
    assert [p.name for p in policies.list_policies(target="tx")] == ["mid", "zeta"]
    assert policies.list_policies(limit=0) == []
    with pytest.raises(InvalidInputError):
        policies.list_policies(limit=-1)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"name": "Bad Name"}, "invalid policy name"),
        ({"target_kind": "model"}, "invalid policy target kind"),
        ({"subjects": ()}, "at least one subject"),
        ({"subjects": ("alice",)}, "invalid subject"),
        ({"columns": {"email": "encrypt"}}, "invalid action 'encrypt'"),
        ({"columns": {}, "row_filter": None}, "column rules, a row filter"),
    ],
)
def test_a_malformed_policy_is_refused_with_its_reason(
    policies: PolicyStore, change: dict[str, object], message: str
) -> None:
    fields = dict(change)
    with pytest.raises(InvalidInputError, match=message):
        policies.create_policy(_policy(str(fields.pop("name", "p")), **fields))
    assert policies.list_policies() == []
