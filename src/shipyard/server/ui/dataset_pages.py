"""Dataset pages: the datasets, and one dataset (its versions; the chosen version's schema with
column tags, statistics, a bounded preview of its first Parquet part or its first files, and its
lineage: the runs that read or wrote it and the model versions registered from those runs).

The preview reads one blob of at most ``MAX_PREVIEW_BYTES`` (verified) through the bounded
Parquet reader of the artifact pages (``parquet_preview.read_preview``: footer and page headers
walked and sized before any page is decoded)."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from shipyard.core.errors import InvalidInputError, ShipyardError
from shipyard.core.names import validate_name
from shipyard.metadata.datasets import DatasetFile, DatasetVersion
from shipyard.server.deps import principal_of
from shipyard.server.ui.common import ROOT, guarded, page_context, server_context
from shipyard.server.ui.preview import MAX_PREVIEW_BYTES, PREVIEW_ROWS, Preview
from shipyard.server.ui.templating import Pages

if TYPE_CHECKING:
    from shipyard.server.app import ServerContext

FILES_SHOWN = 100


def _preview(ctx: ServerContext, version: DatasetVersion, files: list[DatasetFile]) -> Preview:
    import pyarrow as pa

    from shipyard.server.ui.parquet_preview import read_preview
    from shipyard.server.ui.preview import _cell

    if version.kind != "table" or not files:
        return Preview("none", note="a folder of files: see the file list")
    first = files[0]
    if first.size > MAX_PREVIEW_BYTES:
        return Preview("none", note="the first part is too large to preview; use `shipyard data get`")
    from shipyard.data.load import file_bytes

    data = file_bytes(ctx.stores.artifacts.cas, first, f"{version.uri}/{first.path}")
    try:
        found = read_preview(data, PREVIEW_ROWS, _cell)
    except (pa.ArrowException, OSError, ValueError) as exc:
        return Preview("none", note=f"cannot read {first.path} as Parquet: {exc}")
    return Preview(
        "table",
        columns=found.columns,
        rows=found.rows,
        total_rows=version.num_rows,
        truncated=(version.num_rows or 0) > len(found.rows) or bool(found.notes),
        note="; ".join(found.notes),
    )


def _version_number(raw: str | None) -> int | None:
    if raw is None or raw == "":
        return None
    if not raw.isdigit():
        raise InvalidInputError(f"version {raw[:40]!r} is not a number")
    return int(raw)


def add_dataset_routes(router: APIRouter, pages: Pages) -> None:
    @router.get(f"{ROOT}/datasets")
    def datasets_list(request: Request) -> Response:
        def build() -> Response:
            hidden = principal_of(request).access.hidden_projects()
            found = server_context(request).datasets.list_datasets(hidden_projects=hidden)
            return pages.render("datasets.html", **page_context(request, "datasets", datasets=found))

        return guarded(pages, request, "datasets", build)

    @router.get(f"{ROOT}/datasets/{{name}}")
    def dataset_page(request: Request, name: str) -> Response:
        def build() -> Response:
            ctx = server_context(request)
            store = ctx.datasets
            dataset = store.get_dataset(validate_name("dataset", name))
            versions = store.list_versions(dataset.name)
            wanted = _version_number(request.query_params.get("version")) or dataset.latest_version
            extra: dict[str, Any] = {"dataset": dataset, "versions": versions, "v": None}
            if wanted is not None:
                v = store.get_version(dataset.name, wanted)
                files = store.list_files(dataset.name, v.version, limit=FILES_SHOWN)
                uses = store.version_uses(dataset.name, v.version)
                models = []
                for run_id in dict.fromkeys(u.run_id for u in uses if u.direction == "input"):
                    with contextlib.suppress(ShipyardError):  # no registry for this backend
                        models.extend(ctx.registry.versions_from_run(run_id))
                extra.update(v=v, files=files, uses=uses, models=models, preview=_preview(ctx, v, files))
            return pages.render("dataset.html", **page_context(request, "datasets", **extra))

        return guarded(pages, request, "datasets", build)
