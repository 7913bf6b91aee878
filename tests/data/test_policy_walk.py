"""Every read path through a live team server, walked by a user who may not see the pii column
(``email``: hidden by default from whoever lacks ``data:read:pii``) and one restricted by a policy
to the EU rows. The test fails if any path returns a hidden value (``secret-…``) to the first or a
non-EU row (``us-only-…``) to the second — or answers at all where it must refuse.

Paths: ``load_dataset`` (pandas, arrow, a stream, chosen columns, a filter, a folder), the data
route (Arrow, Parquet), the raw blob route for each of the version's blobs, version reads with
statistics (one version, the list, an alias), ``data diff``, the UI's dataset page (preview and
statistics), a feature view whose source is the dataset (historical and online), a feature view
over the reader's own Parquet file (historical and online: the server decides, the client shapes)
and a prediction log holding that view's values, read with the server's stores.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from shipyard.core.errors import PermissionDeniedError, ShipyardError
from shipyard.core.settings import load_settings
from shipyard.data.service import DatasetService
from shipyard.features import Entity, FeatureStore, FeatureView
from shipyard.features.views import DatasetSource, FileSource
from shipyard.metadata.datasets import open_dataset_store
from shipyard.serving.logpolicy import encode_sources
from shipyard.serving.predlog import read_prediction_log
from shipyard.tracking.stores import Stores, open_stores
from tests.server.access_helpers import make_user
from tests.server.live import LiveServer, live_server

T0 = datetime(2024, 1, 1, tzinfo=UTC)
HIDDEN = "secret-"  # every email value starts so
US_ONLY = "us-only-"  # every non-EU row's note starts so


def _frame(extra: int = 0) -> pd.DataFrame:
    ids = [1, 2, 3, 101, 102, 103]
    return pd.DataFrame(
        {
            "id": ids,
            "ts": pd.Series([T0] * 6, dtype="datetime64[us, UTC]"),
            "email": [f"{HIDDEN}{i}@x.org" for i in ids],
            "region": ["EU"] * 3 + ["US"] * 3,
            "note": [f"eu-{i}" for i in ids[:3]] + [f"{US_ONLY}{i}" for i in ids[3:]],
            "amount": [float(i + extra) for i in ids],
        }
    )


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    with live_server(tmp_path) as s:
        yield s


def _seed(server: LiveServer, tmp_path: Path) -> dict[str, str]:
    """Two versions of ``tx`` (email tagged pii), alias ``prod``; users and the EU policy."""
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {server.token}"}) as admin:
        tokens = {"nopii": make_user(admin, "nopii", "viewer"), "eu": make_user(admin, "eu", "viewer")}
        admin_stores = open_stores(load_settings(uri=server.url, token=server.token, home=tmp_path / "admin"))
        try:
            service = DatasetService(admin_stores)
            service.snapshot("tx", _frame(), column_tags={"email": ["pii"]})
            service.snapshot("tx", _frame(extra=1000), column_tags={"email": ["pii"]})
            service.set_alias("tx", "prod", 2)
        finally:
            admin_stores.close()
        policy = {
            "name": "eu-rows",
            "target_kind": "dataset",
            "target": "tx",
            "subjects": ["user:eu"],
            "row_filter": "region = 'EU'",
        }
        admin.post("/api/v1/policies", json=policy).raise_for_status()
        for name, rule in (
            ("file-eu", {"subjects": ["user:eu"], "row_filter": "region = 'EU'"}),
            ("file-mask", {"subjects": ["user:nopii"], "columns": {"email": "mask:redact"}}),
        ):
            body = {"name": name, "target_kind": "feature_view", "target": "custfile", **rule}
            admin.post("/api/v1/policies", json=body).raise_for_status()
    return tokens


def _text(value: object) -> str:
    if isinstance(value, pd.DataFrame):
        return value.to_csv()
    if isinstance(value, pa.Table | pa.RecordBatch):
        return str(value.to_pylist())
    return str(value)


def _walk(server: LiveServer, stores: Stores, token: str) -> tuple[list[str], list[str]]:
    """(what each read path returned, as text; the paths that refused) for one user."""
    seen: list[str] = []
    refused: list[str] = []

    def attempt(path: str, read: Callable[[], object]) -> None:
        try:
            seen.append(f"{path}: {_text(read())}")
        except (PermissionDeniedError, ShipyardError) as exc:
            refused.append(f"{path}: {exc}")

    service = DatasetService(stores)
    v2 = service.resolve("datasets:/tx@prod")
    attempt("load pandas", lambda: service.load(v2))
    attempt("load arrow", lambda: service.load(v2, output="arrow"))
    attempt("load stream", lambda: [b.to_pylist() for b in service.iter_batches(v2, batch_size=2)])
    attempt("load columns", lambda: service.load(v2, columns=["id", "note"]))
    attempt("load where", lambda: service.load(v2, where="amount > 0"))
    attempt("load folder", lambda: service.load(v2, output="path", dest=Path(stores.settings.home) / "f"))
    attempt("version", lambda: v2)
    attempt("versions", lambda: service.store.list_versions("tx"))
    attempt("diff", lambda: service.diff(service.resolve("tx/1"), v2))
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=server.url, headers=headers) as http:
        for fmt in ("arrow", "parquet"):
            answer = http.get("/api/v1/datasets/tx/versions/2/data", params={"format": fmt})
            assert answer.status_code == 200, answer.text
            body = answer.content
            table = pa.ipc.open_stream(body).read_all() if fmt == "arrow" else pq.read_table(io.BytesIO(body))
            seen.append(f"data route {fmt}: {_text(table)}")
        for file in open_dataset_store(server.stores.metadata).list_files("tx", 2):
            for digest in {file.digest, file.pack} - {None}:
                blob = http.get(f"/api/v1/blobs/sha256/{digest}")
                (refused if blob.status_code == 403 else seen).append(f"blob {digest}: {blob.text[:300]}")
        page = http.get("/ui/datasets/tx", params={"version": 2}, headers={"Accept": "text/html"})
        assert page.status_code == 200 and "tx" in page.text
        seen.append(f"ui page: {page.text}")
        alias = http.get("/api/v1/datasets/tx/aliases/prod")
        seen.append(f"alias: {alias.text}")
    view = FeatureView(
        name="cust",
        entity=Entity("customer", ["id"]),
        source=DatasetSource("datasets:/tx/2"),
        timestamp="ts",
        features={"note": "string", "amount": "float64"},
    )
    online = f"sqlite:///{stores.settings.home / 'online.db'}"
    with FeatureStore([view], root=stores.settings.home, online=online, stores=stores) as features:
        entity = pd.DataFrame(
            {"id": [1, 101], "event_timestamp": pd.Series([T0] * 2, dtype="datetime64[us, UTC]")}
        )
        attempt("historical features", lambda: features.get_historical_features(entity, ["cust:note"]))
        features.materialize(end=datetime(2025, 1, 1, tzinfo=UTC))
        attempt(
            "online features", lambda: features.get_online_features([{"id": 1}, {"id": 101}], ["cust:note"])
        )
    _walk_own_files(stores, attempt)
    return seen, refused


FILE_FEATURES = ["custfile:note", "custfile:region", "custfile:email"]


def _walk_own_files(stores: Stores, attempt: Callable[[str, Callable[[], object]], None]) -> None:
    """A feature view over the reader's own file, and a prediction log with its values: the
    feature-view policies (decided by the server) apply though the rows never pass through it."""
    home = Path(stores.settings.home)
    _frame().to_parquet(home / "cust.parquet")
    view = FeatureView(
        name="custfile",
        entity=Entity("customer", ["id"]),
        source=FileSource(str(home / "cust.parquet")),
        timestamp="ts",
        features={"note": "string", "region": "string", "email": "string"},
    )
    online = f"sqlite:///{home / 'online-files.db'}"
    with FeatureStore([view], root=home, online=online, stores=stores) as features:
        entity = pd.DataFrame(
            {"id": [1, 101], "event_timestamp": pd.Series([T0] * 2, dtype="datetime64[us, UTC]")}
        )
        attempt("file view historical", lambda: features.get_historical_features(entity, FILE_FEATURES))
        features.materialize(end=datetime(2025, 1, 1, tzinfo=UTC))
        rows = [{"id": 1}, {"id": 101}]
        attempt("file view online", lambda: features.get_online_features(rows, FILE_FEATURES))
    log = home / "predictions" / "dep" / "2024-01-01"
    log.mkdir(parents=True)
    frame = _frame()
    segment = pa.table(
        {
            "request_id": [f"r{i}" for i in range(6)],
            "ts": pa.array([T0] * 6, pa.timestamp("us", tz="UTC")),
            "row": pa.array([0] * 6, pa.int32()),
            **{c: frame[c].tolist() for c in ("note", "region", "email")},
            "prediction": [0.5] * 6,
        }
    )
    sources = {c: ("custfile", c) for c in ("note", "region", "email")}
    pq.write_table(segment.replace_schema_metadata(encode_sources(sources)), log / "000000-1-000001.parquet")
    attempt("prediction log", lambda: read_prediction_log(str(home / "predictions"), "dep", stores=stores))


@pytest.mark.slow
def test_no_read_path_returns_a_hidden_column_or_row(server: LiveServer, tmp_path: Path) -> None:
    tokens = _seed(server, tmp_path)
    for user, marker in (("nopii", HIDDEN), ("eu", US_ONLY)):
        stores = open_stores(load_settings(uri=server.url, token=tokens[user], home=tmp_path / user))
        try:
            seen, refused = _walk(server, stores, tokens[user])
        finally:
            stores.close()
        leaks = [s[:200] for s in seen if marker in s]
        assert not leaks, f"{user} saw what a policy hides from it: {leaks}"
        # the paths that must refuse did, naming why; and the others answered (an empty walk proves nothing)
        assert any(r.startswith("load folder") and "data policy" in r for r in refused), refused
        assert any(r.startswith("blob ") and "/data" in r for r in refused), refused
        assert len(seen) >= 17, seen
        assert any("eu-1" in s for s in seen if s.startswith("load pandas")), seen[0][:300]
    # what each may see does come back: EU notes to eu, every note to nopii
    stores = open_stores(load_settings(uri=server.url, token=tokens["eu"], home=tmp_path / "eu2"))
    try:
        got = DatasetService(stores).load(DatasetService(stores).resolve("tx/2"))
        assert sorted(got["note"]) == ["eu-1", "eu-2", "eu-3"] and "email" not in got.columns
        with pytest.raises(PermissionDeniedError, match="email"):
            DatasetService(stores).load(DatasetService(stores).resolve("tx/2"), where="email = 'x'")
    finally:
        stores.close()
    stores = open_stores(load_settings(uri=server.url, token=tokens["nopii"], home=tmp_path / "n2"))
    try:
        got = DatasetService(stores).load(DatasetService(stores).resolve("tx/2"))
        assert len(got) == 6 and "email" not in got.columns
        with pytest.raises(PermissionDeniedError, match="email"):
            DatasetService(stores).load(DatasetService(stores).resolve("tx/2"), columns=["id", "email"])
    finally:
        stores.close()


def test_every_read_of_a_pii_column_is_an_audit_event(server: LiveServer, tmp_path: Path) -> None:
    tokens = _seed(server, tmp_path)
    admin = open_stores(load_settings(uri=server.url, token=server.token, home=tmp_path / "reader"))
    nopii = open_stores(load_settings(uri=server.url, token=tokens["nopii"], home=tmp_path / "n"))
    try:
        service = DatasetService(admin)
        assert len(service.load(service.resolve("tx/2"))) == 6  # holds data:read:pii: the raw blobs
        hidden = DatasetService(nopii)
        hidden.load(hidden.resolve("tx/2"))  # sees no pii column: no pii event
    finally:
        admin.close()
        nopii.close()
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {server.token}"}) as http:
        http.get("/api/v1/datasets/tx/versions/1/data").raise_for_status()
        events = http.get("/api/v1/audit", params={"action": "READ pii"}).json()["events"]
    assert {e["user"] for e in events} == {"admin"}, events
    vias = sorted(json.loads(e["detail"])["via"] for e in events)
    assert vias == ["blob", "data route"]
    for event in events:
        detail = json.loads(event["detail"])
        assert detail["dataset"] == "tx" and detail["pii_columns"] == ["email"]
        assert HIDDEN not in json.dumps(event)  # names the column, never a value


def test_group_role_and_token_subjects_bind_on_the_server(server: LiveServer, tmp_path: Path) -> None:
    tokens = _seed(server, tmp_path)
    admin_headers = {"Authorization": f"Bearer {server.token}"}
    with httpx.Client(base_url=server.url, headers=admin_headers) as admin:
        admin.post("/api/v1/groups", json={"name": "analysts"}).raise_for_status()
        admin.put("/api/v1/groups/analysts/members/nopii").raise_for_status()
        with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {tokens['nopii']}"}) as me:
            token_id = me.get("/api/v1/tokens").json()["tokens"][0]["id"]
            assert me.get("/api/v1/policies").status_code == 403  # policy:manage: admins only
        for name, subject, columns in (
            ("by-group", "group:analysts", {"note": "mask:redact"}),
            ("by-role", "role:viewer", {"amount": "hide"}),
            ("by-token", f"token:{token_id}", {"region": "mask:partial"}),
        ):
            body = {
                "name": name,
                "target_kind": "dataset",
                "target": "tx",
                "subjects": [subject],
                "columns": columns,
            }
            admin.post("/api/v1/policies", json=body).raise_for_status()
        listed = admin.get("/api/v1/policies", params={"target_kind": "dataset", "target": "tx"}).json()
        assert [p["name"] for p in listed["policies"]] == ["by-group", "by-role", "by-token", "eu-rows"]
        access = admin.get("/api/v1/datasets/tx/versions/2/access").json()
        assert access == {
            "hidden": [],
            "masked": {},
            "row_filter": False,
            "pii_read": ["email"],
            "data_route": False,
        }
    stores = open_stores(load_settings(uri=server.url, token=tokens["nopii"], home=tmp_path / "n"))
    try:
        service = DatasetService(stores)
        got = service.load(service.resolve("tx/2"))
        assert list(got.columns) == ["id", "ts", "region", "note"]  # email (pii) and amount hidden
        assert set(got["note"]) == {"***"} and set(got["region"]) == {"***"}  # 2 characters: all masked
    finally:
        stores.close()
