"""Request bodies as Pydantic models built from a model's signature, and their parsing.

Accepted bodies (JSON only)::

    [{"f0": 1.0, "f1": 2.0}, ...]                 # records
    {"records": [{"f0": 1.0, "f1": 2.0}, ...]}    # records, wrapped
    {"columns": {"f0": [1.0, ...], "f1": [...]}}  # columns (equal lengths)

Types are strict: a float column takes JSON numbers (integers too) of magnitude at most
:data:`FLOAT_BOUNDS` (below), never strings or booleans; an integer column takes integers in
range; a bool column takes ``true``/``false``; a string column takes strings; a datetime column
takes ISO 8601 strings. Every column is required and no other column is allowed. Errors name the
column: ``column 'f3': Field required``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

from shipyard.core.errors import InvalidInputError

if TYPE_CHECKING:
    from pydantic import BaseModel, TypeAdapter

    from shipyard.registry.signature import ColumnSpec, Signature

_INT_RANGES = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}

# The largest magnitude a float column takes: 2^511 for float64, 2^63 for float32 (both exact).
# Models compute with products of their inputs (dot products with weights, squared distances,
# variances, polynomial features); at these bounds the square of any input, and the sum of two
# squares, stays finite in the column's own dtype, so second-order arithmetic cannot overflow.
# Anything larger is no measurement but an overflow waiting to happen (-5e295 made a model answer
# 500), so it is refused with a 422 naming the column, and the OpenAPI document states the bound.
# What a model still cannot compute (its output is not finite, or it raises an overflow) is caught
# after the call: serving/finite.py.
FLOAT_BOUNDS = {"float64": float(2**511), "float32": float(2**63)}


def _python_type(col: ColumnSpec) -> Any:
    from pydantic import Field, StrictBool, StrictFloat, StrictInt, StrictStr

    if col.shape:
        return list[Any]
    if col.type == "bool":
        return StrictBool
    if col.type in _INT_RANGES:
        low, high = _INT_RANGES[col.type]
        return Annotated[StrictInt, Field(ge=low, le=high)]
    if col.type in FLOAT_BOUNDS:
        bound = FLOAT_BOUNDS[col.type]
        return Annotated[StrictFloat, Field(ge=-bound, le=bound)]
    if col.type == "datetime":
        return datetime
    return StrictStr


@dataclass
class RequestModels:
    """The Pydantic models of one signature (``Row``, ``RecordsBody``, ``ColumnsBody``)."""

    names: list[str]
    fields: list[str]  # python-safe field names, aliased to the column names
    row: type[BaseModel]
    body: TypeAdapter[Any]
    records: TypeAdapter[Any]
    columns: TypeAdapter[Any]
    documented: TypeAdapter[Any]  # the records forms: see openapi()

    def openapi(self, example: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
        """The request-body JSON schema (refs into components) and the component schemas.

        It states the records forms only: the columns form's rule that every column has the same
        length is one JSON Schema cannot express, so a schema listing it would promise bodies that
        the service refuses. The columns form is still accepted, and described in the operation's
        text."""
        schema = self.documented.json_schema(ref_template="#/components/schemas/{model}", mode="validation")
        defs = schema.pop("$defs", {})
        if example:
            schema["example"] = example
        return schema, defs


def build_models(sig: Signature, title: str = "Model") -> RequestModels:
    from pydantic import ConfigDict, Field, TypeAdapter, create_model

    if not sig.inputs:
        raise InvalidInputError("the model has no input signature; log it with an input_example to serve it")
    strict = ConfigDict(extra="forbid", populate_by_name=False)
    fields = [f"c{i}" for i in range(len(sig.inputs))]
    safe = "".join(ch for ch in title if ch.isalnum()) or "Model"
    row_fields: dict[str, Any] = {
        f: (_python_type(c), Field(alias=c.name)) for f, c in zip(fields, sig.inputs, strict=True)
    }
    row = create_model(f"{safe}Row", __config__=strict, **row_fields)
    col_fields: dict[str, Any] = {
        f: (list[_python_type(c)], Field(alias=c.name, min_length=1))  # type: ignore[misc]
        for f, c in zip(fields, sig.inputs, strict=True)
    }
    columns = create_model(f"{safe}Columns", __config__=strict, **col_fields)
    records_list = Annotated[list[row], Field(min_length=1)]
    records_body = create_model(f"{safe}RecordsBody", __config__=strict, records=(records_list, ...))
    columns_body = create_model(f"{safe}ColumnsBody", __config__=strict, columns=(columns, ...))
    body = TypeAdapter(records_list | records_body | columns_body)
    documented = TypeAdapter(records_list | records_body)
    return RequestModels(
        sig.column_names, fields, row, body, TypeAdapter(records_list), TypeAdapter(columns), documented
    )


def _message(exc: Any, names: Sequence[str]) -> str:
    missing: dict[str, None] = {}
    extra: dict[str, None] = {}
    parts = []
    for err in exc.errors():
        loc = list(err.get("loc", ()))
        column = next((p for p in loc if isinstance(p, str) and p in names), None)
        rows = [p for p in loc if isinstance(p, int)]
        where = f" (row {rows[0]})" if rows else ""
        if err.get("type") == "extra_forbidden" and loc:
            extra[f"{loc[-1]!r}{where}"] = None
        elif err.get("type") == "missing" and column is not None:
            missing[f"{column!r}{where}"] = None
        elif column is not None and err.get("type") in ("less_than_equal", "greater_than_equal"):
            ctx = err.get("ctx", {})
            bound = f"at most {ctx['le']:.6g}" if "le" in ctx else f"at least {ctx.get('ge', 0):.6g}"
            value = err.get("input")
            parts.append(f"column {column!r}{where}: {value!r} is out of the range the model takes ({bound})")
        elif column is not None:
            parts.append(f"column {column!r}{where}: {err.get('msg', 'invalid')}")
        else:
            parts.append(f"{'.'.join(str(p) for p in loc) or 'body'}: {err.get('msg', 'invalid')}")
    if extra:
        shown = ", ".join(list(extra)[:5])
        parts.insert(0, f"unexpected column {shown}: the model takes only {list(names)}")
    if missing:
        shown = ", ".join(list(missing)[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        parts.insert(0, f"missing column {shown}")
    return "; ".join(list(dict.fromkeys(parts))[:5])


def parse_body(models: RequestModels, raw: bytes) -> tuple[dict[str, list[Any]], int]:
    """Validate a JSON body; the rows as columns (signature order) and the row count."""
    import orjson
    from pydantic import ValidationError

    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidInputError(f"the body is not valid JSON ({exc})") from None
    if isinstance(data, dict) and len(data) == 1 and "records" in data:
        data = data["records"]
    try:
        if isinstance(data, list):
            models.records.validate_python(data)
            # validated: the raw JSON values are of the right types (datetimes still strings)
            return {n: [r[n] for r in data] for n in models.names}, len(data)
        if isinstance(data, dict) and len(data) == 1 and "columns" in data:
            cols = models.columns.validate_python(data["columns"])
        else:
            raise InvalidInputError(
                'the body must be a list of records, {"records": [...]} or {"columns": {...}}'
            )
    except ValidationError as exc:
        raise InvalidInputError(_message(exc, models.names)) from None
    out = {n: list(getattr(cols, f)) for n, f in zip(models.names, models.fields, strict=True)}
    lengths = {len(v) for v in out.values()}
    if len(lengths) > 1:
        raise InvalidInputError(f"columns must have equal lengths, got lengths {sorted(lengths)}")
    return out, lengths.pop()


def zero_row(sig: Signature) -> dict[str, Any]:
    """A row of zero values (warm-up when a package has no input example)."""
    zeros: dict[str, Any] = {"bool": False, "string": "", "datetime": "1970-01-01T00:00:00"}
    return {c.name: zeros.get(c.type, 0) for c in sig.inputs}


_PLACEHOLDERS: dict[str, Any] = {
    "bool": False,
    "int32": 0,
    "int64": 0,
    "float32": 0.0,
    "float64": 0.0,
    "datetime": "2024-01-01T00:00:00",
}
_MAX_EXAMPLE_VALUES = 1024  # per shaped column; larger shapes show one value per dimension


def example_row(sig: Signature) -> dict[str, Any]:
    """A request row made from the signature's types alone, for the OpenAPI document: zeros,
    ``false``, a fixed date and the word ``"string"``, never values of the package's input example
    (training data, category names included)."""
    import math

    row: dict[str, Any] = {}
    for col in sig.inputs:
        value: Any = _PLACEHOLDERS.get(col.type, "string")
        dims = [d if d > 0 else 1 for d in col.shape]
        if math.prod(dims) > _MAX_EXAMPLE_VALUES:
            dims = [1] * len(dims)
        for dim in reversed(dims):
            value = [value] * dim
        row[col.name] = value
    return row
