"""The SDK functions, re-exported as ``shipyard.log_dataset`` and ``shipyard.load_dataset``::

    v = shipyard.log_dataset("transactions", frame, column_tags={"email": ["pii"]})
    v.uri                                            # 'datasets:/transactions/1'
    df = shipyard.load_dataset("datasets:/transactions@training", columns=["amount"],
                               where="amount > 100")
    for batch in shipyard.load_dataset("transactions", stream=True): ...

Inside ``with shipyard.start_run():`` or a flow step, logging records the version as an output of
the run (and task), loading records it as an input.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from shipyard.data.service import DatasetService
from shipyard.metadata.datasets import DatasetVersion
from shipyard.tracking.stores import Stores


def get_datasets(stores: Stores | None = None) -> DatasetService:
    """A :class:`DatasetService` over ``stores`` (default: the process's stores)."""
    if stores is None:
        from shipyard.tracking.fluent import get_stores

        stores = get_stores()
    return DatasetService(stores)


def _active() -> tuple[str | None, str | None, Stores | None]:
    from shipyard.tracking.fluent import active_run

    run = active_run()
    return (None, None, None) if run is None else (run.id, run.task_id, run.client.stores)


def log_dataset(
    name: str,
    data: Any,
    *,
    description: str = "",
    column_tags: Mapping[str, Sequence[str]] | None = None,
    project: str | None = None,
    stores: Stores | None = None,
    durable: bool = False,
) -> DatasetVersion:
    """Snapshot ``data`` (a DataFrame, an Arrow table, a Parquet/CSV file, a folder or an
    ``s3://`` prefix) as the next version of dataset ``name``; unchanged files are not rewritten.
    ``durable``: wait until large files are on the disk (fsync) before recording the version."""
    run_id, task_id, run_stores = _active()
    service = get_datasets(stores or run_stores)
    result = service.snapshot(
        name,
        data,
        description=description,
        column_tags=column_tags,
        run_id=run_id,
        task_id=task_id,
        project=project,
        durable=durable,
    )
    return result.version


def load_dataset(
    uri: str,
    *,
    columns: Sequence[str] | None = None,
    where: str | None = None,
    output: str | None = None,
    stream: bool = False,
    batch_size: int = 65_536,
    dest: str | Path | None = None,
    stores: Stores | None = None,
) -> Any:
    """Load ``datasets:/NAME/VERSION`` (or ``@ALIAS``, ``/latest``, or just ``NAME``).

    Tables load as a pandas DataFrame (``output="arrow"``: a pyarrow Table), folders as a local
    folder (``output="path"``; ``dest`` picks it). ``columns`` selects columns, ``where`` filters
    rows (``"amount > 100 and country in ('DE', 'FR')"``), ``stream=True`` returns an iterator of
    record batches that fetches one file at a time. Every file is verified against its digest.
    """
    run_id, task_id, run_stores = _active()
    service = get_datasets(stores or run_stores)
    version = service.resolve(uri)
    if run_id is not None:
        service.record_use(version, run_id, task_id, "input")
    if stream:
        return service.iter_batches(version, columns=columns, where=where, batch_size=batch_size)
    return service.load(
        version, columns=columns, where=where, output=output, dest=None if dest is None else Path(dest)
    )
