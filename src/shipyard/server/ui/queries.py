"""The runs list as a query: form fields -> one ``search_runs`` call for one page (never all runs).

The flow, namespace and status fields map to ``search_runs`` arguments; the tag field (``key=value``)
and the free filter string are combined into one filter-language expression, with the tag's key and
value quoted the way :mod:`shipyard.metadata.filters` reads them, so user text never changes the
expression's structure.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from urllib.parse import urlencode

from shipyard.core.entities import Run, RunStatus
from shipyard.core.errors import InvalidInputError
from shipyard.metadata.base import MetadataStore

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
MAX_METRIC_COLUMNS = 6
_SIMPLE_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z_][A-Za-z0-9_-]*)*$")
#: sort orders offered; "newest" is the store's default order (start_time DESC, id DESC), which an
#: index serves directly; an explicit order_by adds a NULLS-LAST term that makes SQLite sort
ORDERS: dict[str, tuple[str, ...]] = {
    "newest": (),
    "oldest": ("start_time ASC",),
    "name": ("name ASC",),
}


def quote_key(key: str) -> str:
    """A filter-language key: as is when simple, else in double quotes (inner quotes doubled)."""
    if _SIMPLE_KEY.match(key):
        return key
    return '"' + key.replace('"', '""') + '"'


def quote_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _int(raw: str | None, default: int, *, lo: int, hi: int, name: str) -> int:
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidInputError(f"{name} must be a whole number, got {raw!r}") from None
    if not lo <= value <= hi:
        raise InvalidInputError(f"{name} must be between {lo} and {hi}, got {value}")
    return value


@dataclass(frozen=True)
class RunsQuery:
    flow: str = ""
    namespace: str = ""
    tag: str = ""  # "key=value" (or just "key" for "has this tag")
    status: str = ""
    filter: str = ""
    order: str = "newest"
    offset: int = 0
    limit: int = DEFAULT_LIMIT

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> RunsQuery:
        status = params.get("status", "").strip()
        if status and status not in {s.value for s in RunStatus}:
            raise InvalidInputError(
                f"unknown status {status!r}; use one of {', '.join(s.value for s in RunStatus)}"
            )
        order = params.get("order", "newest") or "newest"
        if order not in ORDERS:
            raise InvalidInputError(f"unknown order {order!r}; use one of {', '.join(ORDERS)}")
        return cls(
            flow=params.get("flow", "").strip(),
            namespace=params.get("namespace", "").strip(),
            tag=params.get("tag", "").strip(),
            status=status,
            filter=params.get("filter", "").strip(),
            order=order,
            offset=_int(params.get("offset"), 0, lo=0, hi=10**9, name="offset"),
            limit=_int(params.get("limit"), DEFAULT_LIMIT, lo=1, hi=MAX_LIMIT, name="limit"),
        )

    def filter_expression(self) -> str | None:
        parts = []
        if self.filter:
            parts.append(f"({self.filter})")
        if self.tag:
            key, sep, value = self.tag.partition("=")
            key = key.strip()
            if not key:
                raise InvalidInputError("the tag field takes key=value (or key), e.g. team=vision")
            if sep:
                parts.append(f"tags.{quote_key(key)} = {quote_string(value.strip())}")
            else:
                parts.append(f"tags.{quote_key(key)} LIKE '%'")
        return " AND ".join(parts) or None

    def url(self, **changes: object) -> str:
        """The list page's query string with some fields changed (empty fields left out)."""
        query = replace(self, **changes)  # type: ignore[arg-type]
        fields = {
            "flow": query.flow,
            "namespace": query.namespace,
            "tag": query.tag,
            "status": query.status,
            "filter": query.filter,
            "order": query.order if query.order != "newest" else "",
            "offset": str(query.offset) if query.offset else "",
            "limit": str(query.limit) if query.limit != DEFAULT_LIMIT else "",
        }
        return "?" + urlencode({k: v for k, v in fields.items() if v})


@dataclass(frozen=True)
class RunsPage:
    query: RunsQuery
    runs: list[Run]
    metric_keys: list[str]
    next_offset: int | None
    prev_offset: int | None
    total: int | None  # None when counting would be slow (filters on metrics, params, tags)

    @property
    def first(self) -> int:
        return self.query.offset + 1 if self.runs else 0

    @property
    def last(self) -> int:
        return self.query.offset + len(self.runs)


def load_runs_page(metadata: MetadataStore, query: RunsQuery, hidden: Sequence[str] = ()) -> RunsPage:
    """One page of runs plus the number of matches (a COUNT query, not a scan of the runs); runs of
    the ``hidden`` (private) projects are left out of both."""
    namespaces = [query.namespace] if query.namespace else None
    statuses = [RunStatus(query.status)] if query.status else None
    flow = query.flow or None
    expression = query.filter_expression()
    page = metadata.search_runs(
        namespaces=namespaces,
        filter=expression,
        order_by=ORDERS[query.order],
        max_results=query.limit,
        offset=query.offset,
        flow_name=flow,
        statuses=statuses,
        hidden_projects=hidden,
    )
    total: int | None
    if page.next_offset is None and page.total is not None:
        total = page.total
    elif expression is None:  # attribute conditions only: an indexed COUNT
        total = metadata.count_runs(
            namespaces=namespaces, flow_name=flow, statuses=statuses, hidden_projects=hidden
        )
    else:  # counting every match of a metric/param/tag filter scans them all: skip it
        total = None
    keys: dict[str, None] = {}
    for run in page.runs:
        for key in sorted(run.metrics):
            keys.setdefault(key)
    prev = max(query.offset - query.limit, 0) if query.offset > 0 else None
    return RunsPage(
        query=query,
        runs=page.runs,
        metric_keys=list(keys)[:MAX_METRIC_COLUMNS],
        next_offset=page.next_offset,
        prev_offset=prev,
        total=total,
    )
