"""The runs list renders one page server-side from one ``search_runs`` page, never from all runs,
for every kind of filter. Its speed at 100,000 runs is measured by ``bench/server.py`` (timings
belong in benchmarks, not in tests that a loaded CI machine would make flaky)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ui.bulk import populate
from tests.ui.conftest import make_token
from tests.ui.live import LiveServer
from tests.ui.seed import open_test_stores

RUNS = 3_000
PAGES = (
    "/ui/runs",
    "/ui/runs?offset=50",
    "/ui/runs?order=oldest",
    "/ui/runs?status=failed",
    "/ui/runs?flow=train_flow&namespace=user%3Aalice",
    "/ui/runs?tag=team%3Dvision",
    "/ui/runs?filter=metrics.acc+%3E+0.5+and+params.lr+%3D+0.01",
)


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, str]]:
    from shipyard.metadata.security import open_security_store
    from shipyard.server import create_app

    stores = open_test_stores(Path(tmp_path_factory.mktemp("ui-scale")))
    populate(stores.metadata, RUNS)
    security = open_security_store(stores.metadata)
    token = make_token(security, "alice", "admin")
    with LiveServer(create_app(stores.settings, stores, security=security)) as live:
        yield live, token
    stores.close()


@pytest.mark.parametrize("path", PAGES)
def test_runs_list_renders_one_page_of_many_runs(big: tuple[LiveServer, str], path: str) -> None:
    live, token = big
    reply = live.get(path, token)
    assert reply.status == 200, reply.text[:500]
    assert reply.text.count('name="run"') == 50  # one page of rows, not all matches
