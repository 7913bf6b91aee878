"""pandas DataFrames and pyarrow Tables as parquet (pyarrow imported only when one is stored).

pandas keeps its index (a RangeIndex as metadata, any other index as columns) and its dtypes through
the pandas metadata pyarrow writes into the schema; ``meta["python_type"]`` says which type to return.
"""

from __future__ import annotations

from typing import Any

from shipyard.artifacts.cas import BlobWriter
from shipyard.artifacts.serializers.base import BlobSource, Dumped, Fallthrough, Serializer, loaded_module

PANDAS = "pandas.DataFrame"
ARROW = "pyarrow.Table"


class ParquetSerializer(Serializer):
    name = "parquet"

    def accepts(self, obj: object) -> bool:
        pd = loaded_module("pandas")
        pa = loaded_module("pyarrow")
        return (pd is not None and type(obj) is pd.DataFrame) or (pa is not None and type(obj) is pa.Table)

    def dump(self, obj: Any, out: BlobWriter) -> Dumped:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if isinstance(obj, pa.Table):
            table, python_type = obj, ARROW
        else:
            columns = list(obj.columns)
            if not all(type(c) is str for c in columns) or len(set(columns)) != len(columns):
                raise Fallthrough("parquet needs unique string column names")
            try:
                table, python_type = pa.Table.from_pandas(obj, preserve_index=None), PANDAS
            except (pa.ArrowException, TypeError, ValueError) as exc:
                raise Fallthrough(f"pyarrow cannot convert this DataFrame: {exc}") from exc
        try:
            pq.write_table(table, out)
        except (pa.ArrowException, TypeError, ValueError) as exc:
            raise Fallthrough(f"pyarrow cannot write this table as parquet: {exc}") from exc
        meta = {
            "python_type": python_type,
            "num_rows": table.num_rows,
            "columns": [str(name) for name in table.column_names],
        }
        return Dumped(meta)

    def load(self, blob: BlobSource, meta: dict[str, Any], *, allow_unsafe: bool) -> Any:
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pq.read_table(pa.BufferReader(blob.read_bytes()))
        if meta.get("python_type") == PANDAS:
            return table.to_pandas()
        return table
