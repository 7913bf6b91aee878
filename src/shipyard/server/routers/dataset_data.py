"""A dataset version's rows, as the caller may see them: the data policies applied on the server.

``GET .../versions/{version}/access`` says what the caller may see (hidden and masked columns,
whether a row filter applies, which pii columns it reads, and whether it must read through the
data route); ``GET .../versions/{version}/data`` answers the rows — hidden columns left out,
masked ones masked, the policies' row filters AND-ed to the request's ``where`` — as an Arrow IPC
stream (default) or a Parquet file. A request that selects a hidden column, or filters on a hidden
or masked one, is refused (403) rather than answered: the answer would leak it. A read that returns
pii columns is an audit event (dataset, version, columns; never values).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.responses import Response, StreamingResponse

from shipyard.core.errors import InvalidInputError
from shipyard.core.names import validate_name
from shipyard.data.policies import plan_read
from shipyard.data.service import DatasetService
from shipyard.server.data_access import audit_pii_read, dataset_decision
from shipyard.server.deps import ctx_of, principal_of
from shipyard.server.schemas import Name, Version

if TYPE_CHECKING:
    import pyarrow as pa

router = APIRouter(prefix="/api/v1", tags=["datasets"])
V = "/datasets/{name}/versions/{version}"
ARROW_STREAM = "application/vnd.apache.arrow.stream"
PARQUET = "application/vnd.apache.parquet"
_REFUSED: dict[int | str, dict[str, Any]] = {
    403: {"description": "a hidden column was selected, or a hidden or masked one filtered on"}
}


@router.get(V + "/access")
def version_access(request: Request, name: Name, version: Version) -> Response:
    import orjson

    ctx = ctx_of(request)
    found = ctx.datasets.get_version(validate_name("dataset", name), version)
    decision = dataset_decision(ctx, principal_of(request), found)
    body = {
        "hidden": sorted(decision.hidden),
        "masked": dict(sorted(decision.masked.items())),
        "row_filter": decision.row_filter is not None,
        "pii_read": list(decision.pii_read),
        "data_route": found.kind == "table" and decision.restricted,
    }
    return Response(orjson.dumps(body), media_type="application/json")


@router.get(
    V + "/data",
    responses={200: {"content": {ARROW_STREAM: {}, PARQUET: {}}, "description": "the rows"}, **_REFUSED},
)
def version_data(  # noqa: PLR0917
    request: Request,
    name: Name,
    version: Version,
    column: Annotated[list[str] | None, Query(max_length=1000)] = None,
    where: Annotated[str | None, Query(max_length=10_000)] = None,
    format: Annotated[str, Query(pattern="^(arrow|parquet)$")] = "arrow",
    limit: Annotated[int | None, Query(ge=0)] = None,
) -> Response:
    """The rows (``column`` repeated picks columns; ``where`` filters; ``limit`` caps the rows)."""
    import pyarrow as pa

    ctx = ctx_of(request)
    found = ctx.datasets.get_version(validate_name("dataset", name), version)
    if found.kind != "table":
        raise InvalidInputError(f"{found.uri} is a folder of files, not a table; it has no rows to answer")
    decision = dataset_decision(ctx, principal_of(request), found)
    plan = plan_read(found, decision, column or None, where)
    service = DatasetService(ctx.stores, ctx.datasets)
    audit_pii_read(ctx, request, found, decision, "data route")
    if format == "parquet":
        import pyarrow.parquet as pq

        table = service.read_plain(found, plan.read_columns, plan.where, plan)
        if limit is not None:
            table = table.slice(0, limit)
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink)
        disposition = f'attachment; filename="{found.dataset_name}-{found.version}.parquet"'
        return Response(
            sink.getvalue().to_pybytes(), media_type=PARQUET, headers={"Content-Disposition": disposition}
        )
    batches = service.iter_plain(found, plan)
    first = next(batches, None)
    if first is None:  # no rows at all: the answer still carries the schema
        schema = service.read_plain(found, plan.read_columns, plan.where, plan).schema
    else:
        schema = first.schema
    head = [] if first is None else [first]
    answer = _ipc_stream(schema, itertools.chain(head, batches), limit)
    return StreamingResponse(answer, media_type=ARROW_STREAM)


def _ipc_stream(schema: pa.Schema, batches: Iterator[pa.RecordBatch], limit: int | None) -> Iterator[bytes]:
    """The batches as one Arrow IPC stream, a chunk per batch (never the whole answer in memory)."""
    import io

    import pyarrow as pa

    buffer = io.BytesIO()

    def drain() -> bytes:
        data = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate(0)
        return data

    writer = pa.ipc.new_stream(buffer, schema)
    left = limit
    for batch in batches:
        if left is not None:
            if left <= 0:
                break
            batch = batch.slice(0, left)  # noqa: PLW2901
            left -= batch.num_rows
        writer.write_batch(batch)
        yield drain()
    writer.close()
    yield drain()
