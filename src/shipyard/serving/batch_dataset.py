"""A dataset version as the input of batch inference (``shipyard batch MODEL datasets:/tx/3 OUT``).

The version (``datasets:/NAME/N``, ``@ALIAS`` or ``/latest``; resolved once, so a resumed job reads
the same version or is refused) is streamed through the dataset service with the data policies of
the reader applied, exactly as ``load_dataset`` would answer it (locally, or by the server's data
route): hidden columns are absent, masked ones masked, rows outside a row filter never read. Then:

- ``--keep`` naming a hidden column is refused (``refuse_hidden``), and kept masked columns come out
  masked — the output holds nothing the reader could not load;
- a model input column that is hidden or masked for the reader is refused: scoring on values the
  reader may not see would publish a function of them.

Inside a run the version is recorded as the run's input, as ``load_dataset`` does.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from shipyard.core.errors import PermissionDeniedError
from shipyard.data.uri import SCHEME

if TYPE_CHECKING:
    import pyarrow as pa

    from shipyard.data.service import DatasetService
    from shipyard.metadata.datasets import DatasetVersion
    from shipyard.tracking.stores import Stores


def is_dataset_uri(text: str) -> bool:
    return text.startswith(SCHEME)


@dataclass(frozen=True)
class DatasetInput:
    service: DatasetService
    version: DatasetVersion
    columns: list[str]  # what the reader sees, in order
    total: int | None  # None under a row filter (known once read)

    @property
    def uri(self) -> str:
        return self.version.uri

    def batches(self, chunk_rows: int, read: Sequence[str] | None) -> Iterator[pa.RecordBatch]:
        """The rows as the reader may see them, ``read`` columns (None: all it sees)."""
        return self.service.iter_batches(self.version, columns=read, batch_size=chunk_rows)


def open_dataset_input(
    uri: str, inputs: Sequence[str], keep: Sequence[str] | None, stores: Stores | None
) -> DatasetInput:
    """Resolve ``uri`` for the reader of ``stores``; refuse a kept column that is hidden and a model
    input (``inputs``) that is hidden or masked."""
    from shipyard.data.api import get_datasets
    from shipyard.security.data_policy import refuse_hidden
    from shipyard.tracking.fluent import active_run

    run = active_run()
    service = get_datasets(stores or (run.client.stores if run is not None else None))
    version = service.resolve(uri)
    decision = service.decision(version)
    refuse_hidden(decision, selected=keep or (), what=version.uri)
    guarded = sorted(set(inputs) & (decision.hidden | decision.masked.keys()))
    if guarded:
        raise PermissionDeniedError(
            f"model input column(s) {', '.join(guarded)} of {version.uri} are hidden or masked from you "
            "by a data policy: the model cannot score on values you may not see"
        )
    columns = [str(c["name"]) for c in version.columns if str(c["name"]) not in decision.hidden]
    total = version.num_rows if decision.row_filter is None else None
    if run is not None:
        service.record_use(version, run.id, run.task_id, "input")
    return DatasetInput(service, version, columns, total)
