from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from shipyard.artifacts.backends.base import BlobBackend
from shipyard.core.settings import load_settings
from shipyard.data.service import DatasetService
from shipyard.tracking import fluent
from shipyard.tracking.stores import Stores, open_stores


class CountingBackend:
    """Counts the blobs a local backend takes in: every write, streamed or in memory, ends in
    ``adopt_file`` (``write_bytes`` writes a temp file and adopts it) or ``adopt_files`` (a batch of
    large files' blobs)."""

    def __init__(self, inner: BlobBackend) -> None:
        self.inner = inner
        self.writes = 0
        original_adopt = inner.adopt_file

        def adopt_file(key: str, path: Path) -> None:
            self.writes += 1
            original_adopt(key, path)

        original_adopt_files = inner.adopt_files

        def adopt_files(moves: Sequence[tuple[str, Path]], *, sync: bool = True) -> None:
            self.writes += len(moves)
            original_adopt_files(moves, sync=sync)

        inner.adopt_file = adopt_file  # type: ignore[method-assign]
        inner.adopt_files = adopt_files  # type: ignore[method-assign]


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[Stores]:
    settings = load_settings(home=tmp_path / "home", uri=f"sqlite:///{tmp_path / 'home' / 'db.sqlite'}")
    opened = open_stores(settings)
    fluent.set_stores(opened)
    yield opened
    fluent.reset()
    opened.close()


@pytest.fixture
def writes(stores: Stores) -> CountingBackend:
    return CountingBackend(stores.artifacts.blobs)


@pytest.fixture
def service(stores: Stores) -> DatasetService:
    return DatasetService(stores)
